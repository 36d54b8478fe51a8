"""经办人与转交: who handles a department's review tasks (docs/rules.md §17).

A department's `handlerMode` (`catalogue.departments.Handling`) decides:
- DEPARTMENT: every reviewer of the department sees and decides its tasks (nothing to claim);
- OWN_TASKS: a task is claimed by one handler (`claim`) or given to one by the head
  (`reassign`); the handler alone sees and decides it, the others see it only while it waits
  to be claimed; the head (科室负责人, token `position` HEAD) sees every task of the department
  and reassigns it with a reason, but never decides in the handler's place;
- BY_STAGE: as OWN_TASKS, and a task is assigned as it opens to the handler the department
  names for its stage (`applications.tasks.open_task`).

Each claim or reassignment is one conditional write with its audit record (TASK_CLAIMED,
TASK_ASSIGNED, TASK_REASSIGNED: from, to, reason, by whom) on the application: two concurrent
claims, one wins and the other is answered 409. The task stays the same task: its deadline and
its step's clock are untouched (转交 does not restart the clock).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from yiwang.applications.records import new_audit
from yiwang.applications.tasks import (
    REVIEW,
    TaskRecord,
    TaskStatus,
    load_with_handling,
    pending_for,
    task_facts,
)
from yiwang.catalogue import departments
from yiwang.people import policy
from yiwang.people.access import REVIEWER, Caller
from yiwang.people.policy import Relation
from yiwang.platform import validation
from yiwang.platform.errors import Conflict, FieldError, NotFound, ValidationFailed
from yiwang.table.records import connection
from yiwang.table.writes import write_if

MAX_REASON = 500
"""转交理由: the longest reason kept (characters)."""
_REASSIGNMENT: dict[str, Any] = {
    "type": "object",
    "required": ["handler", "reason"],
    "additionalProperties": False,
    "properties": {
        "handler": {"type": "string", "minLength": 1, "maxLength": departments.MAX_SUB},
        "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON},
    },
}
_SEEN = frozenset({Relation.HANDLING, Relation.HEADING})
"""The relations that show a reviewer a task in their list."""


def visible_pending(caller: Caller, handler: str | None = None) -> list[TaskRecord]:
    """The pending tasks the caller sees, oldest first: the window's queue; a department's
    tasks, or (经办人模式) a handler's own and those waiting to be claimed, and every one to the
    head. `handler` keeps only that handler's."""
    pending = pending_for(caller)
    if caller.role == REVIEWER:
        handling = departments.handling(caller.dept or "")
        pending = [t for t in pending
                   if policy.relations(caller, task_facts(t, handling)) & _SEEN]
    if handler is not None:
        pending = [t for t in pending if t.handler == handler]
    return pending


def claim(caller: Caller, identifier: str, now: datetime | None = None) -> TaskRecord:
    """领办: the caller takes a task of their department that waits for a handler. Claiming
    one's own task again changes nothing; a task claimed by a colleague meanwhile is 409."""
    policy.permit("claimTask", caller)
    task, handling = _open_task_of(caller, "claimTask", identifier)
    if task.handler == caller.sub:
        return task
    if task.handler is not None:
        raise Conflict(f"task {identifier} is handled by another handler")
    now = now or datetime.now(UTC)
    if not write_if(lambda: _hand_over(task, caller.sub, caller.sub, "TASK_CLAIMED", None,
                                       now)):
        if load_with_handling(identifier)[0].handler == caller.sub:
            return task
        raise Conflict(f"task {identifier} was claimed meanwhile by another handler")
    task.handler = caller.sub
    return task


def reassign(caller: Caller, identifier: str, payload: Any,
             now: datetime | None = None) -> TaskRecord:
    """转交: the head gives a task of their department to a handler, with a reason; the task
    keeps its deadline and clock. A task changed meanwhile (claimed, reassigned, decided) is
    409."""
    policy.permit("reassignTask", caller)
    task, _handling = _open_task_of(caller, "reassignTask", identifier)
    to, reason = _reassignment_of(payload, task, caller)
    event = "TASK_REASSIGNED" if task.handler else "TASK_ASSIGNED"
    now = now or datetime.now(UTC)
    if not write_if(lambda: _hand_over(task, to, caller.sub, event, reason, now)):
        raise Conflict(f"task {identifier} changed meanwhile (claimed, reassigned or decided):"
                       " read it again")
    task.handler = to
    return task


def _open_task_of(caller: Caller, operation: str, identifier: str
                  ) -> tuple[TaskRecord, departments.Handling]:
    """The pending review task `identifier`, if the caller may `operation` it (else 404), of a
    department whose tasks have handlers (else 409)."""
    task, handling = load_with_handling(identifier)
    if task.kind != REVIEW or not policy.allows(operation, caller, task_facts(task, handling)):
        raise NotFound(f"no task {identifier}")
    if not handling.by_handler:
        raise Conflict(f"department {task.department} decides its tasks as one (handlerMode "
                       f"{handling.mode}): they have no handler to claim or reassign")
    if task.status != TaskStatus.PENDING:
        raise Conflict(f"task {identifier} has already been decided")
    return task, handling


def _reassignment_of(payload: Any, task: TaskRecord, caller: Caller) -> tuple[str, str]:
    """The handler and reason of a reassignment, checked; every error listed."""
    errors = validation.errors(_REASSIGNMENT, payload)
    if not errors:
        to, reason = payload["handler"].strip(), payload["reason"].strip()
        if not reason:
            errors.append(FieldError("reason", "a reason is required (转交理由)"))
        if to == caller.sub:
            errors.append(FieldError("handler", "the head oversees and reassigns; a handler "
                                                "decides (上级可以查看但不能操作)"))
        elif to == task.handler:
            errors.append(FieldError("handler", f"{to} already handles the task"))
    if errors:
        raise ValidationFailed(errors)
    return to, reason


def _hand_over(task: TaskRecord, to: str, actor: str, event: str, reason: str | None,
               now: datetime) -> None:
    """Give the task to `to` only if it is still pending with the handler it had when read,
    and audit the change on its application in the same transaction."""
    held = (TaskRecord.handler == task.handler) if task.handler \
        else TaskRecord.handler.does_not_exist()
    with TransactWrite(connection=connection()) as transaction:
        transaction.update(task, actions=[TaskRecord.handler.set(to)],
                           condition=(TaskRecord.status == TaskStatus.PENDING) & held)
        transaction.save(new_audit(
            task.application_id, actor, event, None, None,
            {"taskId": task.task_id, "department": task.department, "from": task.handler,
             "to": to, **({"reason": reason} if reason else {})}, at=now))
