"""效能打分: the weights are validated configuration; a month's score is computed from known
cards, a late decision, an upheld complaint and bad reviews; an upheld appeal takes its finding
out.

The month is June 2027, which no other test touches: its cards and tasks are written straight
to the table (as the timeout check and the review step would), its complaint and ratings go
through their own steps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.data import CITIZEN_ID, PERMIT
from tests.support.fakes import FakeStepFunctions
from yiwang.calendar.workdays import SHANGHAI
from yiwang.people.access import Caller
from yiwang.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from yiwang.stats import scores

MONTH = "2027-06"
JUNE = datetime(2027, 6, 8, 10, 0, tzinfo=SHANGHAI)
FIRE, PLANNING = "GZ-XF", "GZ-ZRZY"
SUPERVISOR = Caller("supervisor-scores", "supervisor")
ADMIN = Caller("admin-scores", "admin")
CITIZEN = Caller("citizen-scores", "applicant", id_number=CITIZEN_ID)
FIRE_REVIEWER = Caller("reviewer-xf-scores", "reviewer", dept=FIRE)
PLANNER = Caller("reviewer-zrzy-scores", "reviewer", dept=PLANNING)
LATE_DECIDER, COMPLAINED_OF = "reviewer-xf-late", "reviewer-xf-rude"


# --- pure ----------------------------------------------------------------------------------


def test_the_shipped_weights_are_valid_and_bad_ones_are_refused() -> None:
    shipped = scores.weights()
    assert set(shipped.weights) == set(scores.KINDS) and shipped.base == 100
    good = {"base": 100, "floor": 0, "weights": dict.fromkeys(scores.KINDS, 1)}
    assert scores.parse_weights(good).weights["RED_CARD"] == 1
    for broken in ({**good, "weights": {**good["weights"], "RED_CARD": -1}},
                   {**good, "weights": {"RED_CARD": 1}},
                   {**good, "weights": {**good["weights"], "LATE_LUNCH": 1}},
                   {**good, "floor": 101}, {"base": "100"}):
        with pytest.raises(ValueError, match="performance weights"):
            scores.parse_weights(broken)


def test_a_tally_deducts_each_counted_finding_and_stops_at_the_floor() -> None:
    scale = scores.parse_weights({"base": 10, "floor": 2, "weights": {
        "YELLOW_CARD": 1, "RED_CARD": 3, "OVERDUE_STEP": 2, "UPHELD_COMPLAINT": 5,
        "BAD_REVIEW": 0.5}})

    def finding(kind: str, department: str, staff: str | None = None,
                appeal: str | None = None) -> scores.Finding:
        return scores.Finding(uuid.uuid4().hex, kind, department, "x", JUNE, staff, appeal)

    board = scores.tally([
        finding("YELLOW_CARD", "A", "a1"), finding("RED_CARD", "A", "a1", appeal="UPHELD"),
        finding("BAD_REVIEW", "A"), finding("OVERDUE_STEP", "A", "a2", appeal="DISMISSED"),
        finding("UPHELD_COMPLAINT", "B"), finding("UPHELD_COMPLAINT", "B"),
    ], {"A", "B", "C"}, scale)
    by_unit = {row["department"]: row for row in board["departments"]}
    assert (by_unit["A"]["score"], by_unit["A"]["deductions"]) == (6.5, 3.5)
    assert (by_unit["A"]["redCards"], by_unit["A"]["appealsUpheld"]) == (0, 1)
    assert by_unit["B"]["score"] == 2  # 10 - 10, but never below the floor
    assert by_unit["C"]["score"] == 10  # no findings: the whole base
    assert [row["department"] for row in board["departments"]] == ["B", "A", "C"]
    assert {(r["staff"], r["score"]) for r in board["staff"]} == {("a1", 9), ("a2", 8)}


def test_a_month_is_yyyy_mm() -> None:
    assert scores.parse_month("2027-06") == "2027-06"
    assert scores.parse_month(None, JUNE) == "2027-06"
    for wrong in ("2027-13", "2027-6", "1999-12", "June"):
        with pytest.raises(ValidationFailed):
            scores.parse_month(wrong)
    assert scores.month_bounds("2027-12")[1] == datetime(2028, 1, 1, tzinfo=SHANGHAI)


# --- on the deployed table -------------------------------------------------------------------


def _card(application: str, clock: str, level: str, raised: datetime,
          closed: datetime | None = None) -> None:
    from yiwang.deadlines import clocks

    clocks.CardRecord(
        f"APP#{application}", f"CARD#{clock}#{level}", level=level, clock=clock,
        kind="REVIEW", subject=application, department=FIRE, step="审批",
        deadline=raised + timedelta(days=1), raised_at=raised, closed_at=closed,
        gsi1pk=f"CARDS#{level}{'#CLOSED' if closed else ''}",
        gsi1sk=raised.astimezone(UTC).isoformat()).save()


def _late_task(application: str, decided: datetime) -> None:
    from yiwang.applications.tasks import TaskRecord

    task_id = f"{application}.REVIEW.1.{FIRE}"
    TaskRecord(f"APP#{application}", TaskRecord.sort_key(task_id), task_id=task_id,
               application_id=application, kind="REVIEW", department=FIRE, round=1,
               status="DECIDED", task_token="t", created_at=decided - timedelta(days=30),
               due_at=decided - timedelta(days=2), decision="APPROVE", decided_by=LATE_DECIDER,
               decided_at=decided, gsi1pk=f"DEPT#{FIRE}",
               gsi1sk=f"DECIDED#{decided.astimezone(UTC).isoformat()}").save()


def _concluded(status: str = "COMPLETED") -> str:
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item

    identifier = f"YWSCORE{uuid.uuid4().hex[:11].upper()}"
    ApplicationRecord(
        ApplicationRecord.key(identifier), "META", application_id=identifier, status=status,
        item_code=PERMIT, item_version=get_item(PERMIT).version, owner_sub=CITIZEN.sub,
        applicant={"kind": "PERSON", "name": "张伟", "phone": "13812345678"},
        submitted_at=JUNE - timedelta(days=20), created_at=JUNE - timedelta(days=20),
        gsi1pk=f"APPLICANT#{CITIZEN_ID}", gsi1sk=JUNE.isoformat()).save()
    return identifier


def _upheld_complaint() -> str:
    from yiwang.complaints import handling

    sfn = FakeStepFunctions()
    complaint = handling.register(CITIZEN, {
        "category": "COMPLAINT", "channel": "WEB", "subject": "消防验收窗口态度差",
        "content": "工作人员推诿", "contact": "13800138000", "department": FIRE}, sfn,
        "arn:aws:states:::stateMachine:c", now=JUNE)
    handling.accept(FIRE_REVIEWER, complaint.complaint_id, sfn, now=JUNE)
    handling.resolve(FIRE_REVIEWER, complaint.complaint_id,
                     {"result": "属实，已批评教育", "upheld": True, "staff": COMPLAINED_OF},
                     sfn, now=JUNE + timedelta(days=1))
    return complaint.complaint_id


def _bad_reviews() -> tuple[str, str]:
    from yiwang.ratings import reviews

    kept = reviews.rate(CITIZEN, _concluded("REJECTED"),
                        {"level": 1, "comment": "不予许可理由不清"}, now=JUNE).rating
    ruled_out = reviews.rate(CITIZEN, _concluded(), {"level": 2, "comment": "无关评价"},
                             now=JUNE).rating
    reviews.verify(PLANNER, ruled_out.rating_id, {"valid": False, "note": "与办件无关"}, now=JUNE)
    reviews.invalidate(ADMIN, ruled_out.rating_id, {"approve": True, "note": "复核通过"},
                       now=JUNE)
    return kept.rating_id, ruled_out.rating_id


def board(caller: Caller = SUPERVISOR) -> dict[str, Any]:
    from yiwang.stats import appeals

    return scores.scoreboard(caller, MONTH, appeals.of_month(MONTH))


def row_of(rows: list[dict[str, Any]], department: str,
           staff: str | None = None) -> dict[str, Any]:
    [found] = [r for r in rows if r["department"] == department and r["staff"] == staff]
    return found


def test_a_month_scored_from_known_findings_and_an_upheld_appeal(table: None) -> None:
    from yiwang.stats import appeals

    application = _concluded()
    _card(application, f"REVIEW-{FIRE}", "YELLOW", JUNE, closed=JUNE + timedelta(days=3))
    _card(application, f"ACCEPTANCE-{FIRE}", "YELLOW", JUNE + timedelta(days=5))
    _card(application, f"REVIEW-{FIRE}", "RED", JUNE + timedelta(days=2))
    _card(application, "ELSEWHEN", "RED", datetime(2027, 7, 1, 0, 0, tzinfo=SHANGHAI))  # July
    _late_task(application, JUNE + timedelta(days=4))
    complaint = _upheld_complaint()
    kept, ruled_out = _bad_reviews()

    scored = board()
    weights = scores.weights().weights
    fire = row_of(scored["departments"], FIRE)
    assert (fire["yellowCards"], fire["redCards"], fire["overdueSteps"],
            fire["upheldComplaints"]) == (2, 1, 1, 1)
    expected = (2 * weights["YELLOW_CARD"] + weights["RED_CARD"] + weights["OVERDUE_STEP"]
                + weights["UPHELD_COMPLAINT"])
    assert (fire["deductions"], fire["score"]) == (expected, 100 - expected)  # 12: 88
    # The cards and the late step are the staff member's who decided the step; the upheld
    # complaint the one the department named.
    late = row_of(scored["staff"], FIRE, LATE_DECIDER)
    assert late["score"] == 100 - (2 * weights["YELLOW_CARD"] + weights["RED_CARD"]
                                   + weights["OVERDUE_STEP"])
    assert row_of(scored["staff"], FIRE, COMPLAINED_OF)["upheldComplaints"] == 1
    planning = row_of(scored["departments"], PLANNING)
    assert (planning["badReviews"], planning["score"]) == (1, 100 - weights["BAD_REVIEW"])
    ids = {f["id"] for f in scored["findings"]}
    assert f"UPHELD_COMPLAINT#{complaint}" in ids and f"BAD_REVIEW#{kept}" in ids
    assert f"BAD_REVIEW#{ruled_out}" not in ids  # 无效差评 count for nothing
    assert {r["department"] for r in board(FIRE_REVIEWER)["departments"]} == {FIRE}
    with pytest.raises(Forbidden):
        board(CITIZEN)

    red = f"RED_CARD#APP#{application}#REVIEW-{FIRE}"
    body = {"month": MONTH, "itemId": red, "reason": "申请人补正期间不应计时"}
    with pytest.raises(NotFound):  # not the planning department's finding
        appeals.appeal(PLANNER, body)
    with pytest.raises(NotFound):
        appeals.appeal(FIRE_REVIEWER, {**body, "itemId": "RED_CARD#APP#NONE#X"})
    appealed = appeals.appeal(FIRE_REVIEWER, body)
    assert appealed.status == "PENDING"
    assert row_of(board()["departments"], FIRE)["score"] == 100 - expected  # pending: counts
    with pytest.raises(Conflict):
        appeals.appeal(FIRE_REVIEWER, body)
    with pytest.raises(Forbidden):
        appeals.decide(FIRE_REVIEWER, appealed.appeal_id, {"uphold": True})
    with pytest.raises(NotFound):  # a county's supervisor: not a city department's appeal
        appeals.decide(Caller("supervisor-tianhe", "supervisor", region="440106"),
                       appealed.appeal_id, {"uphold": True})
    upheld = appeals.decide(SUPERVISOR, appealed.appeal_id, {"uphold": True, "note": "属实"})
    assert upheld.status == "UPHELD"
    with pytest.raises(Conflict):
        appeals.decide(SUPERVISOR, appealed.appeal_id, {"uphold": False})
    after = board()
    fire = row_of(after["departments"], FIRE)
    assert (fire["redCards"], fire["appealsUpheld"]) == (0, 1)
    assert fire["score"] == 100 - expected + weights["RED_CARD"]
    [shown] = [f for f in after["findings"] if f["id"] == red]
    assert (shown["appeal"], shown["counted"]) == ("UPHELD", False)
    assert [e["event"] for e in appeals.present(upheld)["history"]] == [
        "SCORE_APPEALED", "SCORE_APPEAL_UPHELD"]
