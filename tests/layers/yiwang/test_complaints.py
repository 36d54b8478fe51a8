"""投诉建议 rules: limits, routing rules and privacy (pure), and the complaint's life on the
deployed table, moved through time by the `now` each action is given.

The dates are around National Day 2026 (1-7 Oct holidays, Sat 10 Oct an adjusted working day).
No execution runs here: a stand-in Step Functions client records the task tokens the domain
completes (tests/functions/api/test_complaints.py drives real executions)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.data import CITIZEN_ID
from tests.support.fakes import FakeStepFunctions as StandInSfn
from yiwang.calendar.workdays import SHANGHAI
from yiwang.complaints import handling as complaints
from yiwang.complaints import records, routing, steps
from yiwang.people.access import Caller
from yiwang.platform.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    ValidationFailed,
)
from yiwang.views import complaints as views

ROUTED_AT = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)  # Wednesday before National Day
CITIZEN = Caller("complainant-domain", "applicant", id_number=CITIZEN_ID)
FOOD = Caller("reviewer-food-domain", "reviewer", dept="GZ-SCJG")
POLICE = Caller("reviewer-police-domain", "reviewer", dept="GZ-GA")
SUPERVISOR = Caller("supervisor-domain", "supervisor")


# --- pure rules --------------------------------------------------------------------------------


def test_category_limits_unless_the_urgency_is_graded() -> None:
    assert [routing.limit_days(c) for c in ("CONSULT", "COMPLAINT", "SUGGESTION")] == [3, 7, 7]
    assert [routing.limit_days("CONSULT", u) for u in ("URGENT", "GENERAL_URGENT", "NORMAL")
            ] == [3, 5, 15]


def test_routing_rules_are_data_with_a_default(table: None) -> None:
    # The table: the departments a complaint may go to are the registry's (and the rules' own).
    assert routing.route_by_rules("食品经营许可证迟迟不发") == "GZ-SCJG"
    assert routing.route_by_rules("消防验收排不上号") == "GZ-XF"
    assert routing.route_by_rules("网站很慢") == routing.routing_rules()["default"]
    assert all(routing.may_receive(code) for code in ("GZ-SCJG", "GZ-GA", "GZ-ZWFW"))
    assert not routing.may_receive("GZ-NO-SUCH-DEPARTMENT")


def test_content_touching_secrets_is_private() -> None:
    assert routing.touches_secrets("涉及商业秘密")
    assert routing.touches_secrets("我的身份证号11010519491231002X被冒用")
    assert routing.touches_secrets("请回电 13800138000")
    assert not routing.touches_secrets("窗口排队太久", "等了两个小时")


def test_complaint_ids_carry_the_date() -> None:
    assert records.new_complaint_id(ROUTED_AT).startswith("TS20260930")
    assert len(records.new_complaint_id(ROUTED_AT)) == 18


# --- on the deployed table ---------------------------------------------------------------------

@pytest.fixture
def sfn() -> StandInSfn:
    return StandInSfn()


def register(sfn: StandInSfn, who: Caller = CITIZEN, **fields: Any) -> Any:
    body = {"category": "CONSULT", "channel": "WEB", "subject": "咨询办理进度",
            "content": "想了解营业执照变更要多久。", "contact": "13800138000",
            "department": "GZ-SCJG", **fields}
    return complaints.register(who, body, sfn, "arn:aws:states:::stateMachine:c", now=ROUTED_AT)


@pytest.mark.integration
def test_registration_counts_working_days_across_national_day(table: None,
                                                              sfn: StandInSfn) -> None:
    record = register(sfn)
    assert record.status == "ROUTED"
    # 1-7 Oct are holidays: Thu 8 Oct is the 1st working day, Sat 10 Oct (调休) the 3rd.
    assert record.return_by.astimezone(SHANGHAI).isoformat() == "2026-10-08T23:59:59+08:00"
    assert record.due_at.astimezone(SHANGHAI).isoformat() == "2026-10-10T23:59:59+08:00"
    assert sfn.started[0]["name"] == record.complaint_id
    from yiwang.deadlines import clocks

    handling = clocks.get(record.pk, complaints.HANDLING_CLOCK)
    acceptance = clocks.get(record.pk, complaints.ACCEPTANCE_CLOCK)
    assert (handling.deadline, handling.cards) == (record.due_at, True)
    assert (acceptance.deadline, acceptance.cards) == (record.return_by, False)
    assert acceptance.action == steps.DEEM_ACCEPTED


@pytest.mark.integration
def test_a_return_after_one_working_day_conflicts(table: None, sfn: StandInSfn) -> None:
    late = register(sfn)
    with pytest.raises(Conflict, match="deemed accepted"):
        complaints.return_(FOOD, late.complaint_id, {"reason": "不属于本部门"}, sfn,
                           now=datetime(2026, 10, 9, 9, 0, tzinfo=SHANGHAI))
    in_time = register(sfn)
    with pytest.raises(ValidationFailed):
        complaints.return_(FOOD, in_time.complaint_id, {"reason": "  "}, sfn)
    returned = complaints.return_(FOOD, in_time.complaint_id, {"reason": "不属于本部门"}, sfn,
                                  now=datetime(2026, 10, 8, 20, 0, tzinfo=SHANGHAI))
    assert returned.status == "RETURNED"


@pytest.mark.integration
def test_two_accepts_at_once_one_wins(table: None, sfn: StandInSfn) -> None:
    record = register(sfn)
    barrier, outcomes = threading.Barrier(4), []

    def accept() -> None:
        barrier.wait()
        try:
            complaints.accept(FOOD, record.complaint_id, sfn)
            outcomes.append("accepted")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=accept) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted", "conflict", "conflict", "conflict"]
    accepted = [e for e in views.history(records.ComplaintRecord.load(
        record.complaint_id), True, True) if e["event"] == "ACCEPTED"]
    assert len(accepted) == 1


@pytest.mark.integration
def test_deemed_accepted_by_the_acceptance_clock_once(table: None, sfn: StandInSfn) -> None:
    from yiwang.deadlines import clocks

    record = register(sfn)
    clock = clocks.get(record.pk, complaints.ACCEPTANCE_CLOCK)
    after = clock.deadline + timedelta(seconds=1)
    notices = steps.deem_accepted(clock, after, sfn)
    assert [n.recipient for n in notices] == ["DEPT#GZ-SCJG"]
    assert records.ComplaintRecord.load(record.complaint_id).status == "ACCEPTED"
    assert steps.deem_accepted(clock, after, sfn) == []  # already accepted


@pytest.mark.integration
def test_a_step_opened_after_the_department_acted_completes_at_once(table: None,
                                                                    sfn: StandInSfn) -> None:
    record = register(sfn)
    complaints.accept(FOOD, record.complaint_id, sfn)
    assert sfn.completed == []  # the execution had not reached the step yet
    opened = steps.open_step(record.complaint_id, "ACCEPTANCE", 1, "token-1", sfn)
    assert opened.waiting is False
    assert [c["taskToken"] for c in sfn.completed] == ["token-1"]
    assert '"status": "ACCEPTED"' in sfn.completed[0]["output"]
    waiting = steps.open_step(record.complaint_id, "HANDLING", 1, "token-2", sfn)
    assert waiting.waiting is True
    complaints.resolve(FOOD, record.complaint_id, {"result": "已答复"}, sfn)
    assert [c["taskToken"] for c in sfn.completed] == ["token-1", "token-2"]
    revisit = steps.open_step(record.complaint_id, "REVISIT", 1, "token-3", sfn)
    assert [n.recipient for n in revisit.notices] == [CITIZEN.sub]  # 请评价


@pytest.mark.integration
def test_reroute_starts_a_new_round_for_the_new_department(table: None,
                                                           sfn: StandInSfn) -> None:
    from yiwang.deadlines import clocks

    record = register(sfn)
    steps.open_step(record.complaint_id, "ACCEPTANCE", 1, "token-a", sfn)
    complaints.return_(FOOD, record.complaint_id, {"reason": "属公安职责"}, sfn, now=ROUTED_AT)
    with pytest.raises(Forbidden):
        complaints.reroute(FOOD, record.complaint_id, {"department": "GZ-GA"}, sfn)
    with pytest.raises(ValidationFailed):
        complaints.reroute(SUPERVISOR, record.complaint_id, {"department": "GZ-NONE"}, sfn)
    moved = complaints.reroute(SUPERVISOR, record.complaint_id, {"department": "GZ-GA"}, sfn)
    assert (moved.status, moved.department, int(moved.round)) == ("ROUTED", "GZ-GA", 2)
    acceptance = clocks.get(record.pk, complaints.ACCEPTANCE_CLOCK)
    assert (acceptance.status, acceptance.department) == ("RUNNING", "GZ-GA")
    assert acceptance.context["round"] == 2
    with pytest.raises(NotFound):  # no longer theirs: as for a complaint that does not exist
        complaints.accept(FOOD, record.complaint_id, sfn)
    assert complaints.accept(POLICE, record.complaint_id, sfn).status == "ACCEPTED"


@pytest.mark.integration
def test_one_extension_of_at_most_the_limit(table: None, sfn: StandInSfn) -> None:
    from yiwang.deadlines import clocks

    record = register(sfn, category="COMPLAINT")
    complaints.accept(FOOD, record.complaint_id, sfn)
    with pytest.raises(Unprocessable):
        complaints.extend(FOOD, record.complaint_id, {"workingDays": 8, "reason": "复杂"})
    with pytest.raises(ValidationFailed):
        complaints.extend(FOOD, record.complaint_id, {"workingDays": 0, "reason": "复杂"})
    extended = complaints.extend(FOOD, record.complaint_id, {"workingDays": 7, "reason": "复杂"})
    assert extended.extended is True
    assert extended.due_at > record.due_at
    assert clocks.get(record.pk, complaints.HANDLING_CLOCK).deadline == extended.due_at
    with pytest.raises(Conflict):
        complaints.extend(FOOD, record.complaint_id, {"workingDays": 1, "reason": "再延"})
    with pytest.raises(Conflict):  # graded after the extension: the limit it was granted on
        complaints.grade(SUPERVISOR, record.complaint_id, {"urgency": "URGENT"})


@pytest.mark.integration
def test_grading_recounts_the_deadline_from_routing(table: None, sfn: StandInSfn) -> None:
    record = register(sfn, category="COMPLAINT")
    graded = complaints.grade(SUPERVISOR, record.complaint_id, {"urgency": "GENERAL_URGENT"})
    assert int(graded.limit_days) == 5
    # Wed 30 Sep + 5 working days: 8, 9, 10 (调休), 12, 13 Oct.
    assert graded.due_at.astimezone(SHANGHAI).isoformat() == "2026-10-13T23:59:59+08:00"


@pytest.mark.integration
def test_merge_and_refusal(table: None, sfn: StandInSfn) -> None:
    kept, merged, refused = register(sfn), register(sfn), register(sfn)
    with pytest.raises(Unprocessable):
        complaints.merge(SUPERVISOR, merged.complaint_id, {"intoId": "TS000"}, sfn)
    complaints.reject(SUPERVISOR, refused.complaint_id, {"reasonCode": "ABUSE"}, sfn)
    with pytest.raises(Conflict):  # into a complaint that is no longer open
        complaints.merge(SUPERVISOR, merged.complaint_id, {"intoId": refused.complaint_id}, sfn)
    complaints.merge(SUPERVISOR, merged.complaint_id, {"intoId": kept.complaint_id}, sfn)
    assert records.ComplaintRecord.load(kept.complaint_id).merged_ids == [merged.complaint_id]
    assert records.ComplaintRecord.load(merged.complaint_id).merged_into == kept.complaint_id
    with pytest.raises(ValidationFailed) as invalid:
        complaints.reject(SUPERVISOR, kept.complaint_id, {"reasonCode": "NOPE"}, sfn)
    assert [e.path for e in invalid.value.errors] == ["reasonCode"]


@pytest.mark.integration
def test_private_content_is_shown_to_those_handling_it(table: None, sfn: StandInSfn) -> None:
    record = register(sfn, private=True)
    mine = views.present(record, CITIZEN)
    theirs = views.present(record, POLICE)
    assert mine["content"] == views.present(record, FOOD)["content"] == record.content
    assert views.present(record, SUPERVISOR)["contact"] == "13800138000"
    assert (theirs["content"], theirs["contact"]) == (None, None)
    assert all("detail" not in entry for entry in theirs["history"])


@pytest.mark.integration
def test_an_illegal_move_is_a_conflict_naming_both_statuses(table: None,
                                                             sfn: StandInSfn) -> None:
    record = register(sfn)
    complaints.accept(FOOD, record.complaint_id, sfn)
    with pytest.raises(Conflict, match="cannot move from ACCEPTED to ACCEPTED"):
        complaints.accept(FOOD, record.complaint_id, sfn)
    with pytest.raises(Conflict, match="cannot move from ACCEPTED to CLOSED"):
        complaints.revisit(CITIZEN, record.complaint_id, {"satisfied": True}, sfn)
    assert records.ComplaintRecord.load(record.complaint_id).status == "ACCEPTED"


class FailingSfn(StandInSfn):
    """Step Functions answering SendTaskSuccess with an error code."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def send_task_success(self, **call: Any) -> None:
        from botocore.exceptions import ClientError

        super().send_task_success(**call)
        raise ClientError({"Error": {"Code": self.code, "Message": self.code}},
                          "SendTaskSuccess")


def step_status(record: Any, step: str) -> str:
    return records.StepRecord.get(record.pk, records.StepRecord.sort_key(step, 1),
                                  consistent_read=True).status


@pytest.mark.integration
def test_a_token_that_no_longer_waits_is_done_and_other_errors_keep_the_step(
        table: None, sfn: StandInSfn) -> None:
    from botocore.exceptions import ClientError

    record = register(sfn)
    steps.open_step(record.complaint_id, "ACCEPTANCE", 1, "token-w", sfn)
    broken = FailingSfn("ServiceUnavailable")
    with pytest.raises(ClientError):
        complaints.accept(FOOD, record.complaint_id, broken)
    assert step_status(record, "ACCEPTANCE") == "WAITING"  # the next change completes it
    timed_out = FailingSfn("TaskTimedOut")
    steps.catch_up(record.complaint_id, timed_out)  # the execution no longer waits: no error
    assert [c["taskToken"] for c in timed_out.completed] == ["token-w"]
    assert step_status(record, "ACCEPTANCE") == "DONE"
