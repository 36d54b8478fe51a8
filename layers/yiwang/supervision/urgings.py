"""督办: a supervisor urges a department about one case (an application or a complaint) or about
its work in general, with a reason and a deadline; the department must reply by then
(《运行管理办法》 art. 30: 网上督办; the electronic supervision's 督查督办).

The urging is timed like every other step the platform watches: a clock of kind `URGING` in
the urging's partition, with its own yellow and red cards raised by the timeout check and urge
notices to the department and the supervisors. The department's reply stops the clock.

    OPEN ──reply──► REPLIED

Access patterns:
- an urging by id (detail, reply): pk=`URGING#<id>`, sk=`META`; its trail: sk begins `AUDIT#`;
  its clock: sk=`CLOCK#URGING` (yiwang.deadlines.clocks);
- a department's urgings, newest first: ListIndex gsi1pk=`URGINGS#<department>`,
  gsi1sk=createdAt (supervisors name the department).

Every change is one conditional write of the urging with its audit record (`URGED`,
`URGING_REPLIED`), so a repeated reply is `Conflict`, never a second effect.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.applications.records import ApplicationRecord
from yiwang.calendar import calendar_store
from yiwang.calendar.workdays import SHANGHAI, local_time
from yiwang.catalogue import departments
from yiwang.catalogue.items import get_item
from yiwang.complaints.records import ComplaintNotFound, ComplaintRecord
from yiwang.complaints.records import region_of as complaint_region
from yiwang.deadlines import clocks
from yiwang.people import policy
from yiwang.people.access import REVIEWER, SUPERVISOR, Caller
from yiwang.people.notices import Notice
from yiwang.platform import validation
from yiwang.platform.errors import FieldError, NotFound, Unprocessable, ValidationFailed
from yiwang.platform.statuses import Moves
from yiwang.regions import tree
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, connection, new_audit_for
from yiwang.table.writes import write_or_conflict

CLOCK = KIND = "URGING"
"""The urging's clock: its name in the urging's partition and its kind (cards name it)."""
STEP = "督办回复"
TARGETS = ("APPLICATION", "COMPLAINT", "DEPARTMENT")
MAX_WORKING_DAYS = 30


class UrgingStatus(StrEnum):
    """Where an urging stands."""

    OPEN = "OPEN"
    """The department owes its reply."""
    REPLIED = "REPLIED"


MOVES = Moves("an urging", {UrgingStatus.OPEN: frozenset({UrgingStatus.REPLIED}),
                            UrgingStatus.REPLIED: frozenset()},
              initial={UrgingStatus.OPEN})

_TEXT = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_URGE = {
    "type": "object", "required": ["target", "reason", "workingDays"],
    "properties": {"target": {"enum": list(TARGETS)}, "id": _ID, "department": _ID,
                   "reason": _TEXT,
                   "workingDays": {"type": "integer", "minimum": 1,
                                   "maximum": MAX_WORKING_DAYS}},
    "additionalProperties": False,
}
_REPLY = {"type": "object", "required": ["reply"], "properties": {"reply": _TEXT},
          "additionalProperties": False}


class UrgingRecord(Model):
    """One urging: what it is about, whom it urges, by when, and the department's reply."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    urging_id = UnicodeAttribute(attr_name="urgingId")
    target = UnicodeAttribute()
    target_id = UnicodeAttribute(attr_name="targetId", null=True)
    department = UnicodeAttribute()
    region = UnicodeAttribute(null=True)
    """The region of the case (or department) urged; null on urgings made before regions."""
    reason = UnicodeAttribute()
    working_days = NumberAttribute(attr_name="workingDays")
    due_at = Time(attr_name="dueAt")
    status = UnicodeAttribute()
    urged_by = UnicodeAttribute(attr_name="urgedBy")
    created_at = Time(attr_name="createdAt")
    reply = UnicodeAttribute(null=True)
    replied_by = UnicodeAttribute(attr_name="repliedBy", null=True)
    replied_at = Time(attr_name="repliedAt", null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_department = ListIndex()

    @staticmethod
    def key(urging_id: str) -> str:
        return f"URGING#{urging_id}"

    @staticmethod
    def list_key(department: str) -> str:
        return f"URGINGS#{department}"


@dataclass
class Outcome:
    """An urging after a change, and the notices (站内信) the change sends."""

    urging: UrgingRecord
    notices: list[Notice] = field(default_factory=list)


def _valid(schema: dict[str, Any], payload: Any) -> dict[str, Any]:
    errors = validation.errors(schema, payload)
    if errors:
        raise ValidationFailed(errors)
    return payload


def new_urging_id(now: datetime) -> str:
    """督办编号: `DB` + date + 8 random digits."""
    return f"DB{now.astimezone(SHANGHAI):%Y%m%d}{secrets.randbelow(10**8):08d}"


def facts_of(urging: UrgingRecord) -> policy.Facts:
    """The urged department, and the region of what it is about (supervisors see their
    region's urgings)."""
    return policy.Facts(departments=frozenset({urging.department}),
                        regions=frozenset({urging.region or tree.default_region()}))


def load(urging_id: str) -> UrgingRecord:
    """The urging, or `NotFound`."""
    try:
        return UrgingRecord.get(UrgingRecord.key(urging_id), "META", consistent_read=True)
    except UrgingRecord.DoesNotExist as missing:
        raise NotFound(f"no urging {urging_id}") from missing


def load_for(caller: Caller, urging_id: str, operation_id: str = "getUrging") -> UrgingRecord:
    """The urging if the caller may call `operation_id` on it (the urged department, the
    supervisors); `Forbidden` for a role that may not at all, `NotFound` otherwise."""
    policy.permit(operation_id, caller)
    urging = load(urging_id)
    policy.check(operation_id, caller, facts_of(urging), NotFound(f"no urging {urging_id}"))
    return urging


# ---------------------------------------------------------------------------------------------
# Urging and replying


def urge(caller: Caller, payload: Any, now: datetime | None = None) -> Outcome:
    """督办: a supervisor urges a department about an application (`id`; the item's lead
    department unless one is named), a complaint (`id`; its handling department) or its work
    (`department`), with the reason and the working days it has to reply. Starts the urging's
    clock (cards like every step) and tells the department."""
    policy.permit("createUrging", caller)
    body = _valid(_URGE, payload)
    now = now or datetime.now(UTC)
    target, target_id = body["target"], body.get("id")
    department, region = _department_of(caller, target, target_id, body.get("department"))
    days = body["workingDays"]
    urging_id = new_urging_id(now)
    urging = UrgingRecord(
        UrgingRecord.key(urging_id), "META", urging_id=urging_id, target=target,
        target_id=target_id, department=department, reason=body["reason"].strip(),
        working_days=days, due_at=calendar_store.due(now, days).due,
        status=UrgingStatus.OPEN.value, urged_by=caller.sub, created_at=now, region=region,
        gsi1pk=UrgingRecord.list_key(department), gsi1sk=now.isoformat())
    audit = new_audit_for(urging.pk, caller.sub, "URGED", None, UrgingStatus.OPEN.value, {
        "target": target, "targetId": target_id or "", "department": department,
        "reason": urging.reason, "workingDays": days, "dueAt": local_time(urging.due_at)})

    def save() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(urging, condition=UrgingRecord.pk.does_not_exist())
            transaction.save(audit)

    write_or_conflict(save, "an urging with this id exists; try again")
    clocks.start(urging.pk, CLOCK, kind=KIND, subject=urging_id, department=department,
                 step=STEP, now=now, working_days=days,
                 context={"target": target, "targetId": target_id})
    about = f"{_TARGET_NAMES[target]} {target_id}" if target_id else "本部门工作"
    return Outcome(urging, [Notice(
        f"DEPT#{department}", "URGING", f"督办：{about}",
        f"监察人员就{about}督办：{urging.reason}。请于 {local_time(urging.due_at)} 前回复"
        f"（督办编号 {urging_id}）。",
        target_id if target == "APPLICATION" else None)])


_TARGET_NAMES = {"APPLICATION": "办件", "COMPLAINT": "投诉建议", "DEPARTMENT": "部门"}


def _department_of(caller: Caller, target: str, target_id: str | None,
                   named: str | None) -> tuple[str, str]:
    """The department urged and the region the urging lies in: the department named, else the
    case's (an application's lead department, a complaint's handling department); the case's
    region, or for a department's work the department's. An unknown case or department, or
    one outside the supervisor's region, is `Unprocessable` (as if there were none)."""
    if target == "DEPARTMENT":
        if not named:
            raise ValidationFailed([FieldError("department", "name the department to urge")])
        department = _known(named)
        region = departments.get(department).region or tree.default_region()
        return department, _in_scope(caller, region, f"no department {department}")
    if not target_id:
        raise ValidationFailed([FieldError("id", f"name the {target.lower()} to urge about")])
    if target == "COMPLAINT":
        try:
            complaint = ComplaintRecord.load(target_id)
        except ComplaintNotFound as missing:
            raise Unprocessable(f"no complaint {target_id}") from missing
        region = _in_scope(caller, complaint_region(complaint), f"no complaint {target_id}")
        return (_known(named) if named else complaint.department), region
    try:
        application = ApplicationRecord.get(ApplicationRecord.key(target_id), "META")
    except ApplicationRecord.DoesNotExist as missing:
        raise Unprocessable(f"no application {target_id}") from missing
    region = _in_scope(caller, application.region or tree.default_region(),
                       f"no application {target_id}")
    if application.status == "DRAFT":
        raise Unprocessable(f"application {target_id} has not been submitted")
    if named:
        return _known(named), region
    return get_item(application.item_code, int(application.item_version)).lead_department, region


def _in_scope(caller: Caller, region: str, missing: str) -> str:
    """`region`, if it lies in the caller's; otherwise `Unprocessable` (as for none)."""
    if not policy.in_scope(caller, [region]):
        raise Unprocessable(missing)
    return region


def _known(department: str) -> str:
    if not departments.known(department):
        raise ValidationFailed([FieldError("department", f"no active department {department}")])
    return department


def reply(caller: Caller, urging_id: str, payload: Any,
          now: datetime | None = None) -> Outcome:
    """The urged department replies (OPEN → REPLIED, once: a second reply is `Conflict`); the
    urging's clock stops and the supervisors hear of the reply."""
    urging = load_for(caller, urging_id, "replyUrging")
    body = _valid(_REPLY, payload)
    now = now or datetime.now(UTC)
    replied = MOVES.check_move(urging.status, UrgingStatus.REPLIED).value
    text = body["reply"].strip()
    audit = new_audit_for(urging.pk, caller.sub, "URGING_REPLIED", urging.status, replied,
                          {"reply": text, "department": urging.department,
                           "late": now > urging.due_at})

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(urging, actions=[
                UrgingRecord.status.set(replied), UrgingRecord.reply.set(text),
                UrgingRecord.replied_by.set(caller.sub), UrgingRecord.replied_at.set(now)],
                condition=UrgingRecord.status == urging.status)
            clocks.stop_in(transaction, clocks.get(urging.pk, CLOCK), now, reason=replied)
            transaction.save(audit)

    write_or_conflict(write, f"urging {urging_id} changed meanwhile")
    return Outcome(load(urging_id), [Notice(
        clocks.SUPERVISORS, "URGING_REPLIED", f"督办已回复：{urging_id}",
        f"{urging.department} 回复督办 {urging_id}：{text}")])


# ---------------------------------------------------------------------------------------------
# Reading


def for_department(caller: Caller, department: str | None = None,
                   status: str | None = None) -> list[UrgingRecord]:
    """A department's urgings, newest first: reviewers their own, supervisors name one."""
    caller.require(REVIEWER, SUPERVISOR)
    department = caller.dept if caller.role == REVIEWER else department
    if not department:
        raise ValidationFailed([FieldError("department", "name the department")])
    if status is not None and status not in set(UrgingStatus):
        raise ValidationFailed([FieldError("status", f"one of {', '.join(UrgingStatus)}")])
    found = UrgingRecord.by_department.query(UrgingRecord.list_key(department),
                                             scan_index_forward=False)
    return [u for u in found if (status is None or u.status == status)
            and policy.in_scope(caller, [u.region])]


def present(urging: UrgingRecord) -> dict[str, Any]:
    """The urging as the API shows it, with its clock (cards) and trail."""
    clock = clocks.get(urging.pk, CLOCK)
    trail = AuditRecord.query(urging.pk, AuditRecord.sk.startswith("AUDIT#"))
    return {
        "id": urging.urging_id, "target": urging.target, "targetId": urging.target_id,
        "department": urging.department, "reason": urging.reason,
        "workingDays": int(urging.working_days), "dueAt": local_time(urging.due_at),
        "status": urging.status, "urgedBy": urging.urged_by,
        "createdAt": local_time(urging.created_at), "reply": urging.reply,
        "repliedBy": urging.replied_by, "repliedAt": local_time(urging.replied_at),
        "clock": clock.to_api() if clock else None,
        "history": [{"at": local_time(a.at), "event": a.event, "actor": a.actor,
                     "from": a.from_status, "to": a.to_status} for a in trail],
    }
