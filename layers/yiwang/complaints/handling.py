"""投诉建议: consultations, complaints and suggestions, per seed 003 arts. 28-34.

A complaint is registered, classified (its time limit) and routed to the responsible department
at once, because the answer to `POST /complaints` names the department and the deadline. The
department signs for it (签收) or returns it with a reason within 1 working day; after that it
is deemed accepted (the timeout check does this). A supervisor reroutes a returned complaint,
grades its urgency, refuses it with a reason code (不予受理) or merges it into another. The
department may extend the handling period once, resolves it, and the complainant's revisit
(回访) closes it.

Every change is one conditional write of the complaint with its audit record, in one
transaction: two people acting at once never both succeed (the second gets `Conflict`). The
complaint lifecycle execution follows the status: at each status someone owes an action, it
waits on a task token (a step record); whoever moves the complaint on completes that token.
Because the execution may reach a step after someone already acted (the department accepts
while the execution is still starting), both sides check: the step writes its token, then reads
the complaint; the actor writes the complaint, then reads the step. At least one of them sees
the other, and a conditional claim on the step lets only one of them complete the token.

Access patterns:
- a complaint by id (detail, every action, every step): pk=`COMPLAINT#<id>`, sk=`META`;
- its history (全程留痕), oldest first: pk=`COMPLAINT#<id>`, sk begins `AUDIT#`;
- the step its execution waits at: pk=`COMPLAINT#<id>`, sk=`STEP#<step>#<round>`;
- its clocks and cards (签收, 办理): pk=`COMPLAINT#<id>`, sk begins `CLOCK#` / `CARD#`;
- a department's complaints, newest first: ListIndex gsi1pk=`COMPLAINTS#<department>`,
  gsi1sk=createdAt.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from botocore.exceptions import ClientError
from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.calendar import calendar_store
from yiwang.calendar.workdays import SHANGHAI
from yiwang.deadlines import clocks
from yiwang.people.access import REVIEWER, SUPERVISOR, WINDOW, Caller
from yiwang.people.notices import Notice
from yiwang.platform import identity, validation
from yiwang.platform.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unprocessable,
    ValidationFailed,
)
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, new_audit_for

# --- Classification (seed 003 art. 32) --------------------------------------------------------

CATEGORY_LIMITS = {"CONSULT": 3, "COMPLAINT": 7, "SUGGESTION": 7}
"""我要咨询 3, 我要投诉 7, 我要建议 7 working days."""
URGENCY_LIMITS = {"URGENT": 3, "GENERAL_URGENT": 5, "NORMAL": 15}
"""Once staff grade the urgency it decides: 紧急 3, 一般紧急 5, 普通 15 working days."""
CHANNELS = ("WEB", "PHONE", "VISIT")
STAFF_CHANNELS = frozenset({"PHONE", "VISIT"})
"""Telephone and visit complaints are taken down by window staff."""
REASON_CODES = {
    "NOT_ONLINE_SERVICE": "不涉及网上政务服务",
    "HARMFUL_CONTENT": "危害国家安全、破坏民族团结、煽动非法集会、扰乱社会秩序、宣扬封建迷信",
    "NO_TARGET_OR_REQUEST": "没有明确被投诉人或者投诉请求，缺少具体内容",
    "ALREADY_IN_PROGRESS": "已经受理或者正在处理解决",
    "CLOSED_NO_NEW_EVIDENCE": "已经办结，无新证明材料对同一事项重复投诉",
    "ABUSE": "无理纠缠、侮辱谩骂，宣泄个人情绪",
    "OTHER_PROCEDURE": "涉及仲裁、信访、纪检监察、行政复议、法律诉讼、信息公开等",
    "UNLAWFUL": "其他违反国家法律法规和有关规定",
}
"""不予受理 reasons, seed 003 art. 31 (一)-(八)."""
RETURN_WITHIN_DAYS = 1
"""Art. 33: a department returns what is not its business within 1 working day, or it is
deemed accepted."""

# --- Statuses and the steps the execution waits at ---------------------------------------------

ROUTED, RETURNED, ACCEPTED = "ROUTED", "RETURNED", "ACCEPTED"
NOT_ACCEPTED, RESOLVED, MERGED, CLOSED = "NOT_ACCEPTED", "RESOLVED", "MERGED", "CLOSED"
OPEN = frozenset({ROUTED, RETURNED, ACCEPTED})
"""Statuses in which a supervisor may still refuse or merge a complaint."""
ENDED = frozenset({NOT_ACCEPTED, MERGED, CLOSED})
STEPS = {"ACCEPTANCE": ROUTED, "REROUTE": RETURNED, "HANDLING": ACCEPTED, "REVISIT": RESOLVED}
"""Each step of the execution, and the status during which it waits."""
STEP_OF = {status: step for step, status in STEPS.items()}
WAITING, DONE = "WAITING", "DONE"

ACCEPTANCE_CLOCK, HANDLING_CLOCK = "ACCEPTANCE", "HANDLING"
DEEM_ACCEPTED = "DEEM_COMPLAINT_ACCEPTED"
"""The acceptance clock's automatic rule (`deem_accepted`), run by the timeout check."""
_STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
_ROUTING_FILE = Path(__file__).parents[1] / "data" / "complaint_routing.json"
_SECRET_WORDS = ("国家秘密", "商业秘密", "个人隐私", "隐私", "保密", "不公开")
"""Content that touches secrets (art. 29) is private even when the complainant did not ask."""


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
    round = NumberAttribute()
    limit_days = NumberAttribute(attr_name="limitDays")
    created_at = Time(attr_name="createdAt")
    routed_at = Time(attr_name="routedAt")
    return_by = Time(attr_name="returnBy")
    due_at = Time(attr_name="dueAt")
    extended = BooleanAttribute(default=False)
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
        return f"COMPLAINT#{complaint_id}"

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


# ---------------------------------------------------------------------------------------------
# Classification, routing, privacy (pure rules)


def limit_days(category: str, urgency: str | None = None) -> int:
    """办理时限 in working days: the urgency once graded, else the category (art. 32)."""
    return URGENCY_LIMITS[urgency] if urgency else CATEGORY_LIMITS[category]


@functools.cache
def routing_rules() -> dict[str, Any]:
    """The routing rules kept as data (`data/complaint_routing.json`)."""
    return json.loads(_ROUTING_FILE.read_text(encoding="utf-8"))


@functools.cache
def known_departments() -> frozenset[str]:
    """Departments a complaint may be routed to: the catalogue's registry and the routing
    rules' own (the default, coordinating office)."""
    # Imported here: the complaint functions' cold starts need no catalogue but this file.
    from yiwang.catalogue.items import SAMPLE_ITEMS

    catalogue = json.loads(SAMPLE_ITEMS.read_text(encoding="utf-8")).get("departments", {})
    rules = routing_rules()
    return frozenset({*catalogue, *rules.get("departments", {}), rules["default"],
                      *(rule["department"] for rule in rules["rules"])})


def route_by_rules(text: str) -> str:
    """The department of the first rule whose keywords `text` contains, else the default."""
    rules = routing_rules()
    for rule in rules["rules"]:
        if any(word in text for word in rule["keywords"]):
            return rule["department"]
    return rules["default"]


def touches_secrets(*texts: str) -> bool:
    """Whether the text names secrets or carries personal identifiers (identity numbers,
    credit codes, mobile numbers), which makes a complaint private (art. 29)."""
    return any(word in text for text in texts for word in _SECRET_WORDS) or any(
        identity.redact(text) != text for text in texts)


def new_complaint_id(now: datetime) -> str:
    """投诉编号: `TS` + date + 8 random digits."""
    return f"TS{now.astimezone(SHANGHAI):%Y%m%d}{secrets.randbelow(10**8):08d}"


# ---------------------------------------------------------------------------------------------
# Request bodies

_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
_REGISTER: dict[str, Any] = {
    "type": "object",
    "required": ["category", "channel", "subject", "content", "contact"],
    "properties": {
        "category": {"enum": sorted(CATEGORY_LIMITS)},
        "urgency": {"enum": sorted(URGENCY_LIMITS)},
        "channel": {"enum": list(CHANNELS)},
        "subject": {**_TEXT, "maxLength": 200},
        "content": {**_TEXT, "maxLength": 5000},
        "department": {"type": "string", "minLength": 1},
        "applicationId": {"type": "string", "minLength": 1},
        "contact": {"anyOf": [{**_TEXT, "maxLength": 200}, {"type": "object"}]},
        "private": {"type": "boolean"},
    },
}
_REASON = {"type": "object", "required": ["reason"], "properties": {"reason": _TEXT}}
_ROUTE = {"type": "object", "required": ["department"],
          "properties": {"department": {"type": "string", "minLength": 1}}}
_URGENCY = {"type": "object", "required": ["urgency"],
            "properties": {"urgency": {"enum": sorted(URGENCY_LIMITS)}}}
_EXTEND = {"type": "object", "required": ["workingDays", "reason"],
           "properties": {"workingDays": {"type": "integer", "minimum": 1}, "reason": _TEXT}}
_RESOLVE = {"type": "object", "required": ["result"], "properties": {"result": _TEXT}}
_REJECT = {"type": "object", "required": ["reasonCode"],
           "properties": {"reasonCode": {"enum": sorted(REASON_CODES)},
                          "detail": {"type": "string"}}}
_MERGE = {"type": "object", "required": ["intoId"],
          "properties": {"intoId": {"type": "string", "minLength": 1}}}
_REVISIT = {"type": "object", "required": ["satisfied"],
            "properties": {"satisfied": {"type": "boolean"}, "comment": {"type": "string"}}}


def _valid(schema: dict[str, Any], payload: Any) -> dict[str, Any]:
    """The body if it satisfies `schema`; otherwise every error at its field path."""
    errors = validation.errors(schema, payload)
    if errors:
        raise ValidationFailed(errors)
    return payload


def _department(value: str, path: str = "department") -> str:
    if value not in known_departments():
        raise ValidationFailed([FieldError(path, f"no department {value}")])
    return value


# ---------------------------------------------------------------------------------------------
# Registration (登记, 分类, 转办)


def register(caller: Caller, payload: Any, sfn: Any, state_machine_arn: str,
             now: datetime | None = None) -> ComplaintRecord:
    """Register, classify and route a complaint (status ROUTED), start its clocks and its
    lifecycle execution. Phone and visit complaints are taken down by window staff, who (like
    supervisors) may grade the urgency at once."""
    body = _valid(_REGISTER, payload)
    if body["channel"] in STAFF_CHANNELS and caller.role != WINDOW:
        raise Forbidden("phone and visit complaints are registered by window staff")
    if "urgency" in body and caller.role not in (WINDOW, SUPERVISOR):
        raise Forbidden("the urgency is graded by staff (窗口、监察人员)")
    department, basis = _route(caller, body)
    now = now or datetime.now(UTC)
    complaint_id = new_complaint_id(now)
    limit = limit_days(body["category"], body.get("urgency"))
    private = bool(body.get("private")) or touches_secrets(body["subject"], body["content"])
    record = ComplaintRecord(
        ComplaintRecord.key(complaint_id), "META", complaint_id=complaint_id,
        category=body["category"], urgency=body.get("urgency"), channel=body["channel"],
        subject=body["subject"], content=body["content"], contact=body["contact"],
        private=private, application_id=body.get("applicationId"),
        owner_sub=None if body["channel"] in STAFF_CHANNELS else caller.sub,
        registered_by=caller.sub, status=ROUTED, department=department, round=1,
        limit_days=limit, created_at=now, merged_ids=[],
        gsi1pk=f"COMPLAINTS#{department}", gsi1sk=now.isoformat(),
        **_routing_times(now, limit))
    audit = new_audit_for(record.pk, caller.sub, "REGISTERED", None, ROUTED, {
        "category": record.category, "urgency": record.urgency or "", "channel": record.channel,
        "department": department, "routedBy": basis, "limitDays": limit,
        "dueAt": _local(record.due_at)})
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.save(record, condition=ComplaintRecord.pk.does_not_exist())
            transaction.save(audit)
    except TransactWriteError as error:
        raise Conflict("a complaint with this id exists; try again") from error
    _start_clocks(record)
    metrics.add_metric(name="ComplaintsOpened", unit=MetricUnit.Count, value=1)
    arn = _start_execution(sfn, state_machine_arn, complaint_id)
    record.update(actions=[ComplaintRecord.execution_arn.set(arn)])
    return record


def _route(caller: Caller, body: dict[str, Any]) -> tuple[str, str]:
    """转办: the department named; else the lead department of the application concerned;
    else the routing rules. Returns the department and how it was found."""
    lead = None
    if body.get("applicationId"):
        # Checked even when a department is named: one may only complain about an
        # application one can see (anyone else's answers 404, as everywhere).
        lead = _lead_department(caller, body["applicationId"])
    if body.get("department"):
        return _department(body["department"]), "NAMED"
    if lead:
        return lead, "APPLICATION"
    department = route_by_rules(f"{body['subject']}\n{body['content']}")
    return department, "DEFAULT" if department == routing_rules()["default"] else "RULE"


def _lead_department(caller: Caller, application_id: str) -> str:
    # Imported here: only complaints about an application need the intake module.
    from yiwang.applications import drafts as applications
    from yiwang.catalogue.items import get_item

    record = applications.load_for(caller, application_id)
    return get_item(record.item_code, int(record.item_version)).lead_department


def _routing_times(now: datetime, limit: int) -> dict[str, datetime]:
    """When the department received it, until when it may return it, and its deadline."""
    return {"routed_at": now,
            "return_by": calendar_store.due(now, RETURN_WITHIN_DAYS).due,
            "due_at": calendar_store.due(now, limit).due}


def _start_clocks(record: ComplaintRecord) -> None:
    """The return window (no cards; deemed accepted when it ends) and the handling period
    (cards), both from routing. Idempotent per round (a stopped clock starts afresh)."""
    common = {"subject": record.complaint_id, "department": record.department,
              "now": record.routed_at}
    clocks.start(record.pk, ACCEPTANCE_CLOCK, kind="COMPLAINT_ACCEPTANCE", step="投诉签收",
                 working_days=RETURN_WITHIN_DAYS, cards=False, action=DEEM_ACCEPTED,
                 context={"complaintId": record.complaint_id, "round": int(record.round)},
                 **common)
    clocks.start(record.pk, HANDLING_CLOCK, kind="COMPLAINT", step="投诉办理",
                 working_days=int(record.limit_days),
                 context={"complaintId": record.complaint_id}, **common)


def _start_execution(sfn: Any, state_machine_arn: str, complaint_id: str) -> str:
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=complaint_id,
                                   input=json.dumps({"complaintId": complaint_id}))[
            "executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:
        return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{complaint_id}"


def _connection() -> Any:
    # The models' own connection, so a transaction goes where the models do.
    return ComplaintRecord._get_connection().connection


# ---------------------------------------------------------------------------------------------
# The handling department: accept, return, extend, resolve


def accept(caller: Caller, complaint_id: str, sfn: Any,
           now: datetime | None = None) -> ComplaintRecord:
    """签收: the handling department takes the complaint on (ROUTED → ACCEPTED)."""
    record = _for_department(caller, complaint_id)
    now = now or datetime.now(UTC)
    moved = _transition(record, ACCEPTED, caller.sub, "ACCEPTED", sfn, allowed={ROUTED})
    clocks.stop(record.pk, ACCEPTANCE_CLOCK, now, reason=ACCEPTED)
    return moved


def return_(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
            now: datetime | None = None) -> ComplaintRecord:
    """退回: not the department's business, with the reason, within 1 working day of routing
    (later it is deemed accepted: `Conflict`). A supervisor then reroutes it."""
    body = _valid(_REASON, payload)
    record = _for_department(caller, complaint_id)
    now = now or datetime.now(UTC)
    if record.status == ROUTED and now > record.return_by:
        raise Conflict(f"the return window closed at {_local(record.return_by)}; the complaint "
                       f"is deemed accepted (seed 003 art. 33)")
    moved = _transition(record, RETURNED, caller.sub, "RETURNED", sfn, allowed={ROUTED},
                        detail={"reason": body["reason"].strip(),
                                "department": record.department})
    for name in (ACCEPTANCE_CLOCK, HANDLING_CLOCK):
        clocks.stop(record.pk, name, now, reason=RETURNED)
    return moved


def extend(caller: Caller, complaint_id: str, payload: Any,
           now: datetime | None = None) -> ComplaintRecord:
    """延期: once, with a reason, by at most the complaint's limit (art. 32 (五)); the handling
    clock's deadline moves with it. Twice is `Conflict`; too long `Unprocessable`."""
    body = _valid(_EXTEND, payload)
    record = _for_department(caller, complaint_id)
    now = now or datetime.now(UTC)
    if record.extended:
        raise Conflict("a complaint is extended once at most")
    if record.status != ACCEPTED:
        raise Conflict(f"only an accepted complaint is extended; this one is {record.status}")
    days, limit = body["workingDays"], int(record.limit_days)
    if days > limit:
        raise Unprocessable(f"an extension is at most the limit of {limit} working days")
    due = calendar_store.due(record.due_at, days).due
    _write(record, [ComplaintRecord.extended.set(True), ComplaintRecord.due_at.set(due)],
           _unchanged(record) & (ComplaintRecord.extended == False),  # noqa: E712 - a condition
           new_audit_for(record.pk, caller.sub, "EXTENDED", record.status, record.status,
                         {"workingDays": days, "reason": body["reason"].strip(),
                          "dueAt": _local(due)}))
    try:
        clocks.extend(record.pk, HANDLING_CLOCK, days, now)
    except ValueError:
        # The record is what counts; a clock out of step only loses its cards.
        logger.warning("handling clock not extended", extra={"complaint": complaint_id})
    return ComplaintRecord.load(complaint_id)


def resolve(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
            now: datetime | None = None) -> ComplaintRecord:
    """办结: the result (ACCEPTED → RESOLVED); the handling clock stops and the complainant is
    asked for the revisit."""
    body = _valid(_RESOLVE, payload)
    record = _for_department(caller, complaint_id)
    now = now or datetime.now(UTC)
    result = {"result": body["result"].strip(), "by": record.department,
              "at": now.astimezone(SHANGHAI).isoformat()}
    moved = _transition(record, RESOLVED, caller.sub, "RESOLVED", sfn, allowed={ACCEPTED},
                        actions=[ComplaintRecord.resolution.set(result)],
                        detail={"result": result["result"]})
    clocks.stop(record.pk, HANDLING_CLOCK, now, reason=RESOLVED)
    return moved


def _for_department(caller: Caller, complaint_id: str) -> ComplaintRecord:
    record = ComplaintRecord.load(complaint_id)
    if caller.role != REVIEWER or caller.dept != record.department:
        raise Forbidden("only the handling department does this")
    return record


# ---------------------------------------------------------------------------------------------
# Supervisors: reroute, grade, refuse, merge


def reroute(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
            now: datetime | None = None) -> ComplaintRecord:
    """改派: a returned complaint goes to another department (RETURNED → ROUTED, next round),
    with a fresh return window and handling period."""
    caller.require(SUPERVISOR)
    department = _department(_valid(_ROUTE, payload)["department"])
    record = ComplaintRecord.load(complaint_id)
    now = now or datetime.now(UTC)
    limit = int(record.limit_days)
    times = _routing_times(now, limit)
    moved = _transition(record, ROUTED, caller.sub, "REROUTED", sfn, allowed={RETURNED}, actions=[
        ComplaintRecord.department.set(department),
        ComplaintRecord.round.set(int(record.round) + 1),
        ComplaintRecord.routed_at.set(times["routed_at"]),
        ComplaintRecord.return_by.set(times["return_by"]),
        ComplaintRecord.due_at.set(times["due_at"]),
        ComplaintRecord.extended.set(False),
        ComplaintRecord.gsi1pk.set(f"COMPLAINTS#{department}"),
    ], detail={"from": record.department, "department": department,
               "dueAt": _local(times["due_at"])})
    _start_clocks(moved)
    return moved


def grade(caller: Caller, complaint_id: str, payload: Any,
          now: datetime | None = None) -> ComplaintRecord:
    """分级: the supervisor grades the urgency, which then sets the limit (art. 32 (一)-(三));
    the deadline is counted again from routing. Not after an extension (`Conflict`): that was
    granted against the old limit."""
    caller.require(SUPERVISOR)
    urgency = _valid(_URGENCY, payload)["urgency"]
    record = ComplaintRecord.load(complaint_id)
    now = now or datetime.now(UTC)
    if record.status not in OPEN:
        raise Conflict(f"a complaint that is {record.status} is not graded any more")
    if record.extended:
        raise Conflict("the complaint was extended against its limit; grade it before that")
    if record.urgency == urgency:
        return record
    limit = limit_days(record.category, urgency)
    due = calendar_store.due(record.routed_at, limit).due
    _write(record, [ComplaintRecord.urgency.set(urgency), ComplaintRecord.limit_days.set(limit),
                    ComplaintRecord.due_at.set(due)],
           _unchanged(record) & (ComplaintRecord.extended == False),  # noqa: E712 - a condition
           new_audit_for(record.pk, caller.sub, "URGENCY_GRADED", record.status, record.status,
                         {"urgency": urgency, "limitDays": limit, "dueAt": _local(due)}))
    if record.status in (ROUTED, ACCEPTED):
        # The handling period runs again from routing with the new limit (its cards too).
        clocks.stop(record.pk, HANDLING_CLOCK, now, reason="REGRADED")
        record.limit_days = limit
        clocks.start(record.pk, HANDLING_CLOCK, kind="COMPLAINT", subject=complaint_id,
                     department=record.department, step="投诉办理", now=record.routed_at,
                     working_days=limit, context={"complaintId": complaint_id})
    return ComplaintRecord.load(complaint_id)


def reject(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
           now: datetime | None = None) -> ComplaintRecord:
    """不予受理, with one of the reason codes of art. 31 (→ NOT_ACCEPTED); its clocks stop."""
    caller.require(SUPERVISOR)
    body = _valid(_REJECT, payload)
    record = ComplaintRecord.load(complaint_id)
    now = now or datetime.now(UTC)
    rejection = {"reasonCode": body["reasonCode"], "reason": REASON_CODES[body["reasonCode"]],
                 "detail": (body.get("detail") or "").strip()}
    moved = _transition(record, NOT_ACCEPTED, caller.sub, "NOT_ACCEPTED", sfn, allowed=OPEN,
                        actions=[ComplaintRecord.rejection.set(rejection)], detail=rejection)
    clocks.stop_all(record.pk, now, reason=NOT_ACCEPTED)
    _closed(NOT_ACCEPTED)
    return moved


def merge(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
          now: datetime | None = None) -> ComplaintRecord:
    """合并: the same matter raised through several channels is handled once (art. 33). This
    complaint becomes MERGED (its complainant sees where it went); the target lists it."""
    caller.require(SUPERVISOR)
    into = _valid(_MERGE, payload)["intoId"]
    record = ComplaintRecord.load(complaint_id)
    now = now or datetime.now(UTC)
    if into == complaint_id:
        raise Unprocessable("a complaint is not merged into itself")
    try:
        target = ComplaintRecord.load(into)
    except ComplaintNotFound as missing:
        raise Unprocessable(f"no complaint {into} to merge into") from missing
    if record.status not in OPEN:
        raise Conflict(f"a complaint that is {record.status} is not merged")
    if target.status not in OPEN:
        raise Conflict(f"complaint {into} is {target.status}; merge into an open one")
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.update(record, actions=[ComplaintRecord.status.set(MERGED),
                                                ComplaintRecord.merged_into.set(into)],
                               condition=_unchanged(record))
            transaction.update(target, actions=[ComplaintRecord.merged_ids.set(
                (ComplaintRecord.merged_ids | []).append([complaint_id]))],
                condition=ComplaintRecord.status.is_in(*OPEN))
            transaction.save(new_audit_for(record.pk, caller.sub, "MERGED", record.status,
                                           MERGED, {"intoId": into}))
            transaction.save(new_audit_for(target.pk, caller.sub, "MERGE_RECEIVED",
                                           target.status, target.status,
                                           {"fromId": complaint_id}))
    except TransactWriteError as error:
        _raise_conflict(error, f"complaint {complaint_id} or {into} changed meanwhile")
    _catch_up(complaint_id, sfn)
    clocks.stop_all(record.pk, now, reason=MERGED)
    _closed(MERGED)
    return ComplaintRecord.load(complaint_id)


# ---------------------------------------------------------------------------------------------
# The complainant: revisit


def revisit(caller: Caller, complaint_id: str, payload: Any, sfn: Any) -> ComplaintRecord:
    """回访: the complainant says whether the result satisfies them (RESOLVED → CLOSED). Phone
    and visit complainants are revisited by window staff, who record the answer (art. 34)."""
    body = _valid(_REVISIT, payload)
    record = ComplaintRecord.load(complaint_id)
    by_window = caller.role == WINDOW and record.channel in STAFF_CHANNELS
    if not (record.owner_sub and caller.sub == record.owner_sub) and not by_window:
        raise Forbidden("the complainant answers the revisit")
    answer = {"satisfied": body["satisfied"], "comment": (body.get("comment") or "").strip()}
    moved = _transition(record, CLOSED, caller.sub, "REVISITED", sfn, allowed={RESOLVED},
                        actions=[ComplaintRecord.revisit.set(answer)], detail=answer)
    _closed(CLOSED)
    if not body["satisfied"]:
        # Art. 34: unsatisfied answers are checked again; operators watch this number.
        metrics.add_metric(name="ComplaintsUnsatisfied", unit=MetricUnit.Count, value=1)
    return moved


def _closed(status: str) -> None:
    metrics.add_metric(name="ComplaintsClosed", unit=MetricUnit.Count, value=1)
    logger.info("complaint ended", extra={"status": status})


# ---------------------------------------------------------------------------------------------
# Writing a change


def _unchanged(record: ComplaintRecord) -> Any:
    """The condition that the complaint is still as it was read (status and round)."""
    return (ComplaintRecord.status == record.status) & (ComplaintRecord.round == record.round)


def _transition(record: ComplaintRecord, to: str, actor: str, event: str, sfn: Any, *,
                allowed: Iterable[str], actions: list[Any] | None = None,
                detail: dict[str, Any] | None = None) -> ComplaintRecord:
    """Move the complaint to `to` if it is in one of `allowed` and nobody moved it meanwhile
    (`Conflict` otherwise), audited in the same transaction; then resume the execution's step
    that waited on the old status."""
    if record.status not in set(allowed):
        raise Conflict(f"complaint {record.complaint_id} is {record.status}")
    _write(record, [ComplaintRecord.status.set(to), *(actions or [])], _unchanged(record),
           new_audit_for(record.pk, actor, event, record.status, to, detail))
    _catch_up(record.complaint_id, sfn)
    return ComplaintRecord.load(record.complaint_id)


def _write(record: ComplaintRecord, actions: list[Any], condition: Any,
           audit: AuditRecord) -> None:
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.update(record, actions=actions, condition=condition)
            transaction.save(audit)
    except TransactWriteError as error:
        _raise_conflict(error, f"complaint {record.complaint_id} changed meanwhile")


def _raise_conflict(error: TransactWriteError, message: str) -> NoReturn:
    reasons = [r.code for r in error.cancellation_reasons if r]
    if "ConditionalCheckFailed" in reasons or error.cause_response_code == \
            "ConditionalCheckFailedException":
        raise Conflict(message) from error
    raise error


# ---------------------------------------------------------------------------------------------
# The execution's steps (task tokens)


@dataclass
class Opened:
    """What opening a step did: whether the execution waits there, the notices to send."""

    step: str
    waiting: bool
    notices: list[Notice] = field(default_factory=list)


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
    record = StepRecord(key, f"STEP#{step}#{round_}", step=step, round=round_, status=WAITING,
                        task_token=task_token, opened_at=now)
    first = True
    try:
        record.save(condition=StepRecord.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        # A retried step: the newest token is the one the execution waits on.
        first = False
        record.update(actions=[StepRecord.status.set(WAITING),
                               StepRecord.task_token.set(task_token)])
    complaint = ComplaintRecord.load(complaint_id)  # read after the token is written
    if not _waits(complaint, step, round_):
        _complete(record, sfn)
        return Opened(step, waiting=False)
    return Opened(step, waiting=True, notices=_step_notices(complaint, step) if first else [])


def _waits(complaint: ComplaintRecord, step: str, round_: int) -> bool:
    return complaint.status == STEPS[step] and int(complaint.round) == round_


def _catch_up(complaint_id: str, sfn: Any) -> None:
    """After moving the complaint on, complete every step that no longer waits (if the
    execution has reached it; otherwise the step completes itself when it opens). Also
    repairs a step whose completion failed before (the next change completes it)."""
    complaint = ComplaintRecord.load(complaint_id)
    for step in StepRecord.query(complaint.pk, StepRecord.sk.startswith("STEP#"),
                                 StepRecord.status == WAITING, consistent_read=True):
        if not _waits(complaint, step.step, int(step.round)):
            _complete(step, sfn)


def _complete(step: StepRecord, sfn: Any) -> None:
    """Claim the step (WAITING → DONE, once) and hand the execution the complaint's current
    status and round, which decide where it goes next."""
    try:
        step.update(actions=[StepRecord.status.set(DONE),
                             StepRecord.done_at.set(datetime.now(UTC))],
                    condition=(StepRecord.status == WAITING)
                    & (StepRecord.task_token == step.task_token))
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return  # someone else completed it
        raise
    current = ComplaintRecord.get(step.pk, "META", consistent_read=True)
    try:
        sfn.send_task_success(taskToken=step.task_token, output=json.dumps(
            {"status": current.status, "round": int(current.round)}))
    except ClientError as error:
        if error.response["Error"]["Code"] in _STALE_TOKEN_ERRORS:
            # The execution no longer waits (it timed out or was stopped): nothing to resume.
            logger.warning("complaint step token is stale", extra={"step": step.sk})
            return
        step.update(actions=[StepRecord.status.set(WAITING), StepRecord.done_at.remove()])
        raise


def _step_notices(complaint: ComplaintRecord, step: str) -> list[Notice]:
    """Who must act at a step hears of it (站内信)."""
    ident = complaint.complaint_id
    if step == "ACCEPTANCE":
        return [Notice(f"DEPT#{complaint.department}", "COMPLAINT_ROUTED",
                       f"投诉建议待签收：{ident}",
                       f"请于 {_local(complaint.return_by)} 前签收或说明理由退回，逾期视为已受理；"
                       f"办理时限 {_local(complaint.due_at)}。")]
    if step == "REROUTE":
        return [Notice(clocks.SUPERVISORS, "COMPLAINT_RETURNED", f"投诉建议被退回：{ident}",
                       f"{complaint.department} 退回了投诉建议 {ident}，请改派。")]
    if step == "REVISIT" and complaint.owner_sub:
        return [Notice(complaint.owner_sub, "COMPLAINT_RESOLVED", f"投诉建议已办结：{ident}",
                       "请查看办理结果，并告诉我们您是否满意（回访）。")]
    return []


def deem_accepted(clock: clocks.ClockRecord, now: datetime, sfn: Any) -> list[Notice]:
    """Not returned within 1 working day: deemed accepted (视为已受理, art. 33). Run by the
    timeout check at the return window's end; completes the waiting step like an accept."""
    context = clock.context or {}
    record = ComplaintRecord.load(context["complaintId"])
    if record.status != ROUTED or int(record.round) != int(context.get("round", 0)):
        _catch_up(record.complaint_id, sfn)  # a retried rule: the step may still wait
        return []  # accepted, returned or rerouted just before
    try:
        _transition(record, ACCEPTED, "system", "DEEMED_ACCEPTED", sfn, allowed={ROUTED},
                    detail={"automatic": True, "returnBy": _local(record.return_by)})
    except Conflict:
        return []
    metrics.add_metric(name="ComplaintsDeemedAccepted", unit=MetricUnit.Count, value=1)
    return [Notice(f"DEPT#{record.department}", "COMPLAINT_DEEMED_ACCEPTED",
                   f"投诉建议视为已受理：{record.complaint_id}",
                   f"1个工作日内未退回，视为已受理；请于 {_local(record.due_at)} 前办结。")]


# ---------------------------------------------------------------------------------------------
# Reading


def _local(moment: datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).isoformat() if moment else None


def receipt(record: ComplaintRecord) -> dict[str, Any]:
    """What registering answers (`201`): the id, status, department and deadline."""
    return {"id": record.complaint_id, "status": record.status,
            "department": record.department, "dueAt": _local(record.due_at)}


def get(caller: Caller, complaint_id: str) -> dict[str, Any]:
    """`GET /complaints/{id}`: any signed-in caller; private content withheld (see
    `present`)."""
    return present(ComplaintRecord.load(complaint_id), caller)


def handles(caller: Caller, record: ComplaintRecord) -> bool:
    """Who sees everything, private content and contact included (art. 29): the complainant,
    the handling department, supervisors, and the window staff who took it down."""
    return (caller.role == SUPERVISOR
            or caller.role == REVIEWER and caller.dept == record.department
            or caller.sub in {record.owner_sub, record.registered_by})


def present(record: ComplaintRecord, caller: Caller) -> dict[str, Any]:
    """The complaint as API.md shows it. Others (another department, other applicants) see
    its progress; the content of a private complaint and anyone's contact are withheld."""
    full = handles(caller, record)
    content = full or not record.private
    answer: dict[str, Any] = {
        "id": record.complaint_id, "category": record.category, "urgency": record.urgency,
        "status": record.status, "department": record.department,
        "createdAt": _local(record.created_at), "dueAt": _local(record.due_at),
        "extended": bool(record.extended), "channel": record.channel,
        "limitDays": int(record.limit_days), "returnBy": _local(record.return_by),
        "private": bool(record.private), "applicationId": record.application_id,
        "subject": record.subject if content else None,
        "content": record.content if content else None,
        "contact": record.contact if full else None,
        "withheld": [] if full else ["contact"] if content else [
            "subject", "content", "contact", "resolution", "revisit", "history.detail"],
        "history": history(record, content, full),
    }
    if record.merged_into:
        answer["mergedInto"] = record.merged_into
    if record.merged_ids:
        answer["mergedIds"] = list(record.merged_ids)
    if record.rejection:
        answer["rejection"] = {**record.rejection, **({} if content else {"detail": None})}
    if record.resolution:
        answer["resolution"] = record.resolution if content else None
    if record.revisit:
        answer["revisit"] = record.revisit if content else None
    return answer


_CLOCK_EVENTS = ("CLOCK_", "YELLOW_CARD", "RED_CARD")


def history(record: ComplaintRecord, detail: bool, actor: bool) -> list[dict[str, Any]]:
    """The complaint's own events, oldest first (the clocks' records stay with supervision)."""
    trail = AuditRecord.query(record.pk, AuditRecord.sk.startswith("AUDIT#"))
    return [{"at": _local(a.at), "event": a.event, "from": a.from_status, "to": a.to_status,
             **({"actor": a.actor} if actor else {}),
             **({"detail": a.detail.as_dict()} if detail and a.detail else {})}
            for a in trail if not a.event.startswith(_CLOCK_EVENTS)]


def for_department(caller: Caller, department: str | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
    """`GET /complaints`: a department's complaints, newest first; reviewers see their own
    department's, supervisors name one."""
    caller.require(REVIEWER, SUPERVISOR)
    department = caller.dept if caller.role == REVIEWER else department
    if not department:
        raise ValidationFailed([FieldError("department", "name the department")])
    if status is not None and status not in {*OPEN, *ENDED, RESOLVED}:
        raise ValidationFailed([FieldError("status", f"no status {status}")])
    found = ComplaintRecord.by_department.query(f"COMPLAINTS#{department}",
                                                scan_index_forward=False)
    return [present(r, caller) for r in found if status is None or r.status == status]
