"""Statistics: what each audit record does to the aggregates (pure), and the real pipeline on
the local cloud: audit records written to the table reach the stats function through the
table's stream, and `GET /stats/applications`' table adds them up.

The applications here are records written straight to the table, submitted on days of their
own (around National Day 2026, and in 2025), so no other test's application is in their cells.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.support.data import PERMIT
from tests.support.polling import eventually
from yiwang.calendar.workdays import SHANGHAI
from yiwang.stats.aggregates import Change, Counted, Event, change_of, row

SUBMITTED = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)  # Wednesday before National Day
AT = datetime(2026, 9, 30, 11, 0, tzinfo=SHANGHAI)


def event(**fields: Any) -> Event:
    return Event(key=uuid.uuid4().hex, application_id="A", at=AT, **fields)


# --- pure: the effect of one event -----------------------------------------------------------


def test_submission_counts_the_application_in_its_first_status() -> None:
    change = change_of(Counted(None), event(to_status="SUBMITTED"))
    assert change == Change("SUBMITTED", cells={"SUBMITTED": {"count": 1}})


def test_a_transition_moves_the_application_and_its_cards() -> None:
    change = change_of(Counted("IN_REVIEW", yellow=1, red=1), event(to_status="REJECTED"))
    assert change.status == "REJECTED"
    assert change.cells == {"IN_REVIEW": {"count": -1, "yellow": -1, "red": -1},
                            "REJECTED": {"count": 1, "yellow": 1, "red": 1}}


def test_completion_adds_working_days_and_whether_it_was_on_time() -> None:
    change = change_of(Counted("DELIVERED"), event(to_status="COMPLETED"), working_days=3,
                       on_time=False)
    assert change.cells["COMPLETED"] == {"count": 1, "completed": 1, "workingDays": 3}
    assert change.cells["DELIVERED"] == {"count": -1}


def test_a_card_counts_where_the_application_is_or_waits_for_its_first_status() -> None:
    assert change_of(Counted("IN_REVIEW"), event(card="RED")).cells == {
        "IN_REVIEW": {"red": 1}}
    early = change_of(Counted(None), event(card="YELLOW"))
    assert (early.yellow, early.cells) == (1, {})
    first = change_of(Counted(None, yellow=1), event(to_status="SUBMITTED"))
    assert first.cells == {"SUBMITTED": {"count": 1, "yellow": 1}}


def test_ratings_count_with_the_completed_and_an_invalid_one_is_taken_out() -> None:
    assert change_of(Counted("COMPLETED"), event(rating=5)).cells == {
        "COMPLETED": {"ratings": 1, "ratingSum": 5, "satisfied": 1}}
    assert change_of(Counted(None), event(rating=2)).cells == {
        "COMPLETED": {"ratings": 1, "ratingSum": 2, "bad": 1}}
    assert change_of(Counted("COMPLETED"), event(rating=-1)).cells == {
        "COMPLETED": {"ratings": -1, "ratingSum": -1, "bad": -1}}


def test_a_repeated_status_changes_nothing() -> None:
    assert change_of(Counted("IN_REVIEW"), event(to_status="IN_REVIEW")).cells == {}


def test_which_audit_records_count() -> None:
    from yiwang.stats.aggregates import event_of
    from yiwang.table.records import AuditRecord

    def seen(pk: str, name: str, before: str | None = None, after: str | None = None,
             **detail: Any) -> Event | None:
        return event_of(AuditRecord(pk, "AUDIT#t#1", at=AT, actor="x", event=name,
                                    from_status=before, to_status=after, detail=detail or None))

    assert seen("APP#A", "SUBMITTED", "DRAFT", "SUBMITTED").to_status == "SUBMITTED"
    assert seen("APP#A", "DRAFT_CREATED", None, "DRAFT") is None  # drafts are not counted
    assert seen("APP#A", "APPROVED", "IN_REVIEW", "IN_REVIEW") is None
    assert seen("APP#A", "REVIEW_APPROVE") is None
    red = seen("APP#A#CLOCKS", "RED_CARD", clock="REVIEW#GZ-ZJ")
    assert (red.application_id, red.card) == ("A", "RED")
    assert seen("RATING#A#CLOCKS", "YELLOW_CARD").application_id == "A"  # its application
    assert seen("APP#A#CLOCKS", "CLOCK_STARTED", None, "RUNNING") is None
    assert seen("COMPLAINT#C#CLOCKS", "RED_CARD") is None
    assert seen("RATING#A", "RATED", None, "VERIFYING", level=2).rating == 2
    assert seen("RATING#A", "INVALIDATED", "INVALIDATION_REQUESTED", "INVALID",
                level=2).rating == -2
    assert seen("RATING#A", "RECTIFIED", "RECTIFYING", "CLOSED") is None


def test_rates_are_left_empty_when_nothing_was_completed_or_rated() -> None:
    counters = dict.fromkeys(("count", "completed", "workingDays", "onTime", "ratings",
                              "ratingSum", "satisfied", "bad", "yellow", "red"), 0)
    assert row("X", None, {**counters, "count": 2}) == {
        "group": "X", "label": None, "count": 2, "completed": 0, "averageWorkingDays": None,
        "onTimeRate": None, "ratings": 0, "averageRating": None, "satisfiedRate": None,
        "badReviews": 0, "yellowCards": 0, "redCards": 0}


# --- the pipeline on the local cloud ---------------------------------------------------------


def application(submitted: datetime, item_code: str = PERMIT) -> str:
    """A submitted application record (no workflow runs for it)."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item

    identifier = f"YWTEST{uuid.uuid4().hex[:12].upper()}"
    ApplicationRecord(ApplicationRecord.key(identifier), "META", application_id=identifier,
                      status="DRAFT", item_code=item_code,
                      item_version=get_item(item_code).version, owner_sub="citizen-stats",
                      submitted_at=submitted, created_at=submitted,
                      gsi1pk="APPLICANT#stats", gsi1sk=submitted.isoformat()).save()
    return identifier


def audit(pk: str, at: datetime, event_name: str, from_status: str | None = None,
          to_status: str | None = None, **detail: Any) -> Any:
    """An audit record as the domain writes it, at a time of the test's choosing."""
    from yiwang.table.records import AuditRecord

    record = AuditRecord(pk, f"AUDIT#{at.isoformat()}#{uuid.uuid4().hex[:8]}", at=at,
                         actor="test", event=event_name, from_status=from_status,
                         to_status=to_status, detail=detail or None)
    record.save()
    return record


def walk(identifier: str, at: datetime, *statuses: str) -> datetime:
    """Transitions through `statuses`, an hour apart from `at`; returns the last time."""
    previous = "DRAFT"
    for status in statuses:
        audit(f"APP#{identifier}", at, status, previous, status)
        previous, at = status, at + timedelta(hours=1)
    return at - timedelta(hours=1)


def table_of(group_by: str, day: date, **filters: str) -> dict[str, Any]:
    from yiwang.stats.aggregates import Query, summary

    return summary(Query(group_by, day, day, filters.get("department"), filters.get("item")))


def groups(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["group"]: g for g in table["groups"]}


def test_audit_records_reach_the_statistics_through_the_stream(table: None) -> None:
    from yiwang.deadlines.clocks import CardRecord

    early, late, refused = (application(SUBMITTED) for _ in range(3))
    walk(early, SUBMITTED, "SUBMITTED", "ACCEPTED", "IN_REVIEW", "CERTIFICATE_ISSUED",
         "READY_FOR_PICKUP")
    # Completed on Fri 9 Oct: 2 working days after Wed 30 Sep (1-7 Oct are holidays).
    audit(f"APP#{early}", datetime(2026, 10, 9, 16, 0, tzinfo=SHANGHAI), "COLLECTED",
          "READY_FOR_PICKUP", "COMPLETED")
    walk(late, SUBMITTED, "SUBMITTED", "ACCEPTED", "IN_REVIEW")
    # The review ran late: a red card on its clock (the card, then its audit, as the sweep
    # writes them), then completion on Sat 10 Oct, an adjusted working day: 3 working days.
    CardRecord(f"APP#{late}", "CARD#REVIEW#GZ-ZRZY#RED", level="RED", clock="REVIEW#GZ-ZRZY",
               kind="REVIEW", subject=late, department="GZ-ZRZY", step="审批",
               deadline=SUBMITTED, raised_at=SUBMITTED, gsi1pk="CARDS#RED#CLOSED",
               gsi1sk=SUBMITTED.isoformat()).save()
    audit(f"APP#{late}#CLOCKS", SUBMITTED + timedelta(days=5), "RED_CARD",
          clock="REVIEW#GZ-ZRZY", department="GZ-ZRZY")
    audit(f"APP#{late}", datetime(2026, 10, 10, 9, 0, tzinfo=SHANGHAI), "COMPLETED",
          "IN_REVIEW", "COMPLETED")
    walk(refused, SUBMITTED, "SUBMITTED", "ACCEPTED", "IN_REVIEW", "REJECTED")
    audit(f"RATING#{early}", AT, "RATED", None, "RECORDED", level=5, applicationId=early)
    audit(f"RATING#{late}", AT, "RATED", None, "VERIFYING", level=2, applicationId=late)

    day = SUBMITTED.date()
    expected = {"count": 3, "completed": 2, "averageWorkingDays": 2.5, "onTimeRate": 0.5,
                "ratings": 2, "averageRating": 3.5, "satisfiedRate": 0.5, "badReviews": 1,
                "yellowCards": 0, "redCards": 1}
    department = eventually(lambda: (t := groups(table_of("department", day)).get("GZ-ZRZY"))
                            and {k: t[k] for k in expected} == expected and t)
    assert department["label"] is None
    by_item = groups(table_of("item", day))[PERMIT]
    assert {k: by_item[k] for k in expected} == expected
    assert by_item["label"] == "建设工程规划许可证核发"
    by_status = groups(table_of("status", day))
    assert {s: g["count"] for s, g in by_status.items()} == {"COMPLETED": 2, "REJECTED": 1}
    assert by_status["COMPLETED"]["redCards"] == 1 and by_status["COMPLETED"]["label"] == "已办结"
    assert table_of("status", day)["total"]["count"] == 3

    # 无效差评: the administrators' ruling takes the bad review out of the satisfaction.
    audit(f"RATING#{late}", AT + timedelta(days=3), "INVALIDATED", "INVALIDATION_REQUESTED",
          "INVALID", level=2, applicationId=late)
    eventually(lambda: groups(table_of("department", day))["GZ-ZRZY"]["ratings"] == 1)
    after = groups(table_of("department", day))["GZ-ZRZY"]
    assert (after["averageRating"], after["satisfiedRate"], after["badReviews"]) == (5.0, 1.0, 0)


def test_a_redelivered_record_counts_once(table: None) -> None:
    from yiwang.stats import aggregates as stats

    identifier = application(datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI))
    submitted = audit(f"APP#{identifier}", datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI),
                      "SUBMITTED", "DRAFT", "SUBMITTED")
    day = date(2025, 3, 3)
    eventually(lambda: table_of("status", day)["total"]["count"] == 1)
    again = stats.event_of(submitted)
    assert again is not None and stats.apply(again) is False  # what Lambda's retry would do
    assert table_of("status", day)["total"]["count"] == 1


def test_a_redelivery_racing_the_first_delivery_counts_once(
        table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both deliveries read the state before either wrote: the second one's condition fails
    (`write_if`), it reads again, finds the record applied and counts nothing."""
    from yiwang.stats import aggregates as stats

    identifier = application(datetime(2025, 3, 5, 9, 0, tzinfo=SHANGHAI))
    first = stats.Event(f"APP#{identifier}|AUDIT#first", identifier, AT, to_status="SUBMITTED")
    assert stats.apply(first) is True
    stale = stats._state(identifier)
    assert stats.apply(stats.Event(f"APP#{identifier}|AUDIT#next", identifier, AT,
                                   to_status="IN_REVIEW")) is True
    reads = iter([stale])
    real_state = stats._state
    monkeypatch.setattr(stats, "_state", lambda i: next(reads, None) or real_state(i))
    redelivered = stats.Event(f"APP#{identifier}|AUDIT#next", identifier, AT,
                              to_status="IN_REVIEW")
    assert stats.apply(redelivered) is False
    day = date(2025, 3, 5)
    assert {g["group"]: g["count"] for g in table_of("status", day)["groups"]} == {
        "IN_REVIEW": 1}


def test_a_failure_other_than_a_lost_race_is_not_swallowed(
        table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from pynamodb.connection.base import VerboseClientError
    from pynamodb.exceptions import TransactWriteError

    from yiwang.stats import aggregates as stats

    identifier = application(datetime(2025, 3, 6, 9, 0, tzinfo=SHANGHAI))
    invalid = TransactWriteError("transaction failed", cause=VerboseClientError(
        {"Error": {"Code": "ValidationException", "Message": "bad"}}, "TransactWriteItems", {}))
    calls: list[int] = []

    def broken(state: Any, event: Any) -> None:
        calls.append(1)
        raise invalid

    monkeypatch.setattr(stats, "_write", broken)
    with pytest.raises(TransactWriteError):
        stats.apply(stats.Event(f"APP#{identifier}|AUDIT#x", identifier, AT,
                                to_status="SUBMITTED"))
    assert calls == [1]  # not retried: only a busy store or a lost race is


def test_a_card_that_arrives_before_the_submission_joins_it(table: None) -> None:
    """Records of different partitions may be delivered in any order."""
    from yiwang.stats import aggregates as stats

    submitted = datetime(2025, 3, 4, 9, 0, tzinfo=SHANGHAI)
    identifier = application(submitted)
    day = date(2025, 3, 4)
    card = stats.Event(f"APP#{identifier}#CLOCKS|AUDIT#card", identifier, submitted,
                       card="YELLOW")
    assert stats.apply(card) is True
    assert table_of("status", day)["groups"] == []  # not counted in a status yet
    first = stats.Event(f"APP#{identifier}|AUDIT#first", identifier, submitted,
                        to_status="SUBMITTED")
    assert stats.apply(first) is True
    [submitted_row] = table_of("status", day)["groups"]
    assert (submitted_row["group"], submitted_row["count"], submitted_row["yellowCards"]) == (
        "SUBMITTED", 1, 1)
    assert stats.apply(card) is False


def test_reviewers_see_their_department_and_periods_are_checked() -> None:
    from yiwang.people.access import Caller
    from yiwang.platform.errors import Forbidden, ValidationFailed
    from yiwang.stats.aggregates import query_of

    today = date(2026, 11, 23)
    reviewer = Caller("r", "reviewer", dept="GZ-GA")
    query = query_of(reviewer, {"groupBy": "status", "department": "GZ-ZRZY"}, today)
    assert (query.department, query.start, query.end) == ("GZ-GA", date(2026, 10, 25), today)
    supervisor = Caller("s", "supervisor")
    assert query_of(supervisor, {"from": "2026-01-01T00:30:00+08:00", "to": "2026-01-31"},
                    today).start == date(2026, 1, 1)
    with pytest.raises(Forbidden):
        query_of(Caller("c", "applicant"), {}, today)
    for bad in ({"groupBy": "colour"}, {"from": "2026-02-01", "to": "2026-01-01"},
                {"from": "2024-01-01", "to": "2026-01-01"}, {"from": "yesterday"}):
        with pytest.raises(ValidationFailed):
            query_of(supervisor, bad, today)


def test_downloads_carry_the_same_table() -> None:
    from openpyxl import load_workbook

    from yiwang.stats.aggregates import COLUMNS, to_csv, to_xlsx

    counters = {"count": 3, "completed": 2, "workingDays": 5, "onTime": 1, "ratings": 2,
                "ratingSum": 7, "satisfied": 1, "bad": 1, "yellow": 0, "red": 1}
    table = {"groupBy": "item", "from": "2026-09-30", "to": "2026-09-30",
             "groups": [row(PERMIT, "建设工程规划许可证核发", counters)],
             "total": row("TOTAL", "合计", counters)}
    rows = list(csv.reader(io.StringIO(to_csv(table).decode("utf-8-sig"))))
    assert rows[0] == list(COLUMNS)
    assert rows[1][:4] == [PERMIT, "建设工程规划许可证核发", "3", "2"]
    assert rows[1][4:8] == ["2.5", "0.5", "2", "3.5"]
    sheet = load_workbook(io.BytesIO(to_xlsx(table))).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == list(COLUMNS)
    assert values[1] == [PERMIT, "建设工程规划许可证核发", 3, 2, 2.5, 0.5, 2, 3.5, 0.5, 1, 0, 1]
    assert values[2][0] == "TOTAL"
