"""督办 on the deployed table: a supervisor urges a department about a case or its work, the
urging is a clock of its own with yellow and red cards, and the department replies once.

Times are in November 2026 (no holidays), moved by the `now` each step is given."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from tests.support.data import CITIZEN_ID, PERMIT
from tests.support.fakes import FakeStepFunctions
from yiwang.calendar.workdays import SHANGHAI
from yiwang.people.access import Caller
from yiwang.platform.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    ValidationFailed,
)

URGED = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday
SUPERVISOR = Caller("supervisor-urgings", "supervisor")
PLANNING = Caller("reviewer-zrzy-urgings", "reviewer", dept="GZ-ZRZY")
FOOD = Caller("reviewer-scjg-urgings", "reviewer", dept="GZ-SCJG")
CITIZEN = Caller("citizen-urgings", "applicant", id_number=CITIZEN_ID)


def submitted() -> str:
    """A construction permit application in review (written straight to the table)."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item

    identifier = f"YWURGE{uuid.uuid4().hex[:12].upper()}"
    ApplicationRecord(
        ApplicationRecord.key(identifier), "META", application_id=identifier,
        status="IN_REVIEW", item_code=PERMIT, item_version=get_item(PERMIT).version,
        owner_sub=CITIZEN.sub, applicant={"kind": "PERSON", "name": "张伟"},
        submitted_at=URGED, created_at=URGED, gsi1pk=f"APPLICANT#{CITIZEN_ID}",
        gsi1sk=URGED.isoformat()).save()
    return identifier


def test_an_urging_about_an_application_is_replied_once(table: None) -> None:
    from yiwang.deadlines import clocks
    from yiwang.supervision import urgings

    application = submitted()
    body = {"target": "APPLICATION", "id": application, "reason": "审批超时，请说明原因",
            "workingDays": 2}
    with pytest.raises(Forbidden):
        urgings.urge(PLANNING, body, now=URGED)
    with pytest.raises(Unprocessable):
        urgings.urge(SUPERVISOR, {**body, "id": "YW-NO-SUCH"}, now=URGED)
    with pytest.raises(ValidationFailed):
        urgings.urge(SUPERVISOR, {**body, "workingDays": 0}, now=URGED)
    outcome = urgings.urge(SUPERVISOR, body, now=URGED)
    urging = outcome.urging
    # The permit's lead department is urged; Mon 2 Nov + 2 working days: Wed 4 Nov.
    assert (urging.department, urging.status) == ("GZ-ZRZY", "OPEN")
    assert urging.due_at.astimezone(SHANGHAI).isoformat() == "2026-11-04T23:59:59+08:00"
    assert [n.recipient for n in outcome.notices] == ["DEPT#GZ-ZRZY"]
    clock = clocks.get(urging.pk, urgings.CLOCK)
    assert (clock.kind, clock.status, clock.deadline) == ("URGING", "RUNNING", urging.due_at)

    with pytest.raises(NotFound):  # another department: as for an urging that does not exist
        urgings.reply(FOOD, urging.urging_id, {"reply": "x"}, now=URGED)
    with pytest.raises(NotFound):
        urgings.load_for(FOOD, urging.urging_id)
    assert urgings.load_for(SUPERVISOR, urging.urging_id).urging_id == urging.urging_id
    replied = urgings.reply(PLANNING, urging.urging_id, {"reply": "已于今日办结"},
                            now=URGED + timedelta(hours=3))
    assert (replied.urging.status, replied.urging.reply) == ("REPLIED", "已于今日办结")
    assert [n.recipient for n in replied.notices] == [clocks.SUPERVISORS]
    assert clocks.get(urging.pk, urgings.CLOCK).status == "STOPPED"
    with pytest.raises(Conflict):
        urgings.reply(PLANNING, urging.urging_id, {"reply": "再次回复"})
    shown = urgings.present(urgings.load(urging.urging_id))
    assert [e["event"] for e in shown["history"]] == ["URGED", "URGING_REPLIED"]
    # The department sees it among its urgings, newest first (the table is shared with other
    # tests, whose urgings of the department may be newer than this one's fixed time).
    listed = urgings.for_department(PLANNING)
    assert urging.urging_id in [u.urging_id for u in listed]
    assert [u.created_at for u in listed] == sorted((u.created_at for u in listed), reverse=True)


def test_an_unanswered_urging_earns_its_yellow_then_red_card(table: None) -> None:
    from yiwang.deadlines import clocks
    from yiwang.supervision import rules, urgings

    urging = urgings.urge(SUPERVISOR, {"target": "DEPARTMENT", "department": "GZ-SCJG",
                                       "reason": "本月超期件较多，请说明整改措施",
                                       "workingDays": 5}, now=URGED).urging
    with pytest.raises(ValidationFailed):
        urgings.urge(SUPERVISOR, {"target": "DEPARTMENT", "department": "GZ-NONE",
                                  "reason": "x", "workingDays": 5}, now=URGED)
    sfn = FakeStepFunctions()
    # 5 working days: the yellow card after 4 (Fri 6 Nov end), the deadline Mon 9 Nov end.
    yellow = clocks.sweep(datetime(2026, 11, 7, 9, 0, tzinfo=SHANGHAI), rules.rules(sfn))
    assert f"{urging.urging_id}:{urgings.CLOCK}" in yellow.yellow
    red = clocks.sweep(datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI), rules.rules(sfn))
    assert f"{urging.urging_id}:{urgings.CLOCK}" in red.red
    assert {n.recipient for n in red.notices if urging.urging_id in n.body} == {
        "DEPT#GZ-SCJG", clocks.SUPERVISORS}
    card = clocks.CardRecord.get(urging.pk, f"CARD#{urgings.CLOCK}#RED")
    assert (card.kind, card.department, card.closed_at) == ("URGING", "GZ-SCJG", None)
    urgings.reply(FOOD, urging.urging_id, {"reply": "已制定整改方案"},
                  now=datetime(2026, 11, 10, 10, 0, tzinfo=SHANGHAI))
    card = clocks.CardRecord.get(urging.pk, f"CARD#{urgings.CLOCK}#RED")
    assert card.closed_at is not None  # replied: no longer late, the card stays on record


def test_an_urging_about_a_complaint_goes_to_its_department(table: None) -> None:
    from yiwang.complaints import handling
    from yiwang.supervision import urgings

    complaint = handling.register(CITIZEN, {
        "category": "COMPLAINT", "channel": "WEB", "subject": "办证慢", "content": "迟迟不发证",
        "contact": "13800138000", "department": "GZ-SCJG"}, FakeStepFunctions(),
        "arn:aws:states:::stateMachine:c", now=URGED)
    urging = urgings.urge(SUPERVISOR, {"target": "COMPLAINT", "id": complaint.complaint_id,
                                       "reason": "请加快办理", "workingDays": 1},
                          now=URGED).urging
    assert (urging.department, urging.target_id) == ("GZ-SCJG", complaint.complaint_id)


def test_two_replies_at_once_one_wins(table: None) -> None:
    import threading

    from yiwang.supervision import urgings

    urging = urgings.urge(SUPERVISOR, {"target": "DEPARTMENT", "department": "GZ-ZRZY",
                                       "reason": "请报送整改情况", "workingDays": 3},
                          now=URGED).urging
    barrier, outcomes = threading.Barrier(3), []

    def reply(n: int) -> None:
        barrier.wait()
        try:
            urgings.reply(PLANNING, urging.urging_id, {"reply": f"回复 {n}"})
            outcomes.append("replied")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=reply, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "replied"]
    shown = urgings.present(urgings.load(urging.urging_id))
    assert [e["event"] for e in shown["history"]].count("URGING_REPLIED") == 1
