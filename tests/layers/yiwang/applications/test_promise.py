"""承诺时限: the promise clock of the construction permit (promised 15, statutory 20 working days)
across a supplement, a payment wait and National Day 2026 (1-7 Oct holidays; Fri 25 Sep,
Mid-Autumn, a holiday; Sat 10 Oct an adjusted working day), on the deployed table, moved
through time by the `now` each step is given.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

import pytest

from tests.support.data import PERMIT
from tests.support.polling import eventually
from yiwang.calendar.workdays import SHANGHAI

ACCEPTED = datetime(2026, 9, 22, 10, 0, tzinfo=SHANGHAI)  # Tuesday
SECOND = timedelta(seconds=1)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


def end_of(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 23, 59, 59, tzinfo=SHANGHAI)


def test_the_promise_is_the_item_promise_never_above_the_statutory_limit() -> None:
    from yiwang.applications.promise import promised_days
    from yiwang.catalogue.items import ItemVersion

    item = ItemVersion.from_document({
        "code": "T-1", "name": "t", "category": "行政许可", "kind": "PROMISED",
        "leadDepartment": "GZ-A", "statutoryDays": 20, "promisedDays": 15, "feeFen": 0,
        "formSchema": {}, "materials": [], "legalBasis": "x", "applicantKinds": ["PERSON"],
        "deliveryMethods": ["PICKUP"]}, 1, "PUBLISHED")
    assert promised_days(item) == 15
    assert promised_days(dataclasses.replace(item, promised_days=30)) == 20
    assert promised_days(dataclasses.replace(item, statutory_days=0)) == 15  # none set
    assert promised_days(dataclasses.replace(item, kind="INSTANT", promised_days=0)) == 0


@pytest.fixture
def permit(table: None) -> str:
    """An accepted construction permit application (a record; no workflow runs for it)."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item

    identifier = f"YWPROMISE{uuid.uuid4().hex[:10].upper()}"
    ApplicationRecord(ApplicationRecord.key(identifier), "META", application_id=identifier,
                      status="ACCEPTED", item_code=PERMIT,
                      item_version=get_item(PERMIT).version, owner_sub="citizen-promise",
                      submitted_at=ACCEPTED - timedelta(days=1),
                      created_at=ACCEPTED - timedelta(days=1),
                      gsi1pk="APPLICANT#promise", gsi1sk=ACCEPTED.isoformat()).save()
    return identifier


def test_construction_permit_promise_across_supplement_payment_and_national_day(
        permit: str) -> None:
    from yiwang.applications import promise
    from yiwang.deadlines import clocks

    clock = promise.start(permit, ACCEPTED)
    # 15 working days after Tue 22 Sep: 23, 24, 28, 29, 30 Sep, 8, 9, 10 (调休), 12-16,
    # 19, 20 Oct.
    assert clock.deadline == end_of(10, 20)
    assert clock.department == "GZ-ZRZY" and clock.step == "承诺时限"
    assert promise.start(permit, ACCEPTED + timedelta(days=3)).deadline == clock.deadline

    # 补正 asked Thu 24 Sep: 2 working days used (23, 24), 13 kept while the applicant has it.
    held = promise.hold(permit, promise.SUPPLEMENT, at(9, 24, 15))
    assert held.status == clocks.PAUSED and int(held.remaining_days) == 13
    assert promise.summary(held, at(9, 27))["usedDays"] == 2
    # Supplied Tue 29 Sep: 13 days from there, across National Day: due Thu 22 Oct.
    resumed = promise.release(permit, promise.SUPPLEMENT, at(9, 29, 9))
    assert resumed.status == clocks.RUNNING and resumed.deadline == end_of(10, 22)
    # Approved Tue 13 Oct; the payment order opens: 30 Sep, 8, 9, 10, 12, 13 used since.
    paying = promise.hold(permit, promise.PAYMENT, at(10, 13, 16))
    assert int(paying.remaining_days) == 7
    assert promise.summary(paying, at(10, 15)) | {"promisedBy": None} == {
        "promisedBy": None, "promisedDays": 15, "usedDays": 8, "leftDays": 7,
        "status": "PAUSED", "heldFor": ["PAYMENT"], "cards": []}
    # A step's clock fits in what the promise has left once it runs again.
    assert promise.within(permit, 10, at(10, 15)) == 10  # held: nothing to fit into
    # Paid Mon 19 Oct: 7 days from there, due Wed 28 Oct.
    running = promise.release(permit, promise.PAYMENT, at(10, 19, 11))
    assert running.deadline == end_of(10, 28)
    assert promise.within(permit, 10, at(10, 19, 12)) == 7
    # The certificate is issued Tue 20 Oct: 17 working days after acceptance, 8 of them the
    # applicant's (supplement 28, 29 Sep; payment 14-16, 19 Oct): 9 used of 15, kept.
    promise.stop(permit, at(10, 20), "CERTIFICATE")
    done = promise.get(permit)
    assert done.status == clocks.STOPPED and promise.kept(done)
    shown = promise.summary(done, at(11, 2))
    assert (shown["usedDays"], shown["leftDays"], shown["status"]) == (9, 6, "STOPPED")
    events = [a.event for a in clocks.trail(f"APP#{permit}")]
    assert events == ["CLOCK_STARTED", "CLOCK_PAUSED", "CLOCK_RESUMED", "CLOCK_PAUSED",
                      "CLOCK_RESUMED", "CLOCK_STOPPED"]


def test_overlapping_holds_resume_only_when_the_last_is_released(permit: str) -> None:
    from yiwang.applications import promise
    from yiwang.deadlines import clocks

    promise.start(permit, ACCEPTED)
    promise.hold(permit, promise.LATER_MATERIAL, at(9, 23))
    promise.hold(permit, promise.PAYMENT, at(9, 24))
    assert promise.hold(permit, promise.PAYMENT, at(9, 24)).holds == {"LATER_MATERIAL",
                                                                      "PAYMENT"}
    assert promise.release(permit, promise.LATER_MATERIAL, at(9, 28)).status == clocks.PAUSED
    # 14 days were kept at the first hold (Wed 23 Sep used); 14 from Tue 29 Sep: 30 Sep, 8, 9,
    # 10, 12-16, 19-23 Oct.
    back = promise.release(permit, promise.PAYMENT, at(9, 29))
    assert back.status == clocks.RUNNING and back.deadline == end_of(10, 23)
    assert promise.release(permit, promise.PAYMENT, at(9, 30)).deadline == end_of(10, 23)


def test_a_broken_promise_gets_its_cards_and_counts_late_in_the_statistics(
        permit: str) -> None:
    from yiwang.applications import promise
    from yiwang.deadlines import clocks
    from yiwang.stats.aggregates import Query, summary
    from yiwang.table.records import AuditRecord, new_audit_for

    clock = promise.start(permit, ACCEPTED)
    mine = f"{permit}:PROMISE"
    assert mine in clocks.sweep(clock.yellow_at + SECOND, {}).yellow
    assert mine in clocks.sweep(clock.deadline + SECOND, {}).red
    promise.stop(permit, at(10, 22), "CERTIFICATE")  # 2 working days late
    late = promise.get(permit)
    assert not promise.kept(late) and promise.summary(late, at(11, 2))["usedDays"] == 17

    # The statistics measure the completed case against its promise (the stream applies it).
    def move(to: str, moment: datetime, came_from: str | None) -> None:
        record: AuditRecord = new_audit_for(f"APP#{permit}", "test", to, came_from, to,
                                            at=moment)
        record.save()

    move("SUBMITTED", ACCEPTED - timedelta(days=1), "DRAFT")
    move("COMPLETED", at(10, 23), "SUBMITTED")
    day = (ACCEPTED - timedelta(days=1)).date()

    def row() -> dict | None:
        table = summary(Query("item", day, day, None, PERMIT))
        found = [g for g in table["groups"] if g["completed"]]
        return found[0] if found else None

    counted = eventually(row)
    assert counted["averageWorkingDays"] == 17 and counted["onTimeRate"] == 0
