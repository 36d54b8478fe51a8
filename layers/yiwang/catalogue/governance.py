"""事项管理: service items governed by the reform office (审改部门, the administrators) and the
item's own department.

- A department drafts its own items (new items with itself as the lead department, new versions
  of items it leads) and submits a draft for review (`items.submit`); the reform office
  publishes it (`items.publish`) or returns it with reasons (`items.return_version`), and the
  department drafts a changed version and submits again. A published version never changes.
- The reform office suspends, resumes and abolishes an item (暂停、恢复、终止) from an
  effective date (`change_standing`; the rules in `yiwang.catalogue.standing`).
- Intake: a new application is drafted only for an item in force (`open_item`), and submitted
  only while it is (`open_condition`, a condition in the submission's own transaction, and
  `why_closed` to explain a refusal). Applications already submitted go on under the version
  they were made under.

Every change writes an audit record on the item in the same transaction (`items.audit_trail`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from yiwang.catalogue import standing
from yiwang.catalogue.items import (
    ItemHeadRecord,
    ItemVersion,
    get_item,
    head_record,
    item_key,
    transact,
)
from yiwang.platform.errors import Conflict, FieldError, ValidationFailed
from yiwang.table.records import AuditRecord, new_audit_for

MAX_REASONS = 20
MAX_REASON = 500


def require_own(payload: Any, department: str | None) -> None:
    """A department drafts only items it leads: `ValidationFailed` on `leadDepartment`
    otherwise (the reform office may draft for any department)."""
    lead = payload.get("leadDepartment") if isinstance(payload, dict) else None
    if lead != department:
        raise ValidationFailed([FieldError(
            "leadDepartment", f"a department drafts its own items: the lead department is "
                              f"{department}")])


def parse_reasons(body: Any) -> list[str]:
    """The reasons of a return (退回理由), `{"reasons": [..]}`: 1 to 20, each 1 to 500
    characters."""
    reasons = body.get("reasons") if isinstance(body, dict) else None
    extra = sorted(set(body) - {"reasons"}) if isinstance(body, dict) else []
    errors = [FieldError(name, "unknown field") for name in extra]
    if (not isinstance(reasons, list) or not 1 <= len(reasons) <= MAX_REASONS
            or not all(isinstance(r, str) and r.strip() and len(r) <= MAX_REASON
                       for r in reasons)):
        errors.append(FieldError("reasons", f"1 to {MAX_REASONS} reasons, each of 1 to "
                                            f"{MAX_REASON} characters"))
    if errors:
        raise ValidationFailed(errors)
    return [r.strip() for r in reasons]  # type: ignore[union-attr]


def change_standing(code: str, body: Any, actor: str,
                    now: datetime | None = None) -> dict[str, Any]:
    """暂停、恢复、终止: the reform office's change of an item's standing, from an effective
    date (today or later, Asia/Shanghai), with a reason; audited. Returns the item's standing
    today and every change. `Conflict` for a change the rules refuse (`standing.check_change`),
    or for an item never published."""
    now = now or datetime.now(UTC)
    day = standing.today(now)
    change, effective, reason = standing.parse_change(body, day)
    head = head_record(code)
    if head.published_version is None:
        raise Conflict(f"item {code} was never published: it has no standing to change")
    before = standing.check_change(head.standing_changes, change, effective, day)
    changes = [*(head.standing_changes or []),
               standing.entry(change, effective, reason, actor, now)]
    closed, reopened = standing.closing_period(changes)
    audit = new_audit_for(item_key(code), actor, f"ITEM_{change}", before,
                          standing.CHANGES[change],
                          {"effectiveDate": effective.isoformat(), "reason": reason})

    def writes(transaction: TransactWrite) -> None:
        transaction.update(head, actions=[
            ItemHeadRecord.standing_changes.set(changes),
            ItemHeadRecord.closed_from.set(closed),
            (ItemHeadRecord.reopen_from.set(reopened) if reopened
             else ItemHeadRecord.reopen_from.remove()),
            ItemHeadRecord.updated_at.set(now)])
        transaction.save(audit)

    transact(writes, f"item {code} changed meanwhile; reload it and try again")
    return {"code": code, **standing.view(changes, day)}


def open_item(code: str, now: datetime | None = None) -> ItemVersion:
    """The published version of an item in force, for a new application (one read);
    `ItemSuspended` / `ItemAbolished` when it is not in force today, `NotFound` if none."""
    item = get_item(code, now=now)
    refusal = standing.refusal(item.standing or standing.ACTIVE, code)
    if refusal is not None:
        raise refusal
    return item


def open_condition(now: datetime | None = None) -> Condition:
    """The condition on the item's head under which a draft may be submitted on `now`'s day:
    no closing, or one that begins later, or one that a resumption has ended by then."""
    day = standing.today(now).isoformat()
    return (ItemHeadRecord.closed_from.does_not_exist()
            | (ItemHeadRecord.closed_from > day)
            | (ItemHeadRecord.reopen_from <= day))


def check_open(transaction: TransactWrite, code: str, now: datetime | None = None) -> None:
    """Add to `transaction` the check that item `code` is in force (see `open_condition`)."""
    transaction.condition_check(ItemHeadRecord, item_key(code), "META",
                                condition=open_condition(now))


def why_closed(code: str, now: datetime | None = None) -> None:
    """Raise `ItemSuspended` / `ItemAbolished` if the item is not in force on `now`'s day
    (after a refused submission, to tell why); return quietly otherwise."""
    refusal = standing.refusal(head_record(code).standing_on(standing.today(now)), code)
    if refusal is not None:
        raise refusal


def history(code: str) -> list[dict[str, Any]]:
    """全程留痕: every recorded change of the item, oldest first, as the API answers it."""
    from yiwang.catalogue.items import audit_trail

    return [_entry(a) for a in audit_trail(code)]


def _entry(audit: AuditRecord) -> dict[str, Any]:
    return {"at": audit.at.astimezone(standing.SHANGHAI).isoformat(), "event": audit.event,
            "actor": audit.actor, "from": audit.from_status, "to": audit.to_status,
            "detail": audit.detail.as_dict() if audit.detail else {}}
