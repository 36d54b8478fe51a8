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


def test_category_limits_which_a_grading_shortens_but_never_lengthens() -> None:
    assert [routing.limit_days(c) for c in ("CONSULT", "COMPLAINT", "SUGGESTION")] == [3, 7, 7]
    urgencies = ("URGENT", "GENERAL_URGENT", "NORMAL")
    assert [routing.limit_days("CONSULT", u) for u in urgencies] == [3, 3, 3]
    assert [routing.limit_days("COMPLAINT", u) for u in urgencies] == [3, 5, 7]


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
def test_the_department_applies_once_and_a_supervisor_decides(table: None,
                                                              sfn: StandInSfn) -> None:
    from yiwang.deadlines import clocks

    record = register(sfn, category="COMPLAINT")
    complaints.accept(FOOD, record.complaint_id, sfn)
    with pytest.raises(Unprocessable):
        complaints.extend(FOOD, record.complaint_id, {"workingDays": 8, "reason": "复杂"})
    with pytest.raises(ValidationFailed):
        complaints.extend(FOOD, record.complaint_id, {"workingDays": 0, "reason": "复杂"})
    with pytest.raises(Conflict):  # nothing to decide yet
        complaints.decide_extension(SUPERVISOR, record.complaint_id, {"approve": True})
    asked = complaints.extend(FOOD, record.complaint_id, {"workingDays": 7, "reason": "复杂"})
    # Applied for, not granted: the deadline stays until a supervisor approves.
    assert (asked.extended, asked.extension_status, asked.due_at) == (
        False, "REQUESTED", record.due_at)
    with pytest.raises(Forbidden):  # the department does not grant its own extension
        complaints.decide_extension(FOOD, record.complaint_id, {"approve": True})
    with pytest.raises(Conflict):  # one application in the complaint's life
        complaints.extend(FOOD, record.complaint_id, {"workingDays": 1, "reason": "再延"})
    approved = complaints.decide_extension(SUPERVISOR, record.complaint_id,
                                           {"approve": True, "note": "同意"})
    assert (approved.extended, approved.extension_status) == (True, "APPROVED")
    assert approved.due_at > record.due_at
    assert clocks.get(record.pk, complaints.HANDLING_CLOCK).deadline == approved.due_at
    with pytest.raises(Conflict):  # decided once
        complaints.decide_extension(SUPERVISOR, record.complaint_id, {"approve": False})
    with pytest.raises(Conflict):
        complaints.extend(FOOD, record.complaint_id, {"workingDays": 1, "reason": "再延"})
    with pytest.raises(Conflict):  # graded after the extension: the limit it was granted on
        complaints.grade(SUPERVISOR, record.complaint_id, {"urgency": "URGENT"})
    events = [e["event"] for e in views.history(approved, True, True)]
    assert events[-2:] == ["EXTENSION_REQUESTED", "EXTENSION_APPROVED"]


@pytest.mark.integration
def test_a_refused_extension_is_not_asked_for_again(table: None, sfn: StandInSfn) -> None:
    record = register(sfn, category="COMPLAINT")
    complaints.accept(FOOD, record.complaint_id, sfn)
    complaints.extend(FOOD, record.complaint_id, {"workingDays": 3, "reason": "复杂"})
    refused = complaints.decide_extension(SUPERVISOR, record.complaint_id,
                                          {"approve": False, "note": "可按时办结"})
    assert (refused.extended, refused.extension_status, refused.due_at) == (
        False, "REFUSED", record.due_at)
    with pytest.raises(Conflict):
        complaints.extend(FOOD, record.complaint_id, {"workingDays": 3, "reason": "再申请"})


@pytest.mark.integration
def test_grading_never_lengthens_the_category_limit(table: None, sfn: StandInSfn) -> None:
    record = register(sfn)  # a consultation: 3 working days
    graded = complaints.grade(SUPERVISOR, record.complaint_id, {"urgency": "NORMAL"})
    assert (graded.urgency, int(graded.limit_days), graded.due_at) == (
        "NORMAL", 3, record.due_at)
    complaint = register(sfn, category="COMPLAINT")  # 7 days
    urgent = complaints.grade(SUPERVISOR, complaint.complaint_id, {"urgency": "URGENT"})
    assert int(urgent.limit_days) == 3
    relaxed = complaints.grade(SUPERVISOR, complaint.complaint_id, {"urgency": "NORMAL"})
    assert int(relaxed.limit_days) == 7  # back to the category's limit, never 15


@pytest.mark.integration
def test_an_unsatisfied_revisit_reopens_once_then_goes_to_the_supervisors(
        table: None, sfn: StandInSfn) -> None:
    from yiwang.deadlines import clocks

    record = register(sfn, category="COMPLAINT")
    complaints.accept(FOOD, record.complaint_id, sfn)
    complaints.resolve(FOOD, record.complaint_id, {"result": "已增开窗口"}, sfn)
    later = datetime(2026, 10, 12, 9, 0, tzinfo=SHANGHAI)
    reopened = complaints.revisit(CITIZEN, record.complaint_id,
                                  {"satisfied": False, "comment": "仍然排队"}, sfn, now=later)
    assert (reopened.status, int(reopened.round), int(reopened.reopened)) == ("ACCEPTED", 2, 1)
    assert reopened.resolution is None
    handling = clocks.get(record.pk, complaints.HANDLING_CLOCK)
    assert (handling.status, handling.deadline) == ("RUNNING", reopened.due_at)
    # Mon 12 Oct + 7 working days: 13, 14, 15, 16, 19, 20, 21 Oct.
    assert reopened.due_at.astimezone(SHANGHAI).date().isoformat() == "2026-10-21"
    opened = steps.open_step(record.complaint_id, "HANDLING", 2, "token-h2", sfn)
    assert [n.kind for n in opened.notices] == ["COMPLAINT_REOPENED"]
    complaints.resolve(FOOD, record.complaint_id, {"result": "高峰期增开三个窗口"}, sfn)
    escalated = complaints.revisit(CITIZEN, record.complaint_id, {"satisfied": False}, sfn)
    assert escalated.status == "ESCALATED"
    waiting = steps.open_step(record.complaint_id, "CONCLUSION", 2, "token-c", sfn)
    assert [n.recipient for n in waiting.notices] == [clocks.SUPERVISORS]
    with pytest.raises(Forbidden):
        complaints.conclude(FOOD, record.complaint_id, {"conclusion": "x"}, sfn)
    closed = complaints.conclude(SUPERVISOR, record.complaint_id,
                                 {"conclusion": "督促增设自助取号机"}, sfn)
    assert (closed.status, closed.conclusion["conclusion"]) == ("CLOSED", "督促增设自助取号机")
    assert "token-c" in [c["taskToken"] for c in sfn.completed]
    events = [e["event"] for e in views.history(closed, True, True)]
    assert events == ["REGISTERED", "ACCEPTED", "RESOLVED", "REOPENED", "RESOLVED",
                      "ESCALATED", "CONCLUDED"]


@pytest.mark.integration
def test_an_invalid_complaint_with_its_reason(table: None, sfn: StandInSfn) -> None:
    from yiwang.deadlines import clocks

    record = register(sfn, category="COMPLAINT")
    body = {"reasonCode": "UNFOUNDED", "reason": "调取监控，当日窗口全部开放"}
    with pytest.raises(Conflict):  # investigated only once accepted
        complaints.invalidate(FOOD, record.complaint_id, body, sfn)
    complaints.accept(FOOD, record.complaint_id, sfn)
    with pytest.raises(ValidationFailed):
        complaints.invalidate(FOOD, record.complaint_id, {"reasonCode": "UNFOUNDED"}, sfn)
    with pytest.raises(NotFound):
        complaints.invalidate(POLICE, record.complaint_id, body, sfn)
    invalid = complaints.invalidate(FOOD, record.complaint_id, body, sfn)
    assert invalid.status == "INVALID"
    assert invalid.invalidation["ground"] == "经调查投诉建议情况不属实"
    assert all(c.status == "STOPPED" for c in clocks.clocks_of(record.pk))
    shown = views.present(invalid, CITIZEN)
    assert shown["invalidation"]["reason"] == body["reason"]
    assert shown["history"][-1]["event"] == "INVALIDATED"


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


@pytest.mark.integration
def test_two_supervisors_deciding_one_extension_at_once_one_wins(table: None,
                                                                 sfn: StandInSfn) -> None:
    from yiwang.deadlines import clocks

    record = register(sfn, category="COMPLAINT")
    complaints.accept(FOOD, record.complaint_id, sfn)
    complaints.extend(FOOD, record.complaint_id, {"workingDays": 5, "reason": "需现场核查"})
    before = clocks.get(record.pk, complaints.HANDLING_CLOCK).deadline
    barrier, outcomes = threading.Barrier(4), []

    def decide(approve: bool) -> None:
        barrier.wait()
        try:
            complaints.decide_extension(SUPERVISOR, record.complaint_id, {"approve": approve})
            outcomes.append("APPROVED" if approve else "REFUSED")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(n % 2 == 0,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [decided] = [o for o in outcomes if o != "conflict"]
    final = records.ComplaintRecord.load(record.complaint_id)
    assert final.extension_status == decided
    moved = clocks.get(record.pk, complaints.HANDLING_CLOCK).deadline
    # The deadline moved once if approved, not at all if refused.
    assert (moved > before) == (decided == "APPROVED") == bool(final.extended)
    decisions = [e for e in views.history(final, True, True)
                 if e["event"].startswith("EXTENSION_") and e["event"] != "EXTENSION_REQUESTED"]
    assert len(decisions) == 1
