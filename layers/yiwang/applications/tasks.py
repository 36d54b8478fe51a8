"""Human steps of the lifecycle: 受理 (pre-review decision), 并联审批 (one review task per
department) and 补正 (the applicant's supplement). Each is a task record holding the waiting
execution's task token; deciding it is one conditional write (PENDING → DECIDED), so a second
decision is a conflict and never a second effect, and then the execution resumes.

Access patterns:
- a task by id (decide): pk=`APP#<application id>`, sk=`TASK#<task id>`; the task id
  `<application id>.<kind>.<round>.<department>` names its application, so one read finds it;
- a department's pending tasks ("my tasks" screen): ListIndex gsi1pk=`DEPT#<department>`,
  gsi1sk=`<status>#<created>`;
- an application's tasks (its detail view): pk=`APP#<id>`, sk begins `TASK#`.

A department whose tasks have handlers (经办人模式, `catalogue.departments.Handling`) gives each
review task one handler (`handler`, a staff `sub`): claimed, assigned when it opens (BY_STAGE)
or reassigned by the head (`applications.handlers`); only the handler decides it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

from yiwang.applications import commitments, drafts, lifecycle, promise
from yiwang.applications.records import ApplicationRecord, new_audit
from yiwang.applications.status import Status
from yiwang.calendar.workdays import local_time
from yiwang.catalogue import departments
from yiwang.catalogue.items import INSTANT, get_item
from yiwang.deadlines import clocks
from yiwang.people import policy
from yiwang.people.access import REVIEWER, WINDOW, Caller
from yiwang.platform import validation, workflow
from yiwang.platform.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.table.records import ListIndex, TableMeta, connection
from yiwang.table.writes import write_if, write_or_conflict

PRE_REVIEW, REVIEW, SUPPLEMENT = "PRE_REVIEW", "REVIEW", "SUPPLEMENT"
SUPPLIED = "SUPPLIED"
"""The decision of a supplement task: the applicant supplied what was listed."""
ACCEPTANCE_CLOCK = "ACCEPTANCE"
AUTO_ACCEPT = "AUTO_ACCEPT"
"""The acceptance clock's automatic rule (`auto_accept`)."""
WINDOW_QUEUE = "WINDOW"
"""Pre-review tasks go to the window (综合窗口), not to a department."""
ACCEPT_WITHIN_DAYS = 5
"""Administrative Licensing Law art. 32: accept or refuse within 5 working days."""
ON_THE_SPOT = "DECIDE_ON_THE_SPOT"
"""当场办结: the window accepts a 即办件 and decides it in the same step."""
STEP_METRICS = {"ACCEPT": "Accepted", "SUPPLEMENT": "SupplementRequested",
                "NOT_ACCEPTED": "NotAccepted", ON_THE_SPOT: "DecidedOnTheSpot"}
"""The metric each pre-review decision counts (docs/architecture.md, observability)."""
DECISIONS = {
    PRE_REVIEW: {"ACCEPT", "SUPPLEMENT", "NOT_ACCEPTED", ON_THE_SPOT},
    REVIEW: {"APPROVE", "REJECT", "SUPPLEMENT"},
    SUPPLEMENT: {"SUPPLIED"},
}
MAX_OPINION = 2000
"""办理意见: the longest opinion kept (characters)."""
MAX_MISSING = 50
"""一次性告知: the most missing or defective materials one supplement request lists."""
_MISSING_ITEM: dict[str, Any] = {
    # A material's id or name, or a small object describing one (its id and the problem).
    "type": ["string", "object"], "minLength": 1, "maxLength": 200, "maxProperties": 8,
    "additionalProperties": {"type": "string", "maxLength": 500},
}
_DECISION: dict[str, Any] = {
    "type": "object",
    "maxProperties": 8,
    "properties": {
        "decision": {"type": "string", "maxLength": 32},
        "opinion": {"type": "string", "maxLength": MAX_OPINION},
        "missing": {"type": "array", "maxItems": MAX_MISSING, "items": _MISSING_ITEM},
        "commitments": {"type": "array", "maxItems": 20},  # checked in `commitments.asked`
    },
}
"""The bounds of a decision's body (what it must say is checked in `_decision_of`)."""


class TaskStatus(StrEnum):
    """A task is PENDING until its one decision, then DECIDED."""

    PENDING = "PENDING"
    DECIDED = "DECIDED"


PRE_REVIEW_MOVES = {"ACCEPT": Status.ACCEPTED, "SUPPLEMENT": Status.NEEDS_SUPPLEMENT,
                    "NOT_ACCEPTED": Status.NOT_ACCEPTED, ON_THE_SPOT: Status.ACCEPTED}
"""The status each pre-review decision moves the application to (from SUBMITTED)."""


class TaskRecord(Model):
    """One human step waiting for a decision."""

    class Meta(TableMeta):
        pass

    SORT_PREFIX = "TASK#"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    task_id = UnicodeAttribute(attr_name="taskId")
    application_id = UnicodeAttribute(attr_name="applicationId")
    kind = UnicodeAttribute()
    department = UnicodeAttribute()
    round = NumberAttribute()
    status = UnicodeAttribute()
    task_token = UnicodeAttribute(attr_name="taskToken")
    created_at = Time(attr_name="createdAt")
    due_at = Time(attr_name="dueAt", null=True)
    decision = UnicodeAttribute(null=True)
    opinion = UnicodeAttribute(null=True)
    missing = JSONAttribute(null=True)
    decided_by = UnicodeAttribute(attr_name="decidedBy", null=True)
    handler = UnicodeAttribute(null=True)
    """经办人: the one staff member (token `sub`) who handles it, in a department whose tasks
    have handlers; none while it waits to be claimed, or when the department handles it."""
    decided_at = Time(attr_name="decidedAt", null=True)
    resume_failed_at = Time(attr_name="resumeFailedAt", null=True)
    """Set when the decision was recorded but the waiting step could not be resumed: the same
    decision, sent again, resumes it (`decide`)."""
    context = JSONAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_department = ListIndex()

    @staticmethod
    def sort_key(identifier: str) -> str:
        return f"{TaskRecord.SORT_PREFIX}{identifier}"

    def to_api(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id, "applicationId": self.application_id, "kind": self.kind,
            "department": self.department, "status": self.status,
            "createdAt": local_time(self.created_at),
            "dueAt": local_time(self.due_at),
            "decision": self.decision, "opinion": self.opinion, "handler": self.handler,
            **({"missing": self.missing} if self.missing else {}),
            **({"context": self.context} if self.context else {}),
        }


def task_id(application_id: str, kind: str, round_: int, department: str) -> str:
    return f"{application_id}.{kind}.{round_}.{department}"


def open_task(application_id: str, kind: str, department: str, round_: int, task_token: str,
              context: dict[str, Any] | None = None, now: datetime | None = None) -> TaskRecord:
    """Open (once) the task the execution waits on, with its clock running; a retried step
    keeps the first task but takes the newest token, so the decision always reaches the
    waiting execution."""
    now = now or datetime.now(UTC)
    identifier = task_id(application_id, kind, round_, department)
    record = ApplicationRecord.load(application_id)
    _keep_promise(application_id, kind, round_, now)
    clock = _start_clock(record, kind, department, round_, identifier, now)
    handler = departments.handling(department).stage_handler(kind)
    task = TaskRecord(
        ApplicationRecord.key(application_id), TaskRecord.sort_key(identifier),
        task_id=identifier, application_id=application_id, kind=kind, department=department,
        round=round_, status=TaskStatus.PENDING, task_token=task_token, created_at=now,
        due_at=clock.deadline if clock else None, context=context, handler=handler,
        gsi1pk=f"DEPT#{department}", gsi1sk=f"{TaskStatus.PENDING}#{now.isoformat()}",
    )
    if not write_if(lambda: _save_new(task, now)):
        task = TaskRecord.get(task.pk, task.sk)  # a retried step: the first task stands
        if task.status == TaskStatus.PENDING:
            task.update(actions=[TaskRecord.task_token.set(task_token)])
        return task
    if kind == REVIEW:
        lifecycle.transition(application_id, Status.IN_REVIEW, "system", "REVIEW_STARTED")
    return task


def _save_new(task: TaskRecord, now: datetime) -> None:
    """Save a new task (once); one assigned as it opens (BY_STAGE) is audited with it."""
    with TransactWrite(connection=connection()) as transaction:
        transaction.save(task, condition=TaskRecord.pk.does_not_exist())
        if task.handler:
            transaction.save(new_audit(
                task.application_id, "system", "TASK_ASSIGNED", None, None,
                {"taskId": task.task_id, "department": task.department, "from": None,
                 "to": task.handler, "reason": "BY_STAGE"}, at=now))


def _keep_promise(application_id: str, kind: str, round_: int, now: datetime) -> None:
    """The promise (总时限) follows the steps the workflow opens (here, not in the API's
    decision, whose calls stay few): review opens after acceptance, which started it; a
    supplement task means the applicant holds the case; the pre-review of a later round means
    the applicant gave it back."""
    if kind == REVIEW:
        start_promise(application_id, round_, now)
    elif kind == SUPPLEMENT:
        promise.hold(application_id, promise.SUPPLEMENT, now)
    elif kind == PRE_REVIEW and round_ > 1:
        promise.release(application_id, promise.SUPPLEMENT, now)


def start_promise(application_id: str, round_: int, now: datetime) -> None:
    """Start the promise from the moment the window accepted (the round's pre-review task
    decided), once; and the clocks of the 容缺 commitments made with the acceptance."""
    if promise.get(application_id) is None:
        try:
            accepted = load_task(task_id(application_id, PRE_REVIEW, round_, WINDOW_QUEUE))
            at = accepted.decided_at or now
        except NotFound:  # accepted in a way that left no task (none today): from now
            at = now
        promise.start(application_id, at)
    commitments.start_clocks(application_id)


def clock_name(kind: str, department: str) -> str:
    """The clock that times a task's step: one acceptance clock per application, one review
    clock per department (kept across supplement rounds, so a pause resumes it)."""
    return ACCEPTANCE_CLOCK if kind == PRE_REVIEW else f"{REVIEW}#{department}"


def _start_clock(record: ApplicationRecord, kind: str, department: str, round_: int,
                 identifier: str, now: datetime) -> clocks.ClockRecord | None:
    """受理 runs 5 working days from submission (then it is accepted by law, art. 32); each
    department's review runs the item's promised days. A supplement's pause resumes here."""
    key = record.pk
    if kind == PRE_REVIEW:
        start = record.submitted_at if round_ == 1 and record.submitted_at else now
        return clocks.start(key, ACCEPTANCE_CLOCK, kind=ACCEPTANCE_CLOCK,
                            subject=record.application_id, department=WINDOW_QUEUE,
                            step="受理", now=start, working_days=ACCEPT_WITHIN_DAYS,
                            action=AUTO_ACCEPT, context={"taskId": identifier})
    if kind == REVIEW:
        item = get_item(record.item_code, int(record.item_version))
        days = promise.within(record.application_id, max(1, item.promised_days), now)
        return clocks.start(key, clock_name(kind, department), kind=REVIEW,
                            subject=record.application_id, department=department,
                            step="审批", now=now, working_days=days,
                            context={"taskId": identifier})
    return None


def load_task(identifier: str) -> TaskRecord:
    application_id = identifier.split(".", 1)[0]
    try:
        return TaskRecord.get(ApplicationRecord.key(application_id),
                              TaskRecord.sort_key(identifier))
    except TaskRecord.DoesNotExist as missing:
        raise NotFound(f"no task {identifier}") from missing


def task_facts(task: TaskRecord, handling: departments.Handling) -> policy.Facts:
    """What the access policy knows of a review task: its department, and (经办人模式) its
    handler, or none while it waits to be claimed."""
    handlers = None
    if handling.by_handler:
        handlers = frozenset({task.handler}) if task.handler else frozenset()
    return policy.Facts(departments=frozenset({task.department}), handlers=handlers)


def _may_decide(caller: Caller, task: TaskRecord, handling: departments.Handling) -> bool:
    if task.kind == PRE_REVIEW:
        return caller.role == WINDOW and _serves(caller, task)
    if task.kind == REVIEW:
        return policy.allows("decideTask", caller, task_facts(task, handling))
    return False


def decide(caller: Caller, identifier: str, payload: Any, sfn: Any,
           now: datetime | None = None) -> TaskRecord:
    """Record a decision once and resume the execution; another department's task is 404, a
    role that decides no task at all is refused (403, the access policy's `decideTask`). In a
    department whose tasks have handlers only the task's handler decides it (a colleague's, and
    the head's, answer is 404), and an unclaimed task is claimed first (409)."""
    policy.permit("decideTask", caller)
    task, clock, handling = _task_and_clock(identifier)
    if not _may_decide(caller, task, handling):
        raise NotFound(f"no task {identifier}")
    decision, opinion, missing = _decision_of(task.kind, payload)
    handler = _handler_deciding(task, handling)
    if task.status == TaskStatus.DECIDED and task.resume_failed_at is not None:
        return _resume_again(task, decision, sfn)
    now = now or datetime.now(UTC)
    if decision == ON_THE_SPOT and task.status == TaskStatus.PENDING:
        _check_on_the_spot(task.application_id)
    return _decide(task, caller.sub, decision, opinion, missing, sfn, now, clock=clock,
                   committed=_commitments_of(task, decision, payload, caller.sub, now),
                   handler=handler)


def _handler_deciding(task: TaskRecord, handling: departments.Handling) -> str | None:
    """The handler who must still hold the task when the decision is written (经办人模式), so
    a reassignment racing the decision wins or loses whole; none when the department handles
    it. An unclaimed task is claimed first."""
    if task.kind != REVIEW or not handling.by_handler:
        return None
    if task.handler is None and task.status == TaskStatus.PENDING:
        raise Conflict(f"task {task.task_id} has no handler yet: claim it first")
    return task.handler


def _commitments_of(task: TaskRecord, decision: str, payload: Any, actor: str,
                    now: datetime) -> list[commitments.CommitmentRecord]:
    """容缺受理: the commitments an acceptance makes (none unless the window lists them)."""
    wanted = commitments.asked(payload)
    if not wanted:
        return []
    if task.kind != PRE_REVIEW or decision != "ACCEPT":
        raise ValidationFailed([FieldError("commitments",
                                           "only an acceptance (ACCEPT) takes commitments")])
    if task.status != TaskStatus.PENDING:
        return []  # decided already: `_decide` answers the conflict
    return commitments.plan(task.application_id, wanted, actor, now)


def _check_on_the_spot(application_id: str) -> None:
    """Only a 即办件 the window decides alone is decided on the spot: a 承诺件, or a 即办件
    whose item names co-departments to review it, is accepted (ACCEPT) and reviewed."""
    record = ApplicationRecord.load(application_id)
    item = get_item(record.item_code, int(record.item_version))
    if item.kind != INSTANT:
        raise Unprocessable(f"{item.name} is a 承诺件 ({item.kind}): accept it for review; "
                            "only a 即办件 is decided on the spot")
    if item.co_departments:
        raise Unprocessable(f"{item.name} is reviewed by {', '.join(item.co_departments)}: "
                            "accept it for their review")
    stored = set(record.stored_materials or [])
    missing = [m.id for m in item.materials if m.required and m.id not in stored]
    if missing:
        raise Unprocessable(f"not every required material is supplied ({', '.join(missing)}): "
                            "a case is decided on the spot only when complete")


def on_the_spot_outcome(application_id: str) -> dict[str, Any]:
    """当场办结: after the window's DECIDED_ON_THE_SPOT, the promise starts from that moment
    and the lifecycle goes on as after an approval (fee, certificate, delivery), with no
    department task opened."""
    decided = [t for t in tasks_of(application_id)
               if t.kind == PRE_REVIEW and t.decision == ON_THE_SPOT]
    start_promise(application_id, int(decided[-1].round) if decided else 1,
                  datetime.now(UTC))
    lifecycle.transition(application_id, Status.IN_REVIEW, "system", "REVIEW_STARTED",
                         detail={"onTheSpot": True})
    return review_outcome(application_id, [{"department": WINDOW_QUEUE, "decision": "APPROVE"}])


def _task_and_clock(identifier: str
                    ) -> tuple[TaskRecord, clocks.ClockRecord | None, departments.Handling]:
    """The task, the clock of its step and how its department handles tasks, in one read (the
    id names all three)."""
    application_id, kind, _round, department = (identifier.split(".", 3) + ["", "", ""])[:4]
    key = ApplicationRecord.key(application_id)
    with TransactGet(connection=connection()) as read:
        task = read.get(TaskRecord, key, TaskRecord.sort_key(identifier))
        clock = read.get(clocks.ClockRecord, key, f"CLOCK#{clock_name(kind, department)}")
        setting = read.get(departments.DepartmentRecord,
                           departments.DepartmentRecord.key(department), "META")
    try:
        found = task.get()
    except TaskRecord.DoesNotExist as missing:
        raise NotFound(f"no task {identifier}") from missing
    return found, _found(clock, clocks.ClockRecord), departments.handling_of(
        _found(setting, departments.DepartmentRecord))


def load_with_handling(identifier: str) -> tuple[TaskRecord, departments.Handling]:
    """Task `identifier` and how its department handles tasks (经办人模式), in one read;
    `NotFound` if there is no such task."""
    task, _clock, handling = _task_and_clock(identifier)
    return task, handling


def _found(future: Any, model: type[Model]) -> Any:
    """What a transactional read of `model` found, or None."""
    try:
        return future.get()
    except model.DoesNotExist:
        return None


def _decide(task: TaskRecord, actor: str, decision: str, opinion: str,
            missing: list[Any] | None, sfn: Any, now: datetime,
            detail: dict[str, Any] | None = None,
            clock: clocks.ClockRecord | None = None,
            committed: list[commitments.CommitmentRecord] | None = None,
            handler: str | None = None) -> TaskRecord:
    # The decision and the change it makes (the application's status, or the review's audit
    # record) are one transaction: both or neither, and no read of the application first.
    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(task, actions=[
                TaskRecord.status.set(TaskStatus.DECIDED), TaskRecord.decision.set(decision),
                TaskRecord.opinion.set(opinion), TaskRecord.missing.set(missing),
                TaskRecord.decided_by.set(actor), TaskRecord.decided_at.set(now),
                TaskRecord.gsi1sk.set(f"{TaskStatus.DECIDED}#{now.isoformat()}"),
            ], condition=_still_pending(handler))
            _apply(transaction, task, actor, decision, opinion, missing, detail,
                   {c.material_id for c in committed or []})
            if committed:
                commitments.save_in(transaction, committed, actor)
            if task.kind == REVIEW and decision == "APPROVE":
                # 容缺: no approval while a committed material is outstanding.
                transaction.condition_check(
                    ApplicationRecord, ApplicationRecord.key(task.application_id),
                    ApplicationRecord.SORT_KEY,
                    condition=ApplicationRecord.outstanding_materials.does_not_exist())
            # A decision ends the step's clock; asking for a supplement only pauses it (the
            # days the applicant spends supplementing are not the department's).
            if decision == "SUPPLEMENT":
                clocks.pause_in(transaction, clock, now)
            else:
                clocks.stop_in(transaction, clock, now, reason=decision)

    if not write_if(write):
        current = load_task(task.task_id)
        if current.status != TaskStatus.PENDING:
            raise Conflict(f"task {task.task_id} has already been decided")
        if handler and current.handler != handler:
            raise Conflict(f"task {task.task_id} was reassigned meanwhile")
        outstanding = commitments.outstanding_of(task.application_id) \
            if decision == "APPROVE" else []
        if outstanding:
            raise Conflict(f"the 容缺 material(s) {', '.join(outstanding)} committed at "
                           "acceptance are outstanding: no approval until supplied")
        raise Conflict(f"application {task.application_id} or the step's clock changed "
                       f"meanwhile (e.g. accepted by law at the deadline)")
    task.status, task.decision = TaskStatus.DECIDED, decision
    task.opinion, task.missing = opinion, missing
    task.decided_by, task.decided_at = actor, now
    task.gsi1sk = f"{TaskStatus.DECIDED}#{now.isoformat()}"
    if task.kind == PRE_REVIEW:
        metrics.add_metric(name=STEP_METRICS[decision], unit=MetricUnit.Count, value=1)
    _resume_decided(sfn, task, now)
    return task


def _still_pending(handler: str | None) -> Any:
    """The condition a decision is written under: still pending, and (经办人模式) still the
    deciding handler's."""
    pending = TaskRecord.status == TaskStatus.PENDING
    return pending & (TaskRecord.handler == handler) if handler else pending


def decision_output(task: TaskRecord) -> dict[str, Any]:
    """What a decided task hands its waiting step: ids and the decision, never the opinion or
    the missing list (free text travels in no execution: its state is limited to 256 KB;
    `review_outcome` reads what it needs from the table)."""
    return {"taskId": task.task_id, "department": task.department, "decision": task.decision}


def _resume_decided(sfn: Any, task: TaskRecord, now: datetime) -> None:
    """Resume the step with the recorded decision. If the engine fails (other than "no longer
    waiting"), the decision stays recorded and is marked for a retry: the same decision sent
    again resumes the step (`decide`), and the caller is told to send it (503)."""
    try:
        _resume(sfn, task, decision_output(task))
    except Exception as error:
        _mark_resume_failed(task, now)
        raise Unavailable(f"decision {task.decision} on task {task.task_id} is recorded, but "
                          "the workflow did not take it yet: send the same decision again",
                          retry_after=2) from error


def _mark_resume_failed(task: TaskRecord, now: datetime) -> None:
    logger.exception("decided, but the step could not be resumed",
                     extra={"taskId": task.task_id, "decision": task.decision})
    try:
        task.update(actions=[TaskRecord.resume_failed_at.set(now)],
                    condition=TaskRecord.status == TaskStatus.DECIDED)
    except Exception:  # noqa: BLE001 - the engine's error is the one to answer
        logger.exception("could not mark the task for a retried resume",
                         extra={"taskId": task.task_id})


def _resume_again(task: TaskRecord, decision: str, sfn: Any) -> TaskRecord:
    """A decision whose resume failed, sent again: resume the step with the decision first
    recorded (another decision is a conflict: the first one stands)."""
    if decision != task.decision:
        raise Conflict(f"task {task.task_id} has already been decided ({task.decision}); "
                       f"send that decision again to resume the workflow")
    _resume_decided(sfn, task, datetime.now(UTC))
    write_if(lambda: task.update(actions=[TaskRecord.resume_failed_at.remove()],
                                 condition=TaskRecord.resume_failed_at.exists()))
    task.resume_failed_at = None
    return task


def _resume(sfn: Any, task: TaskRecord, output: dict[str, Any]) -> None:
    """Resume the step that waits on the task. A step that no longer waits (timed out, or
    stopped with its execution) keeps the decision as recorded: it is logged, not an error."""
    if not workflow.resume(sfn, task.task_token, output):
        logger.warning("decided, but the step no longer waits",
                       extra={"taskId": task.task_id, "decision": task.decision})


def auto_accept(clock: clocks.ClockRecord, now: datetime, sfn: Any) -> None:
    """受理 not decided within 5 working days: by law (行政许可法 art. 32) the application is
    accepted from the day it was received. Decides the waiting pre-review task as the
    system would, so the execution goes on to review."""
    task = load_task(clock.context["taskId"])
    if task.status != TaskStatus.PENDING:
        if task.resume_failed_at is not None:  # decided, but the step did not move yet
            _resume_again(task, task.decision or "", sfn)
        return  # decided just before the deadline
    opinion = "逾期未作出受理决定，自收到申请材料之日起即为受理（行政许可法第三十二条）"
    _decide(task, "system", "ACCEPT", opinion, None, sfn, now,
            detail={"automatic": True, "deadline": clock.deadline.isoformat()})
    metrics.add_metric(name="AutoAccepted", unit=MetricUnit.Count, value=1)


def _decision_of(kind: str, payload: Any) -> tuple[str, str, list[Any] | None]:
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("$", "a JSON object with decision and opinion")])
    errors = validation.errors(_DECISION, payload)
    bounded = {e.path.split(".", 1)[0] for e in errors}
    decision = payload.get("decision")
    if decision not in DECISIONS[kind] and "decision" not in bounded:
        errors.append(FieldError("decision", f"one of {', '.join(sorted(DECISIONS[kind]))}"))
    opinion = payload.get("opinion")
    if (not isinstance(opinion, str) or not opinion.strip()) and "opinion" not in bounded:
        errors.append(FieldError("opinion", "a reason is required (办理意见)"))
    missing = payload.get("missing")
    if decision == "SUPPLEMENT" and (not isinstance(missing, list) or not missing) \
            and "missing" not in bounded:
        errors.append(FieldError("missing", "list every missing or defective material at once"
                                            " (一次性告知)"))
    if errors:
        raise ValidationFailed(errors)
    return decision, opinion.strip(), missing if decision == "SUPPLEMENT" else None


def _apply(transaction: TransactWrite, task: TaskRecord, actor: str, decision: str,
           opinion: str, missing: list[Any] | None, extra: dict[str, Any] | None = None,
           outstanding: set[str] | None = None) -> None:
    """The status change a decision makes by itself (pre-review decides for the window), added
    to the decision's transaction."""
    detail = {"taskId": task.task_id, "department": task.department, "decision": decision,
              "opinion": opinion, **(extra or {})}
    if task.kind == PRE_REVIEW:
        event = "DECIDED_ON_THE_SPOT" if decision == ON_THE_SPOT else f"PRE_REVIEW_{decision}"
        lifecycle.transition_in(
            transaction, task.application_id, Status.SUBMITTED, PRE_REVIEW_MOVES[decision],
            actor, event,
            detail={**detail, **({"missing": missing} if missing else {})},
            updates={"outstanding_materials": outstanding} if outstanding else None)
    else:
        transaction.save(new_audit(task.application_id, actor, f"REVIEW_{decision}", None,
                                   None, detail))


def _serves(caller: Caller, task: TaskRecord) -> bool:
    """Whether the window caller serves the pre-review task's case: a 上报件 is its accepting
    region's window's alone (the region travels in the task's checks, `escalatedFrom`)."""
    from yiwang.applications.escalation import window_serves

    checks = (task.context or {}).get("checks") or {}
    return window_serves(checks.get("escalatedFrom"), caller.region)


def pending_for(caller: Caller) -> list[TaskRecord]:
    """The caller's department's pending tasks (window staff: the window's, less the 上报件
    of other regions), oldest first."""
    caller.require(WINDOW, REVIEWER)
    queue = WINDOW_QUEUE if caller.role == WINDOW else caller.dept
    pending = TaskRecord.by_department.query(f"DEPT#{queue}",
                                             TaskRecord.gsi1sk.startswith(
                                                 f"{TaskStatus.PENDING}#"))
    return [t for t in pending if caller.role != WINDOW or _serves(caller, t)]


def tasks_of(application_id: str) -> list[TaskRecord]:
    return list(TaskRecord.query(ApplicationRecord.key(application_id),
                                 TaskRecord.sk.startswith(TaskRecord.SORT_PREFIX)))


def review_outcome(application_id: str, decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """After every department decided: any REJECT rejects; else any SUPPLEMENT sends it back
    to the applicant; else approved (并联审批: all must approve). `decisions` are what the
    tasks handed their steps (`decision_output`); what was missing is read from the tasks."""
    kinds = {d["decision"] for d in decisions}
    record = ApplicationRecord.load(application_id)
    item = get_item(record.item_code, int(record.item_version))
    if "REJECT" in kinds:
        lifecycle.transition(application_id, Status.REJECTED, "system", "REJECTED",
                          detail={"departments": [d["department"] for d in decisions
                                                  if d["decision"] == "REJECT"]})
        promise.stop(application_id, datetime.now(UTC), "REJECTED")
        outcome = "REJECTED"
    elif "SUPPLEMENT" in kinds:
        missing = [m for d in decisions if d["decision"] == "SUPPLEMENT"
                   for m in load_task(d["taskId"]).missing or []]
        lifecycle.transition(application_id, Status.NEEDS_SUPPLEMENT, "system",
                          "REVIEW_SUPPLEMENT", detail={"missing": missing})
        outcome = "SUPPLEMENT"
    else:
        new_audit(application_id, "system", "APPROVED", Status.IN_REVIEW, Status.IN_REVIEW,
                  {"departments": [d["department"] for d in decisions]}).save()
        outcome = "APPROVED"
        # 行政许可法 art. 44 counts from the decision; an unpaid order expires (7 days) long
        # before the 10 working days, and stops this clock with the application.
        start_issuing_clock(application_id, item.lead_department, datetime.now(UTC))
    return {"outcome": outcome, "feeFen": item.fee_fen,
            "delivery": (record.delivery or {}).get("method", "PICKUP")}


def supplement(caller: Caller, application_id: str, payload: Any, sfn: Any) -> TaskRecord:
    """The applicant has supplied what was missing: back to pre-review (the clock resumes)."""
    record = drafts.load_for(caller, application_id, "supplementApplication")
    if record.status != Status.NEEDS_SUPPLEMENT:
        unresumed = [t for t in tasks_of(application_id)
                     if t.kind == SUPPLEMENT and t.resume_failed_at is not None]
        if unresumed:  # supplied, but the workflow did not take it: sending it again resumes
            return _resume_again(unresumed[-1], SUPPLIED, sfn)
        raise Conflict(f"application {application_id} is {record.status}, nothing to supply")
    if isinstance(payload, dict) and isinstance(payload.get("form"), dict):
        item = get_item(record.item_code, int(record.item_version))
        drafts.validate_draft(item, {"itemCode": record.item_code,
                                           "applicant": record.applicant,
                                           "form": payload["form"],
                                           "delivery": record.delivery})
    open_supplements = [t for t in tasks_of(application_id)
                        if t.kind == SUPPLEMENT and t.status == TaskStatus.PENDING]
    if not open_supplements:
        raise Conflict("the application is not waiting for a supplement yet")
    task = open_supplements[-1]
    updates = {"form": payload["form"]} if isinstance(payload, dict) and isinstance(
        payload.get("form"), dict) else {}
    lifecycle.transition(application_id, Status.SUBMITTED, caller.sub, "SUPPLEMENTED",
                      updates=updates)
    return decide_supplement(task, caller, sfn)


def decide_supplement(task: TaskRecord, caller: Caller, sfn: Any) -> TaskRecord:
    """The supplement task decided (SUPPLIED) and its step resumed; an engine failure leaves it
    retryable, as a decision's (`_resume_decided`: the same supplement sent again resumes)."""
    now = datetime.now(UTC)
    write_or_conflict(lambda: task.update(
        actions=[TaskRecord.status.set(TaskStatus.DECIDED),
                 TaskRecord.decision.set(SUPPLIED),
                 TaskRecord.decided_by.set(caller.sub),
                 TaskRecord.decided_at.set(now),
                 TaskRecord.gsi1sk.set(f"{TaskStatus.DECIDED}#{now.isoformat()}")],
        condition=TaskRecord.status == TaskStatus.PENDING),
        "the supplement was already received")
    task.status, task.decision, task.decided_by, task.decided_at = (
        TaskStatus.DECIDED, SUPPLIED, caller.sub, now)
    _resume_decided(sfn, task, now)
    return task


ISSUING_CLOCK = "CERTIFICATE"
ISSUE_WITHIN_DAYS = 10
"""制证: the certificate is owed within 10 working days of the decision to grant (行政许可法
art. 44). The clock starts with the decision; issuing the certificate stops it."""


def start_issuing_clock(application_id: str, department: str, now: datetime) -> None:
    """制证: the certificate is owed within 10 working days of the decision to grant."""
    clocks.start(ApplicationRecord.key(application_id), ISSUING_CLOCK, kind=ISSUING_CLOCK,
                 subject=application_id, department=department, step="制证", now=now,
                 working_days=promise.within(application_id, ISSUE_WITHIN_DAYS, now))
