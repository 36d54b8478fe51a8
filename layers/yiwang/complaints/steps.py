"""The complaint lifecycle execution's waiting steps (签收/退回, 改派, 办理, 回访, 督办结论), and
the one way a complaint's status moves on.

At each status someone owes an action, the execution waits on a task token (a step record);
whoever moves the complaint on completes that token. Because the execution may reach a step
after someone already acted (the department accepts while the execution is still starting),
both sides check: the step writes its token, then reads the complaint; the actor writes the
complaint, then reads the step. At least one of them sees the other, and a conditional claim
on the step lets only one of them complete the token.

Also the acceptance clock's automatic rule, `deem_accepted` (视为已受理, art. 33), which the
timeout check runs by the name `DEEM_ACCEPTED` (yiwang.supervision.rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from yiwang.calendar.workdays import local_time
from yiwang.complaints.records import ComplaintRecord, StepRecord, unchanged, write
from yiwang.complaints.status import ComplaintStatus, StepStatus, check_move
from yiwang.deadlines import clocks
from yiwang.people.notices import Notice
from yiwang.platform import workflow
from yiwang.platform.errors import Conflict
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.table.records import new_audit_for
from yiwang.table.writes import write_if

STEPS = {"ACCEPTANCE": ComplaintStatus.ROUTED, "REROUTE": ComplaintStatus.RETURNED,
         "HANDLING": ComplaintStatus.ACCEPTED, "REVISIT": ComplaintStatus.RESOLVED,
         "CONCLUSION": ComplaintStatus.ESCALATED}
"""Each step of the execution, and the status during which it waits."""
STEP_OF = {status: step for step, status in STEPS.items()}
DEEM_ACCEPTED = "DEEM_COMPLAINT_ACCEPTED"
"""The acceptance clock's automatic rule (`deem_accepted`), run by the timeout check."""


@dataclass
class Opened:
    """What opening a step did: whether the execution waits there, the notices to send."""

    step: str
    waiting: bool
    notices: list[Notice] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Moving a complaint on


def move(record: ComplaintRecord, to: str, actor: str, event: str, sfn: Any, *,
         actions: list[Any] | None = None, detail: dict[str, Any] | None = None,
         extra: tuple[Any, ...] = ()) -> ComplaintRecord:
    """Move the complaint to `to` if its status allows (`check_move`) and nobody moved it
    meanwhile (`Conflict` otherwise), audited in the same transaction; then resume the
    execution's step that waited on the old status. `extra` records are saved in the same
    transaction."""
    target = check_move(record.status, to)
    write(record, [ComplaintRecord.status.set(target.value), *(actions or [])],
          unchanged(record),
          new_audit_for(record.pk, actor, event, record.status, target.value, detail), extra)
    catch_up(record.complaint_id, sfn)
    return ComplaintRecord.load(record.complaint_id)


def catch_up(complaint_id: str, sfn: Any) -> None:
    """After moving the complaint on, complete every step that no longer waits (if the
    execution has reached it; otherwise the step completes itself when it opens). Also
    repairs a step whose completion failed before (the next change completes it)."""
    complaint = ComplaintRecord.load(complaint_id)
    for step in StepRecord.query(complaint.pk, StepRecord.sk.startswith(StepRecord.PREFIX),
                                 StepRecord.status == StepStatus.WAITING.value,
                                 consistent_read=True):
        if not _waits(complaint, step.step, int(step.round)):
            _complete(step, sfn)


# ---------------------------------------------------------------------------------------------
# The execution's steps (task tokens)


def open_step(complaint_id: str, step: str, round_: int, task_token: str, sfn: Any,
              now: datetime | None = None) -> Opened:
    """The execution reached `step` of round `round_`: keep its token until someone moves the
    complaint on. If someone already did (the execution was slower than the people), complete
    the token now with the current status, so the execution catches up."""
    if step not in STEPS:
        raise ValueError(f"no complaint step {step}")
    now = now or datetime.now(UTC)
    key = ComplaintRecord.key(complaint_id)
    ComplaintRecord.load(complaint_id)  # ComplaintNotFound ends the execution
    record = StepRecord(key, StepRecord.sort_key(step, round_), step=step, round=round_,
                        status=StepStatus.WAITING.value, task_token=task_token, opened_at=now)
    first = write_if(lambda: record.save(condition=StepRecord.pk.does_not_exist()))
    if not first:
        # A retried step: the newest token is the one the execution waits on.
        record.update(actions=[StepRecord.status.set(StepStatus.WAITING.value),
                               StepRecord.task_token.set(task_token)])
    complaint = ComplaintRecord.load(complaint_id)  # read after the token is written
    if not _waits(complaint, step, round_):
        _complete(record, sfn)
        return Opened(step, waiting=False)
    return Opened(step, waiting=True, notices=_step_notices(complaint, step) if first else [])


def _waits(complaint: ComplaintRecord, step: str, round_: int) -> bool:
    return complaint.status == STEPS[step] and int(complaint.round) == round_


def _complete(step: StepRecord, sfn: Any) -> None:
    """Claim the step (WAITING → DONE, once) and hand the execution the complaint's current
    status and round, which decide where it goes next."""
    claimed = write_if(lambda: step.update(
        actions=[StepRecord.status.set(StepStatus.DONE.value),
                 StepRecord.done_at.set(datetime.now(UTC))],
        condition=(StepRecord.status == StepStatus.WAITING.value)
        & (StepRecord.task_token == step.task_token)))
    if not claimed:
        return  # someone else completed it
    current = ComplaintRecord.get(step.pk, "META", consistent_read=True)
    try:
        resumed = workflow.resume(sfn, step.task_token,
                                  {"status": current.status, "round": int(current.round)})
    except Exception:
        # Not answered: let the next change (or the retried step) complete it.
        step.update(actions=[StepRecord.status.set(StepStatus.WAITING.value),
                             StepRecord.done_at.remove()])
        raise
    if not resumed:
        # The execution no longer waits (it timed out or was stopped): nothing to resume.
        logger.warning("complaint step token is stale", extra={"step": step.sk})


def _step_notices(complaint: ComplaintRecord, step: str) -> list[Notice]:
    """Who must act at a step hears of it (站内信)."""
    ident = complaint.complaint_id
    if step == "ACCEPTANCE":
        return [Notice(f"DEPT#{complaint.department}", "COMPLAINT_ROUTED",
                       f"投诉建议待签收：{ident}",
                       f"请于 {local_time(complaint.return_by)} 前签收或说明理由退回，逾期视为"
                       f"已受理；办理时限 {local_time(complaint.due_at)}。")]
    if step == "REROUTE":
        return [Notice(clocks.SUPERVISORS, "COMPLAINT_RETURNED", f"投诉建议被退回：{ident}",
                       f"{complaint.department} 退回了投诉建议 {ident}，请改派。")]
    if step == "HANDLING" and int(complaint.reopened or 0) and complaint.revisit:
        return [Notice(f"DEPT#{complaint.department}", "COMPLAINT_REOPENED",
                       f"投诉建议重新办理：{ident}",
                       f"投诉人对办理结果不满意，请重新核实整改，于 {local_time(complaint.due_at)} "
                       f"前办结。")]
    if step == "CONCLUSION":
        return [Notice(clocks.SUPERVISORS, "COMPLAINT_ESCALATED", f"投诉建议提交督办：{ident}",
                       f"投诉人对 {complaint.department} 重新办理的结果仍不满意，"
                       f"请督办并作出结论。")]
    if step == "REVISIT" and complaint.owner_sub:
        return [Notice(complaint.owner_sub, "COMPLAINT_RESOLVED", f"投诉建议已办结：{ident}",
                       "请查看办理结果，并告诉我们您是否满意（回访）。")]
    return []


# ---------------------------------------------------------------------------------------------
# The acceptance clock's rule


def deem_accepted(clock: clocks.ClockRecord, now: datetime, sfn: Any) -> list[Notice]:
    """Not returned within 1 working day: deemed accepted (视为已受理, art. 33). Run by the
    timeout check at the return window's end; completes the waiting step like an accept."""
    context = clock.context or {}
    record = ComplaintRecord.load(context["complaintId"])
    if record.status != ComplaintStatus.ROUTED or \
            int(record.round) != int(context.get("round", 0)):
        catch_up(record.complaint_id, sfn)  # a retried rule: the step may still wait
        return []  # accepted, returned or rerouted just before
    try:
        move(record, ComplaintStatus.ACCEPTED, "system", "DEEMED_ACCEPTED", sfn,
             detail={"automatic": True, "returnBy": local_time(record.return_by)})
    except Conflict:
        return []  # the department acted at the same moment: it decided
    metrics.add_metric(name="ComplaintsDeemedAccepted", unit=MetricUnit.Count, value=1)
    return [Notice(f"DEPT#{record.department}", "COMPLAINT_DEEMED_ACCEPTED",
                   f"投诉建议视为已受理：{record.complaint_id}",
                   f"1个工作日内未退回，视为已受理；请于 {local_time(record.due_at)} 前办结。")]
