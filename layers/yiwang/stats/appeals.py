"""申诉: a department appeals against one finding of its monthly performance score (for itself
or one of its staff), with its reason; a supervisor upholds the appeal, which takes the finding
out of the score, or dismisses it (000 效能管理: "绩效考核包括考核规则设置、效能评估、申诉管理").

    PENDING ──uphold──► UPHELD
        └────dismiss──► DISMISSED

One appeal per finding: the appeal's id is derived from the month and the finding, and the
first write wins (a second appeal is `Conflict`). Each change is one conditional write with its
audit record (`SCORE_APPEALED`, `SCORE_APPEAL_UPHELD`, `SCORE_APPEAL_DISMISSED`).

Access patterns:
- an appeal by id: pk=`SCOREAPPEAL#<id>`, sk=`META`; its trail: sk begins `AUDIT#`;
- a month's appeals (the scores apply them): ListIndex gsi1pk=`SCOREAPPEALS#<YYYY-MM>`,
  gsi1sk=`<finding id>`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.calendar.workdays import local_time
from yiwang.catalogue.departments import DepartmentRecord
from yiwang.people import policy
from yiwang.people.access import Caller
from yiwang.platform import validation
from yiwang.platform.errors import NotFound, ValidationFailed
from yiwang.platform.statuses import Moves
from yiwang.regions import placement
from yiwang.stats import scores
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, connection, new_audit_for
from yiwang.table.writes import write_or_conflict


class AppealStatus(StrEnum):
    PENDING = "PENDING"
    UPHELD = "UPHELD"
    """The finding is taken out of the score."""
    DISMISSED = "DISMISSED"


MOVES = Moves("an appeal", {
    AppealStatus.PENDING: frozenset({AppealStatus.UPHELD, AppealStatus.DISMISSED}),
    AppealStatus.UPHELD: frozenset(), AppealStatus.DISMISSED: frozenset()},
    initial={AppealStatus.PENDING})

_TEXT = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}
_APPEAL = {"type": "object", "required": ["month", "itemId", "reason"],
           "properties": {"month": {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
                          "itemId": {"type": "string", "minLength": 1, "maxLength": 300},
                          "reason": _TEXT},
           "additionalProperties": False}
_DECIDE = {"type": "object", "required": ["uphold"],
           "properties": {"uphold": {"type": "boolean"},
                          "note": {"type": "string", "maxLength": 2000}},
           "additionalProperties": False}


class AppealRecord(Model):
    """One appeal against one finding of one month's score."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    appeal_id = UnicodeAttribute(attr_name="appealId")
    month = UnicodeAttribute()
    item_id = UnicodeAttribute(attr_name="itemId")
    kind = UnicodeAttribute()
    department = UnicodeAttribute()
    staff = UnicodeAttribute(null=True)
    reason = UnicodeAttribute()
    status = UnicodeAttribute()
    appealed_by = UnicodeAttribute(attr_name="appealedBy")
    created_at = Time(attr_name="createdAt")
    decision = JSONAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_month = ListIndex()

    @staticmethod
    def key(appeal_id: str) -> str:
        return f"SCOREAPPEAL#{appeal_id}"


def appeal_id_of(month: str, item_id: str) -> str:
    """One id per finding of a month (`SS` + 16 hex digits), so a finding is appealed once."""
    return "SS" + hashlib.sha256(f"{month}|{item_id}".encode()).hexdigest()[:16].upper()


def _valid(schema: dict[str, Any], payload: Any) -> dict[str, Any]:
    errors = validation.errors(schema, payload)
    if errors:
        raise ValidationFailed(errors)
    return payload


def facts_of(department: str) -> policy.Facts:
    """An appeal is its department's and lies in the department's region (the default one
    for a department the registry lacks), so a supervisor decides the appeals of their
    region's departments only (the scores they see)."""
    key = DepartmentRecord.key(department)
    return policy.Facts(departments=frozenset({department}),
                        regions=frozenset({placement.regions_of([key])[key]}))


def appeal(caller: Caller, payload: Any, now: datetime | None = None) -> AppealRecord:
    """申诉 by the department a finding counts against (its reviewers), once per finding. A
    finding that is not in the month's score, or not the caller's department's, is
    `NotFound`."""
    policy.permit("appealScore", caller)
    body = _valid(_APPEAL, payload)
    month = scores.parse_month(body["month"])
    now = now or datetime.now(UTC)
    missing = NotFound(f"no finding {body['itemId']} in {month}")
    finding = next((f for f in scores.findings(month) if f.item_id == body["itemId"]), None)
    if finding is None or finding.department != caller.dept:
        raise missing  # not theirs: as for a finding that does not exist
    appeal_id = appeal_id_of(month, finding.item_id)
    record = AppealRecord(
        AppealRecord.key(appeal_id), "META", appeal_id=appeal_id, month=month,
        item_id=finding.item_id, kind=finding.kind, department=finding.department,
        staff=finding.staff, reason=body["reason"].strip(),
        status=AppealStatus.PENDING.value, appealed_by=caller.sub, created_at=now,
        gsi1pk=f"SCOREAPPEALS#{month}", gsi1sk=finding.item_id)
    audit = new_audit_for(record.pk, caller.sub, "SCORE_APPEALED", None, record.status, {
        "month": month, "itemId": finding.item_id, "kind": finding.kind,
        "department": finding.department, "reason": record.reason})

    def save() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=AppealRecord.pk.does_not_exist())
            transaction.save(audit)

    write_or_conflict(save, f"finding {finding.item_id} of {month} has already been appealed")
    return record


def load(appeal_id: str) -> AppealRecord:
    """The appeal, or `NotFound`."""
    try:
        return AppealRecord.get(AppealRecord.key(appeal_id), "META", consistent_read=True)
    except AppealRecord.DoesNotExist as missing:
        raise NotFound(f"no appeal {appeal_id}") from missing


def decide(caller: Caller, appeal_id: str, payload: Any,
           now: datetime | None = None) -> AppealRecord:
    """A supervisor upholds the appeal (the finding no longer counts) or dismisses it; once
    (a second decision is `Conflict`)."""
    policy.permit("decideScoreAppeal", caller)
    record = load(appeal_id)
    policy.check("decideScoreAppeal", caller, facts_of(record.department),
                 NotFound(f"no appeal {appeal_id}"))
    body = _valid(_DECIDE, payload)
    now = now or datetime.now(UTC)
    to = MOVES.check_move(record.status, AppealStatus.UPHELD if body["uphold"]
                          else AppealStatus.DISMISSED).value
    decision = {"by": caller.sub, "at": local_time(now), "note": (body.get("note") or "").strip()}
    audit = new_audit_for(record.pk, caller.sub, f"SCORE_APPEAL_{to}", record.status, to,
                          {"itemId": record.item_id, "month": record.month,
                           "note": decision["note"]})

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(record, actions=[AppealRecord.status.set(to),
                                                AppealRecord.decision.set(decision)],
                               condition=AppealRecord.status == record.status)
            transaction.save(audit)

    write_or_conflict(write, f"appeal {appeal_id} changed meanwhile")
    return load(appeal_id)


def of_month(month: str) -> dict[str, str]:
    """Each appealed finding of the month and its appeal's status."""
    return {record.item_id: record.status
            for record in AppealRecord.by_month.query(f"SCOREAPPEALS#{month}")}


def present(record: AppealRecord) -> dict[str, Any]:
    """The appeal as the API shows it, with its trail."""
    trail = AuditRecord.query(record.pk, AuditRecord.sk.startswith("AUDIT#"))
    return {"id": record.appeal_id, "month": record.month, "itemId": record.item_id,
            "kind": record.kind, "department": record.department, "staff": record.staff,
            "reason": record.reason, "status": record.status,
            "appealedBy": record.appealed_by, "createdAt": local_time(record.created_at),
            "decision": record.decision,
            "history": [{"at": local_time(a.at), "event": a.event, "actor": a.actor,
                         "from": a.from_status, "to": a.to_status} for a in trail]}
