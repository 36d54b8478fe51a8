"""投诉建议 records: the complaint and the step its lifecycle execution waits at, with the keys
they own, and the one way a complaint changes (a conditional write with its audit record).

Access patterns:
- a complaint by id (detail, every action, every step): pk=`COMPLAINT#<id>`, sk=`META`;
- its history (全程留痕), oldest first: pk=`COMPLAINT#<id>`, sk begins `AUDIT#`;
- the step its execution waits at: pk=`COMPLAINT#<id>`, sk=`STEP#<step>#<round>`;
- its clocks and cards (签收, 办理): pk=`COMPLAINT#<id>`, sk begins `CLOCK#` / `CARD#`;
- a department's complaints, newest first: ListIndex gsi1pk=`COMPLAINTS#<department>`,
  gsi1sk=createdAt.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.calendar.workdays import SHANGHAI
from yiwang.complaints.status import ComplaintStatus
from yiwang.people import policy
from yiwang.people.access import REVIEWER, SUPERVISOR, Caller
from yiwang.platform.errors import FieldError, NotFound, ValidationFailed
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, connection
from yiwang.table.writes import write_or_conflict


class ComplaintNotFound(NotFound):
    """No complaint has this id (the execution's Catch matches this name)."""


class ComplaintRecord(Model):
    """One complaint, consultation or suggestion: its current state (the audit trail holds how
    it got there)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    complaint_id = UnicodeAttribute(attr_name="complaintId")
    category = UnicodeAttribute()
    urgency = UnicodeAttribute(null=True)
    channel = UnicodeAttribute()
    subject = UnicodeAttribute()
    content = UnicodeAttribute()
    contact = JSONAttribute()
    private = BooleanAttribute(default=False)
    application_id = UnicodeAttribute(attr_name="applicationId", null=True)
    owner_sub = UnicodeAttribute(attr_name="ownerSub", null=True)
    registered_by = UnicodeAttribute(attr_name="registeredBy")
    status = UnicodeAttribute()
    department = UnicodeAttribute()
    region = UnicodeAttribute(null=True)
    """The region it lies in (属地): its application's, else the region of the window that took
    it down, else the platform's default region (null on complaints made before regions)."""
    round = NumberAttribute()
    limit_days = NumberAttribute(attr_name="limitDays")
    created_at = Time(attr_name="createdAt")
    routed_at = Time(attr_name="routedAt")
    return_by = Time(attr_name="returnBy")
    due_at = Time(attr_name="dueAt")
    extended = BooleanAttribute(default=False)
    """An extension was approved (the deadline moved)."""
    extension = JSONAttribute(null=True)
    """The one extension request of the complaint's life (art. 32 (五)) and its decision."""
    extension_status = UnicodeAttribute(attr_name="extensionStatus", null=True)
    """The request's `ExtensionStatus`, kept apart so a write can be conditional on it."""
    reopened = NumberAttribute(default=0)
    """How often an unsatisfied revisit sent it back to its department (art. 34)."""
    invalidation = JSONAttribute(null=True)
    conclusion = JSONAttribute(null=True)
    merged_into = UnicodeAttribute(attr_name="mergedInto", null=True)
    merged_ids = ListAttribute(of=UnicodeAttribute, attr_name="mergedIds", default=list)
    resolution = JSONAttribute(null=True)
    revisit = JSONAttribute(null=True)
    rejection = JSONAttribute(null=True)
    execution_arn = UnicodeAttribute(attr_name="executionArn", null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_department = ListIndex()

    @staticmethod
    def key(complaint_id: str) -> str:
        """The complaint's partition key."""
        return f"COMPLAINT#{complaint_id}"

    @staticmethod
    def list_key(department: str) -> str:
        """The department's list of complaints (ListIndex partition)."""
        return f"COMPLAINTS#{department}"

    @classmethod
    def load(cls, complaint_id: str) -> ComplaintRecord:
        """The complaint (read consistently: every action decides on it), or
        `ComplaintNotFound`."""
        try:
            return cls.get(cls.key(complaint_id), "META", consistent_read=True)
        except cls.DoesNotExist as missing:
            raise ComplaintNotFound(f"no complaint {complaint_id}") from missing


class StepRecord(Model):
    """The step an execution waits at, with its task token, until someone moves the complaint
    on (then the token is completed once: WAITING → DONE)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    step = UnicodeAttribute()
    round = NumberAttribute()
    status = UnicodeAttribute()
    task_token = UnicodeAttribute(attr_name="taskToken")
    opened_at = Time(attr_name="openedAt")
    done_at = Time(attr_name="doneAt", null=True)

    PREFIX = "STEP#"

    @classmethod
    def sort_key(cls, step: str, round_: int) -> str:
        """The step's sort key in its complaint's partition."""
        return f"{cls.PREFIX}{step}#{round_}"


def new_complaint_id(now: datetime) -> str:
    """投诉编号: `TS` + date + 8 random digits."""
    return f"TS{now.astimezone(SHANGHAI):%Y%m%d}{secrets.randbelow(10**8):08d}"


def unchanged(record: ComplaintRecord) -> Any:
    """The condition that the complaint is still as it was read (status and round)."""
    return (ComplaintRecord.status == record.status) & (ComplaintRecord.round == record.round)


def write(record: ComplaintRecord, actions: list[Any], condition: Any,
          audit: AuditRecord, extra: tuple[Model, ...] = ()) -> None:
    """Change the complaint with its audit record (and any `extra` record the change makes,
    e.g. a performance ledger entry) in one transaction, if `condition` holds; otherwise
    `Conflict` (someone changed it first)."""
    def transact() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(record, actions=actions, condition=condition)
            transaction.save(audit)
            for item in extra:
                transaction.save(item)

    write_or_conflict(transact, f"complaint {record.complaint_id} changed meanwhile")


def facts_of(record: ComplaintRecord) -> policy.Facts:
    """What the access policy needs of a complaint: its complainant, the window staff who took
    it down, its handling department, its region."""
    return policy.Facts(owner_subs=frozenset({record.owner_sub} if record.owner_sub else ()),
                        entered_by=record.registered_by,
                        departments=frozenset({record.department}),
                        regions=frozenset({region_of(record)}))


def region_of(record: ComplaintRecord) -> str:
    """The complaint's region; the default region for one made before regions."""
    from yiwang.regions import tree

    return record.region or tree.default_region()


def load_for(caller: Caller, complaint_id: str,
             operation_id: str = "getComplaint") -> ComplaintRecord:
    """The complaint, if the caller may call `operation_id` on it (by default: read it);
    `Forbidden` if their role may not at all, `ComplaintNotFound` if it is not theirs (the
    complainant's, their department's, a supervisor's) or there is none."""
    policy.permit(operation_id, caller)
    record = ComplaintRecord.load(complaint_id)
    policy.check(operation_id, caller, facts_of(record),
                 ComplaintNotFound(f"no complaint {complaint_id}"))
    return record


def for_department(caller: Caller, department: str | None = None,
                   status: str | None = None) -> list[ComplaintRecord]:
    """A department's complaints, newest first; reviewers see their own department's,
    supervisors name one and see those of their region (filtered within the Query)."""
    caller.require(REVIEWER, SUPERVISOR)
    department = caller.dept if caller.role == REVIEWER else department
    if not department:
        raise ValidationFailed([FieldError("department", "name the department")])
    if status is not None and status not in set(ComplaintStatus):
        raise ValidationFailed([FieldError("status", f"no status {status}")])
    found = ComplaintRecord.by_department.query(ComplaintRecord.list_key(department),
                                                scan_index_forward=False)
    return [r for r in found if (status is None or r.status == status)
            and policy.in_scope(caller, [region_of(r)])]
