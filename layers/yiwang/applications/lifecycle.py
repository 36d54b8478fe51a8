"""办件流转: submission, and every move of an application's status.

Submission moves DRAFT → SUBMITTED with a conditional write and an audit record, and starts
the lifecycle execution named after the application, so a repeated submit starts nothing new.
Every later move goes through `transition` (or `transition_in`, inside a caller's own
transaction), checked against the status table (`yiwang.applications.status`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from yiwang.applications.drafts import load_for
from yiwang.applications.records import ApplicationRecord, application_stub, new_audit
from yiwang.applications.status import Status, check_move
from yiwang.people.access import Caller
from yiwang.platform import workflow
from yiwang.platform.errors import Conflict
from yiwang.platform.observability import MetricUnit, metrics
from yiwang.table.records import AuditRecord, connection
from yiwang.table.writes import write_if, write_or_conflict


def audit_of(application_id: str) -> list[AuditRecord]:
    return list(AuditRecord.query(ApplicationRecord.key(application_id),
                                  AuditRecord.sk.startswith(AuditRecord.SORT_PREFIX)))


def submit(caller: Caller, application_id: str, sfn: Any, state_machine_arn: str,
           now: datetime | None = None) -> ApplicationRecord:
    """DRAFT → SUBMITTED, audited, and the lifecycle execution started (once).

    Three calls: the read, one transaction (status, audit and the execution's ARN, which its
    name makes known before it starts), the start. A repeated submit starts it again, which
    Step Functions answers with the running execution (same name, same input), so an earlier
    submit that failed between the transaction and the start is completed, never doubled.
    """
    record = load_for(caller, application_id, "submitApplication")
    if record.status == Status.SUBMITTED and record.execution_arn:
        _start_lifecycle(sfn, state_machine_arn, application_id)
        return record
    if record.status != Status.DRAFT:
        raise Conflict(f"an application in status {record.status} cannot be submitted")
    check_move(Status.DRAFT, Status.SUBMITTED)
    now = now or datetime.now(UTC)
    record.status = Status.SUBMITTED
    record.submitted_at = now
    record.execution_arn = workflow.execution_arn(state_machine_arn, application_id)
    audit = new_audit(application_id, caller.sub, "SUBMITTED", Status.DRAFT, Status.SUBMITTED)

    from yiwang.catalogue import governance  # 暂停、终止: the item in force, in the same write
    from yiwang.people import agency  # 授权代办: the agent's authority, in the same write

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=ApplicationRecord.status == Status.DRAFT)
            transaction.save(audit)
            agency.in_force_check(transaction, record.agent, caller, now)
            governance.check_open(transaction, record.item_code, now)

    try:
        write_or_conflict(write, "the application changed while it was being submitted")
    except Conflict:
        governance.why_closed(record.item_code, now)  # ItemSuspended/Abolished, if that was why
        if record.agent:
            agency.why_refused(record.agent, caller, now)  # AuthorityEnded, if that was why
        raise
    _start_lifecycle(sfn, state_machine_arn, application_id)
    metrics.add_metric(name="Submitted", unit=MetricUnit.Count, value=1)
    return record


def _start_lifecycle(sfn: Any, state_machine_arn: str, application_id: str) -> str:
    """The application's lifecycle execution, named after it (started once)."""
    return workflow.start(sfn, state_machine_arn, application_id,
                          {"applicationId": application_id})


def transition(application_id: str, to_status: Status, actor: str, event: str, *,
               detail: dict[str, Any] | None = None,
               updates: dict[str, Any] | None = None) -> ApplicationRecord:
    """Move an application to `to_status`, with its audit record, in one conditional
    transaction, if the status table allows the move from its current status
    (`status.check_move`); `Conflict` naming both states (nothing written) otherwise.

    `updates` sets other attributes of the record in the same write (attribute name → value).
    A transition to the status the application already has is a no-op (a repeated step).
    A write elsewhere on the record meanwhile (its version moved, its status did not) is read
    again and the move retried, so an unrelated update never fails a lifecycle step.
    """
    record = ApplicationRecord.load(application_id)
    for _attempt in range(MOVE_ATTEMPTS):
        if record.status == to_status:
            return record  # a repeated step, or a concurrent one made the same move
        from_status = record.status
        if _moved(record, to_status, actor, event, detail, updates):
            return record
        record = ApplicationRecord.load(application_id)
        if record.status not in {from_status, to_status}:
            raise Conflict(f"application {application_id} changed meanwhile")
    raise Conflict(f"application {application_id} changed meanwhile")


MOVE_ATTEMPTS = 3
"""Reads and conditional writes `transition` makes while other writes keep moving the record's
version under it (its status unchanged), before it gives up with `Conflict`."""


def _moved(record: ApplicationRecord, to_status: Status, actor: str, event: str,
           detail: dict[str, Any] | None, updates: dict[str, Any] | None) -> bool:
    """One conditional attempt of `transition` on the record as read: whether it was written
    (False: the record changed meanwhile, and nothing was)."""
    application_id, from_status = record.application_id, record.status
    check_move(from_status, to_status)
    record.status = to_status
    for name, value in (updates or {}).items():
        setattr(record, name, value)
    audit = new_audit(application_id, actor, event, from_status, to_status, detail)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=ApplicationRecord.status == from_status)
            transaction.save(audit)

    return write_if(write)


def transition_in(transaction: TransactWrite, application_id: str, from_status: Status,
                  to_status: Status, actor: str, event: str, *,
                  detail: dict[str, Any] | None = None,
                  updates: dict[str, Any] | None = None) -> AuditRecord:
    """Add the move `from_status` → `to_status` (checked against the status table:
    `Conflict` if it is not a move an application makes), with its audit record, to a
    transaction the caller commits with its own writes (a task's decision, a payment),
    without reading the application: the update is conditional on the status being
    `from_status`, so if it is not the whole transaction is cancelled and nothing is written.
    The version goes up as with every other write. `updates` sets other attributes
    (attribute name → value)."""
    check_move(from_status, to_status)
    actions = ApplicationRecord.moved_to(to_status, application_id)
    actions += [getattr(ApplicationRecord, name).set(value)
                for name, value in (updates or {}).items()]
    transaction.update(application_stub(application_id), actions=actions,
                       condition=ApplicationRecord.status == from_status,
                       add_version_condition=False)
    audit = new_audit(application_id, actor, event, from_status, to_status, detail)
    transaction.save(audit)
    return audit
