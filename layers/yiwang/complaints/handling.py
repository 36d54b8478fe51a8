"""投诉建议: consultations, complaints and suggestions, per 《运行管理办法》 art. 28-34.

A complaint is registered, classified (its time limit) and routed to the responsible department
at once, because the answer to `POST /complaints` names the department and the deadline. The
department signs for it (签收) or returns it with a reason within 1 working day; after that it
is deemed accepted (the timeout check does this: `yiwang.complaints.steps.deem_accepted`). A
supervisor reroutes a returned complaint, grades its urgency, refuses it with a reason code
(不予受理) or merges it into another; a grading may shorten the limit, never lengthen it. The
department may apply once in the complaint's life for an extension, which a supervisor
approves or refuses (art. 32 (五)); it resolves the complaint, or finds it invalid (无效投诉建议,
art. 32 (六)). A satisfied revisit (回访) closes it; an unsatisfied one sends it back to the
department once, and the next unsatisfied one to the supervisors, who conclude it (art. 34).

Every change is one conditional write of the complaint with its audit record, in one
transaction: two people acting at once never both succeed (the second gets `Conflict`). A
status moves only as `yiwang.complaints.status` allows, through `steps.move`, which also
completes the step the lifecycle execution waited at. The records are in
`yiwang.complaints.records`, classification and routing in `yiwang.complaints.routing`, what a
caller sees in `yiwang.views.complaints`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pynamodb.transactions import TransactWrite

from yiwang.calendar import calendar_store
from yiwang.calendar.workdays import local_time
from yiwang.complaints.records import (
    ComplaintNotFound,
    ComplaintRecord,
    load_for,
    new_complaint_id,
    unchanged,
    write,
)
from yiwang.complaints.routing import (
    CATEGORY_LIMITS,
    CHANNELS,
    REASON_CODES,
    RETURN_WITHIN_DAYS,
    STAFF_CHANNELS,
    URGENCY_LIMITS,
    is_default,
    limit_days,
    may_receive,
    route_by_rules,
    touches_secrets,
)
from yiwang.complaints.status import (
    INITIAL,
    INVALID_REASONS,
    OPEN,
    REOPENINGS,
    ComplaintStatus,
    ExtensionStatus,
    check_extension_move,
    check_move,
)
from yiwang.complaints.steps import DEEM_ACCEPTED, catch_up, move
from yiwang.deadlines import clocks
from yiwang.people.access import SUPERVISOR, WINDOW, Caller
from yiwang.performance import ledger
from yiwang.platform import validation, workflow
from yiwang.platform.errors import (
    Conflict,
    FieldError,
    Forbidden,
    Unprocessable,
    ValidationFailed,
)
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.table.records import connection, new_audit_for
from yiwang.table.writes import write_or_conflict

if TYPE_CHECKING:
    from yiwang.applications.records import ApplicationRecord

ACCEPTANCE_CLOCK, HANDLING_CLOCK = "ACCEPTANCE", "HANDLING"


# ---------------------------------------------------------------------------------------------
# Request bodies

_TEXT = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_REGISTER: dict[str, Any] = {
    "type": "object",
    "required": ["category", "channel", "subject", "content", "contact"],
    "properties": {
        "category": {"enum": sorted(CATEGORY_LIMITS)},
        "urgency": {"enum": sorted(URGENCY_LIMITS)},
        "channel": {"enum": list(CHANNELS)},
        "subject": {**_TEXT, "maxLength": 200},
        "content": {**_TEXT, "maxLength": 5000},
        "department": _ID,
        "applicationId": _ID,
        "contact": {"anyOf": [{**_TEXT, "maxLength": 200},
                              {"type": "object", "maxProperties": 8,
                               "additionalProperties": {"type": ["string", "null"],
                                                        "maxLength": 200}}]},
        "private": {"type": "boolean"},
    },
    "maxProperties": 16,
}
_REASON = {"type": "object", "required": ["reason"], "properties": {"reason": _TEXT}}
_ROUTE = {"type": "object", "required": ["department"],
          "properties": {"department": _ID}}
_URGENCY = {"type": "object", "required": ["urgency"],
            "properties": {"urgency": {"enum": sorted(URGENCY_LIMITS)}}}
_EXTEND = {"type": "object", "required": ["workingDays", "reason"],
           "properties": {"workingDays": {"type": "integer", "minimum": 1, "maximum": 365},
                          "reason": _TEXT}}
_RESOLVE = {"type": "object", "required": ["result"],
            "properties": {"result": _TEXT, "upheld": {"type": "boolean"}, "staff": _ID}}
_DECIDE_EXTENSION = {"type": "object", "required": ["approve"],
                     "properties": {"approve": {"type": "boolean"},
                                    "note": {"type": "string", "maxLength": 2000}}}
_INVALID = {"type": "object", "required": ["reasonCode", "reason"],
            "properties": {"reasonCode": {"enum": sorted(INVALID_REASONS)}, "reason": _TEXT}}
_CONCLUDE = {"type": "object", "required": ["conclusion"], "properties": {"conclusion": _TEXT}}
_REJECT = {"type": "object", "required": ["reasonCode"],
           "properties": {"reasonCode": {"enum": sorted(REASON_CODES)},
                          "detail": {"type": "string", "maxLength": 2000}}}
_MERGE = {"type": "object", "required": ["intoId"],
          "properties": {"intoId": _ID}}
_REVISIT = {"type": "object", "required": ["satisfied"],
            "properties": {"satisfied": {"type": "boolean"},
                           "comment": {"type": "string", "maxLength": 2000}}}


def _valid(schema: dict[str, Any], payload: Any) -> dict[str, Any]:
    """The body if it satisfies `schema`; otherwise every error at its field path."""
    errors = validation.errors(schema, payload)
    if errors:
        raise ValidationFailed(errors)
    return payload


def _department(value: str, path: str = "department") -> str:
    if not may_receive(value):
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
    case = _case(caller, body)
    department, basis = _route(caller, body, case)
    region = _region(caller, case)
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
        registered_by=caller.sub, status=INITIAL.value, department=department, round=1,
        region=region,
        limit_days=limit, created_at=now, merged_ids=[],
        gsi1pk=ComplaintRecord.list_key(department), gsi1sk=now.isoformat(),
        **_routing_times(now, limit))
    audit = new_audit_for(record.pk, caller.sub, "REGISTERED", None, INITIAL.value, {
        "category": record.category, "urgency": record.urgency or "", "channel": record.channel,
        "department": department, "routedBy": basis, "limitDays": limit, "region": region,
        "dueAt": local_time(record.due_at)})

    def save() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=ComplaintRecord.pk.does_not_exist())
            transaction.save(audit)

    write_or_conflict(save, "a complaint with this id exists; try again")
    _start_clocks(record)
    metrics.add_metric(name="ComplaintsOpened", unit=MetricUnit.Count, value=1)
    arn = workflow.start(sfn, state_machine_arn, complaint_id, {"complaintId": complaint_id})
    record.update(actions=[ComplaintRecord.execution_arn.set(arn)])
    return record


def _route(caller: Caller, body: dict[str, Any], case: ApplicationRecord | None
           ) -> tuple[str, str]:
    """转办: the department named; else the lead department of the application concerned;
    else the routing rules. Returns the department and how it was found."""
    if body.get("department"):
        return _department(body["department"]), "NAMED"
    if case is not None:
        from yiwang.catalogue.items import get_item

        return get_item(case.item_code, int(case.item_version)).lead_department, "APPLICATION"
    department = route_by_rules(f"{body['subject']}\n{body['content']}")
    return department, "DEFAULT" if is_default(department) else "RULE"


def _case(caller: Caller, body: dict[str, Any]) -> ApplicationRecord | None:
    """The application the complaint is about, if it names one. Checked even when a
    department is named: one may only complain about an application one can see (anyone
    else's answers 404, as everywhere)."""
    if not body.get("applicationId"):
        return None
    # Imported here: only complaints about an application need the intake module.
    from yiwang.applications import drafts as applications

    return applications.load_for(caller, body["applicationId"])


def _region(caller: Caller, case: ApplicationRecord | None) -> str:
    """属地: the region of the application concerned, else of the window that took it down,
    else the platform's default region."""
    from yiwang.regions import tree

    if case is not None:
        return case.region or tree.default_region()
    if caller.role == WINDOW and tree.known(caller.region):
        return str(caller.region)
    return tree.default_region()


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


# ---------------------------------------------------------------------------------------------
# The handling department: accept, return, extend, resolve


def accept(caller: Caller, complaint_id: str, sfn: Any,
           now: datetime | None = None) -> ComplaintRecord:
    """签收: the handling department takes the complaint on (ROUTED → ACCEPTED)."""
    record = load_for(caller, complaint_id, "acceptComplaint")
    now = now or datetime.now(UTC)
    moved = move(record, ComplaintStatus.ACCEPTED, caller.sub, "ACCEPTED", sfn)
    clocks.stop(record.pk, ACCEPTANCE_CLOCK, now, reason=ComplaintStatus.ACCEPTED.value)
    return moved


def return_(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
            now: datetime | None = None) -> ComplaintRecord:
    """退回: not the department's business, with the reason, within 1 working day of routing
    (later it is deemed accepted: `Conflict`). A supervisor then reroutes it."""
    record = load_for(caller, complaint_id, "returnComplaint")
    body = _valid(_REASON, payload)
    now = now or datetime.now(UTC)
    if record.status == ComplaintStatus.ROUTED and now > record.return_by:
        raise Conflict(f"the return window closed at {local_time(record.return_by)}; the "
                       f"complaint is deemed accepted (a return is due within 1 working day)")
    moved = move(record, ComplaintStatus.RETURNED, caller.sub, "RETURNED", sfn,
                 detail={"reason": body["reason"].strip(), "department": record.department})
    for name in (ACCEPTANCE_CLOCK, HANDLING_CLOCK):
        clocks.stop(record.pk, name, now, reason=ComplaintStatus.RETURNED.value)
    return moved


def extend(caller: Caller, complaint_id: str, payload: Any,
           now: datetime | None = None) -> ComplaintRecord:
    """申请延期: the handling department applies, with a reason, for at most the complaint's
    limit (art. 32 (五)); a supervisor decides (`decide_extension`). One application in the
    complaint's life, whatever its answer and whichever department made it: a second is
    `Conflict`, too long `Unprocessable`. The deadline moves only once approved."""
    record = load_for(caller, complaint_id, "extendComplaint")
    body = _valid(_EXTEND, payload)
    now = now or datetime.now(UTC)
    if record.extension_status or record.extended:
        # (`extended` alone: a complaint extended before requests were recorded.)
        raise Conflict("a complaint may apply for an extension once in its life; this one "
                       f"did ({record.extension_status or 'APPROVED'})")
    if record.status != ComplaintStatus.ACCEPTED:
        raise Conflict(f"only an accepted complaint is extended; this one is {record.status}")
    days, limit = body["workingDays"], int(record.limit_days)
    if days > limit:
        raise Unprocessable(f"an extension is at most the limit of {limit} working days")
    request = {"status": ExtensionStatus.REQUESTED.value, "workingDays": days,
               "reason": body["reason"].strip(), "department": record.department,
               "requestedBy": caller.sub, "requestedAt": local_time(now)}
    write(record, [ComplaintRecord.extension.set(request),
                   ComplaintRecord.extension_status.set(ExtensionStatus.REQUESTED.value)],
          unchanged(record) & ComplaintRecord.extension_status.does_not_exist()
          & (ComplaintRecord.extended == False),  # noqa: E712 - a condition
          new_audit_for(record.pk, caller.sub, "EXTENSION_REQUESTED", record.status,
                        record.status, {"workingDays": days, "reason": request["reason"]}))
    return ComplaintRecord.load(complaint_id)


def decide_extension(caller: Caller, complaint_id: str, payload: Any,
                     now: datetime | None = None) -> ComplaintRecord:
    """A supervisor approves or refuses the department's extension request. Approved: the
    deadline and the handling clock move by the days asked for, counted from the current
    deadline. Only a pending request of a complaint still being handled is decided
    (`Conflict` otherwise)."""
    record = load_for(caller, complaint_id, "decideComplaintExtension")
    body = _valid(_DECIDE_EXTENSION, payload)
    now = now or datetime.now(UTC)
    if not record.extension_status:
        raise Conflict(f"complaint {complaint_id} has no extension request")
    decided = check_extension_move(
        record.extension_status,
        ExtensionStatus.APPROVED if body["approve"] else ExtensionStatus.REFUSED)
    if decided is ExtensionStatus.APPROVED and record.status != ComplaintStatus.ACCEPTED:
        raise Conflict(f"the complaint is {record.status}; only one being handled is extended")
    days = int(record.extension["workingDays"])
    entry = {**record.extension, "status": decided.value, "decidedBy": caller.sub,
             "decidedAt": local_time(now), "note": (body.get("note") or "").strip()}
    actions = [ComplaintRecord.extension.set(entry),
               ComplaintRecord.extension_status.set(decided.value)]
    detail: dict[str, Any] = {"workingDays": days, "note": entry["note"]}
    if decided is ExtensionStatus.APPROVED:
        due = calendar_store.due(record.due_at, days).due
        actions += [ComplaintRecord.extended.set(True), ComplaintRecord.due_at.set(due)]
        detail["dueAt"] = local_time(due)
    write(record, actions,
          unchanged(record) & (ComplaintRecord.extension_status == record.extension_status),
          new_audit_for(record.pk, caller.sub, f"EXTENSION_{decided.value}", record.status,
                        record.status, detail))
    if decided is ExtensionStatus.APPROVED:
        try:
            clocks.extend(record.pk, HANDLING_CLOCK, days, now)
        except ValueError:
            # The record is what counts; a clock out of step only loses its cards.
            logger.warning("handling clock not extended", extra={"complaint": complaint_id})
    return ComplaintRecord.load(complaint_id)


def resolve(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
            now: datetime | None = None) -> ComplaintRecord:
    """办结: the result (ACCEPTED → RESOLVED), saying whether a complaint was upheld (属实) and,
    if so, which staff member it concerned (被投诉人): both count in the performance scores
    (效能台账, same transaction). The handling clock stops and the complainant is asked for the
    revisit."""
    record = load_for(caller, complaint_id, "resolveComplaint")
    body = _valid(_RESOLVE, payload)
    now = now or datetime.now(UTC)
    upheld, staff = bool(body.get("upheld", False)), body.get("staff")
    result = {"result": body["result"].strip(), "by": record.department,
              "at": local_time(now), "upheld": upheld, "staff": staff}
    # 投诉结果认定 counts in the department's (and the staff member's) performance score.
    found = (ledger.entry(ledger.UPHELD_COMPLAINT, complaint_id, record.department, now,
                          staff=staff, detail={"category": record.category}),) if upheld else ()
    moved = move(record, ComplaintStatus.RESOLVED, caller.sub, "RESOLVED", sfn,
                 actions=[ComplaintRecord.resolution.set(result)],
                 detail={"result": result["result"], "upheld": upheld, "staff": staff or "",
                         "department": record.department}, extra=found)
    clocks.stop(record.pk, HANDLING_CLOCK, now, reason=ComplaintStatus.RESOLVED.value)
    return moved


def invalidate(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
               now: datetime | None = None) -> ComplaintRecord:
    """无效投诉建议 (art. 32 (六)): after investigation the department finds the complaint
    unverifiable (确实无法调查核实) or untrue (不属实), with its reason (ACCEPTED → INVALID);
    its clocks stop."""
    record = load_for(caller, complaint_id, "invalidateComplaint")
    body = _valid(_INVALID, payload)
    now = now or datetime.now(UTC)
    entry = {"reasonCode": body["reasonCode"], "ground": INVALID_REASONS[body["reasonCode"]],
             "reason": body["reason"].strip(), "by": record.department, "at": local_time(now)}
    moved = move(record, ComplaintStatus.INVALID, caller.sub, "INVALIDATED", sfn,
                 actions=[ComplaintRecord.invalidation.set(entry)],
                 detail={key: entry[key] for key in ("reasonCode", "reason")})
    clocks.stop_all(record.pk, now, reason=ComplaintStatus.INVALID.value)
    _closed(ComplaintStatus.INVALID)
    return moved


# ---------------------------------------------------------------------------------------------
# Supervisors: reroute, grade, refuse, merge, decide an extension, conclude


def reroute(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
            now: datetime | None = None) -> ComplaintRecord:
    """改派: a returned complaint goes to another department (RETURNED → ROUTED, next round),
    with a fresh return window and handling period. The extension stays as it was: one
    application in the complaint's life, not one per department."""
    record = load_for(caller, complaint_id, "routeComplaint")
    department = _department(_valid(_ROUTE, payload)["department"])
    now = now or datetime.now(UTC)
    limit = int(record.limit_days)
    times = _routing_times(now, limit)
    moved = move(record, ComplaintStatus.ROUTED, caller.sub, "REROUTED", sfn, actions=[
        ComplaintRecord.department.set(department),
        ComplaintRecord.round.set(int(record.round) + 1),
        ComplaintRecord.routed_at.set(times["routed_at"]),
        ComplaintRecord.return_by.set(times["return_by"]),
        ComplaintRecord.due_at.set(times["due_at"]),
        ComplaintRecord.gsi1pk.set(ComplaintRecord.list_key(department)),
    ], detail={"from": record.department, "department": department,
               "dueAt": local_time(times["due_at"])})
    _start_clocks(moved)
    return moved


def grade(caller: Caller, complaint_id: str, payload: Any,
          now: datetime | None = None) -> ComplaintRecord:
    """分级: the supervisor grades the urgency (art. 32 (一)-(三)), which may shorten the limit
    the category set but never lengthens it (`routing.limit_days`); the deadline is counted
    again from routing. Not after an extension (`Conflict`): that was granted against the old
    limit."""
    record = load_for(caller, complaint_id, "gradeComplaint")
    urgency = _valid(_URGENCY, payload)["urgency"]
    now = now or datetime.now(UTC)
    if record.status not in OPEN:
        raise Conflict(f"a complaint that is {record.status} is not graded any more")
    if record.extended:
        raise Conflict("the complaint was extended against its limit; grade it before that")
    if record.urgency == urgency:
        return record
    limit = limit_days(record.category, urgency)
    if limit == int(record.limit_days):
        # The grade is recorded, the deadline stays (a grading never lengthens the limit).
        write(record, [ComplaintRecord.urgency.set(urgency)], unchanged(record),
              new_audit_for(record.pk, caller.sub, "URGENCY_GRADED", record.status,
                            record.status, {"urgency": urgency, "limitDays": limit,
                                            "dueAt": local_time(record.due_at)}))
        return ComplaintRecord.load(complaint_id)
    due = calendar_store.due(record.routed_at, limit).due
    write(record, [ComplaintRecord.urgency.set(urgency), ComplaintRecord.limit_days.set(limit),
                   ComplaintRecord.due_at.set(due)],
          unchanged(record) & (ComplaintRecord.extended == False),  # noqa: E712 - a condition
          new_audit_for(record.pk, caller.sub, "URGENCY_GRADED", record.status, record.status,
                        {"urgency": urgency, "limitDays": limit, "dueAt": local_time(due)}))
    if record.status in (ComplaintStatus.ROUTED, ComplaintStatus.ACCEPTED):
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
    record = load_for(caller, complaint_id, "rejectComplaint")
    body = _valid(_REJECT, payload)
    now = now or datetime.now(UTC)
    rejection = {"reasonCode": body["reasonCode"], "reason": REASON_CODES[body["reasonCode"]],
                 "detail": (body.get("detail") or "").strip()}
    moved = move(record, ComplaintStatus.NOT_ACCEPTED, caller.sub, "NOT_ACCEPTED", sfn,
                 actions=[ComplaintRecord.rejection.set(rejection)], detail=rejection)
    clocks.stop_all(record.pk, now, reason=ComplaintStatus.NOT_ACCEPTED.value)
    _closed(ComplaintStatus.NOT_ACCEPTED)
    return moved


def merge(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
          now: datetime | None = None) -> ComplaintRecord:
    """合并: the same matter raised through several channels is handled once (art. 33). This
    complaint becomes MERGED (its complainant sees where it went); the target lists it."""
    record = load_for(caller, complaint_id, "mergeComplaint")
    into = _valid(_MERGE, payload)["intoId"]
    now = now or datetime.now(UTC)
    if into == complaint_id:
        raise Unprocessable("a complaint is not merged into itself")
    try:
        target = load_for(caller, into, "mergeComplaint")  # one of their region's too
    except ComplaintNotFound as missing:
        raise Unprocessable(f"no complaint {into} to merge into") from missing
    merged = check_move(record.status, ComplaintStatus.MERGED).value
    if target.status not in OPEN:
        raise Conflict(f"complaint {into} is {target.status}; merge into an open one")

    def both() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(record, actions=[ComplaintRecord.status.set(merged),
                                                ComplaintRecord.merged_into.set(into)],
                               condition=unchanged(record))
            transaction.update(target, actions=[ComplaintRecord.merged_ids.set(
                (ComplaintRecord.merged_ids | []).append([complaint_id]))],
                condition=ComplaintRecord.status.is_in(*(status.value for status in OPEN)))
            transaction.save(new_audit_for(record.pk, caller.sub, "MERGED", record.status,
                                           merged, {"intoId": into}))
            transaction.save(new_audit_for(target.pk, caller.sub, "MERGE_RECEIVED",
                                           target.status, target.status,
                                           {"fromId": complaint_id}))

    write_or_conflict(both, f"complaint {complaint_id} or {into} changed meanwhile")
    catch_up(complaint_id, sfn)
    clocks.stop_all(record.pk, now, reason=merged)
    _closed(merged)
    return ComplaintRecord.load(complaint_id)


# ---------------------------------------------------------------------------------------------
# The complainant: revisit


def revisit(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
            now: datetime | None = None) -> ComplaintRecord:
    """回访: the complainant says whether the result satisfies them. Phone and visit
    complainants are revisited by window staff, who record the answer (art. 34).

    Satisfied: RESOLVED → CLOSED. Not satisfied: the problem is handled again (及时核实整改),
    once by the department (→ ACCEPTED, a new round with a fresh handling period); the next
    unsatisfied answer goes to the supervisors (→ ESCALATED), who conclude it."""
    record = load_for(caller, complaint_id, "revisitComplaint")
    body = _valid(_REVISIT, payload)
    now = now or datetime.now(UTC)
    answer = {"satisfied": body["satisfied"], "comment": (body.get("comment") or "").strip()}
    if body["satisfied"]:
        moved = move(record, ComplaintStatus.CLOSED, caller.sub, "REVISITED", sfn,
                     actions=[ComplaintRecord.revisit.set(answer)], detail=answer)
        _closed(ComplaintStatus.CLOSED)
        return moved
    # Art. 34: unsatisfied answers are checked again; operators watch this number.
    metrics.add_metric(name="ComplaintsUnsatisfied", unit=MetricUnit.Count, value=1)
    if int(record.reopened or 0) >= REOPENINGS:
        return move(record, ComplaintStatus.ESCALATED, caller.sub, "ESCALATED", sfn,
                    actions=[ComplaintRecord.revisit.set(answer)],
                    detail={**answer, "department": record.department})
    return _reopen(caller, record, answer, sfn, now)


def _reopen(caller: Caller, record: ComplaintRecord, answer: dict[str, Any], sfn: Any,
            now: datetime) -> ComplaintRecord:
    """Back to the department (RESOLVED → ACCEPTED), a new round with the complaint's limit
    counted afresh from now, and its handling clock started again."""
    limit = int(record.limit_days)
    due = calendar_store.due(now, limit).due
    moved = move(record, ComplaintStatus.ACCEPTED, caller.sub, "REOPENED", sfn, actions=[
        ComplaintRecord.revisit.set(answer),
        ComplaintRecord.reopened.set(int(record.reopened or 0) + 1),
        ComplaintRecord.round.set(int(record.round) + 1),
        ComplaintRecord.resolution.remove(),
        ComplaintRecord.due_at.set(due),
    ], detail={**answer, "department": record.department, "dueAt": local_time(due),
               "previousResult": (record.resolution or {}).get("result", "")})
    clocks.start(record.pk, HANDLING_CLOCK, kind="COMPLAINT", step="投诉办理",
                 subject=record.complaint_id, department=record.department, now=now,
                 working_days=limit, context={"complaintId": record.complaint_id})
    return moved


def conclude(caller: Caller, complaint_id: str, payload: Any, sfn: Any,
             now: datetime | None = None) -> ComplaintRecord:
    """督办结论: the supervisors conclude a complaint whose complainant stayed unsatisfied
    after it was handled again (ESCALATED → CLOSED), with their conclusion."""
    record = load_for(caller, complaint_id, "concludeComplaint")
    body = _valid(_CONCLUDE, payload)
    now = now or datetime.now(UTC)
    entry = {"conclusion": body["conclusion"].strip(), "by": caller.sub, "at": local_time(now)}
    moved = move(record, ComplaintStatus.CLOSED, caller.sub, "CONCLUDED", sfn,
                 actions=[ComplaintRecord.conclusion.set(entry)],
                 detail={"conclusion": entry["conclusion"]})
    _closed(ComplaintStatus.CLOSED)
    return moved


def _closed(status: str) -> None:
    metrics.add_metric(name="ComplaintsClosed", unit=MetricUnit.Count, value=1)
    logger.info("complaint ended", extra={"status": status})
