"""事项状态: an item's standing — in force (ACTIVE), suspended (暂停, SUSPENDED) or abolished
(终止, ABOLISHED) — as the reform office (审改部门) changes it, each change from an effective date.

The rules alone, on an item's list of changes (no records here: `yiwang.catalogue.governance`
writes them). A change takes effect on its date (Asia/Shanghai) without any job: the standing
is always computed at read time from the list, so a change scheduled for a later day is in force
from that day's first second.

- SUSPEND: an item in force stops taking new applications from the date; RESUME puts a
  suspended one back in force from the date (only a suspended item is resumed); ABOLISH ends it
  for good (nothing changes it afterwards). The date is today or later.
- One scheduled change at a time: while a change waits for its date, no other is taken. So at
  most the last closing period (a suspension or an abolition, and the resumption that ends it)
  lies in the present or the future, which is what intake checks in one condition
  (`closed_on`).
- Applications already submitted go on under their version whatever the standing (the version
  they were made under is never touched); new drafts and the submission of drafts are refused
  with `ItemSuspended` / `ItemAbolished` while the item is not in force.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from yiwang.platform.errors import Conflict, FieldError, Unprocessable, ValidationFailed

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACTIVE = "ACTIVE"
SUSPENDED = "SUSPENDED"
ABOLISHED = "ABOLISHED"
SUSPEND = "SUSPEND"
RESUME = "RESUME"
ABOLISH = "ABOLISH"
CHANGES = {SUSPEND: SUSPENDED, RESUME: ACTIVE, ABOLISH: ABOLISHED}
"""Each change and the standing it leads to."""
MAX_REASON = 500


class ItemSuspended(Unprocessable):
    """The item is suspended (暂停): it takes no new application until it is resumed."""

    code = "ITEM_SUSPENDED"
    title = "The service item is suspended"


class ItemAbolished(Unprocessable):
    """The item is abolished (终止): it takes no new application."""

    code = "ITEM_ABOLISHED"
    title = "The service item is abolished"


def today(now: datetime | None = None) -> date:
    """The date in Asia/Shanghai of `now` (default: this moment)."""
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


def standing_on(changes: list[dict[str, Any]] | None, day: date) -> str:
    """The standing on `day`: that of the last change in effect by then (ACTIVE without any)."""
    standing = ACTIVE
    for change in changes or ():
        if date.fromisoformat(change["effectiveDate"]) <= day:
            standing = change["standing"]
    return standing


def pending(changes: list[dict[str, Any]] | None, day: date) -> dict[str, Any] | None:
    """The change scheduled after `day`, if any (there is never more than one)."""
    return next((c for c in changes or () if date.fromisoformat(c["effectiveDate"]) > day),
                None)


def refusal(standing: str, code: str) -> Unprocessable | None:
    """What a new application to an item of this standing is refused with, if anything."""
    if standing == SUSPENDED:
        return ItemSuspended(f"item {code} is suspended (暂停) and takes no new application")
    if standing == ABOLISHED:
        return ItemAbolished(f"item {code} is abolished (终止) and takes no new application")
    return None


def parse_change(body: Any, day: date) -> tuple[str, date, str]:
    """(change, effective date, reason) from `{"change", "effectiveDate", "reason"}`;
    `ValidationFailed` listing every problem (an effective date before `day` among them)."""
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])
    errors = [FieldError(name, "unknown field") for name in body
              if name not in {"change", "effectiveDate", "reason"}]
    change, raw, reason = body.get("change"), body.get("effectiveDate"), body.get("reason")
    if change not in CHANGES:
        errors.append(FieldError("change", f"one of {', '.join(CHANGES)}"))
    effective = _date(raw)
    if effective is None:
        errors.append(FieldError("effectiveDate", "a date, YYYY-MM-DD (Asia/Shanghai)"))
    elif effective < day:
        errors.append(FieldError("effectiveDate", f"today ({day.isoformat()}) or later"))
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        errors.append(FieldError("reason", f"a reason of 1 to {MAX_REASON} characters"))
    if errors:
        raise ValidationFailed(errors)
    assert effective is not None
    return str(change), effective, str(reason).strip()


def check_change(changes: list[dict[str, Any]] | None, change: str, effective: date,
                 day: date) -> str:
    """The standing the item has before `change` takes effect; `Conflict` if the change may
    not be made: another is still scheduled, the item is abolished, a resumption of an item
    not suspended, a suspension of one not in force."""
    waiting = pending(changes, day)
    if waiting is not None:
        raise Conflict(f"a change ({waiting['change']}) is scheduled for "
                       f"{waiting['effectiveDate']}; one scheduled change at a time")
    before = standing_on(changes, effective)
    if before == ABOLISHED:
        raise Conflict("the item is abolished (终止): its standing no longer changes")
    if change == RESUME and before != SUSPENDED:
        raise Conflict("only a suspended item is resumed")
    if change == SUSPEND and before != ACTIVE:
        raise Conflict("the item is already suspended")
    return before


def closing_period(changes: list[dict[str, Any]] | None) -> tuple[str | None, str | None]:
    """(closed from, reopened from): the dates of the last suspension or abolition and of the
    resumption that ended it, if any; what intake's condition compares today with."""
    closed, reopened = None, None
    for change in changes or ():
        if change["change"] in {SUSPEND, ABOLISH}:
            closed, reopened = change["effectiveDate"], None
        else:
            reopened = change["effectiveDate"]
    return closed, reopened


def entry(change: str, effective: date, reason: str, actor: str,
          now: datetime) -> dict[str, Any]:
    """One change as the item's head keeps it."""
    return {"change": change, "standing": CHANGES[change],
            "effectiveDate": effective.isoformat(), "reason": reason, "by": actor,
            "at": now.isoformat()}


def view(changes: list[dict[str, Any]] | None, day: date) -> dict[str, Any]:
    """`standing` today and every change, past and scheduled (without who made it, when)."""
    return {"standing": standing_on(changes, day),
            "standingChanges": [{k: v for k, v in c.items() if k not in {"by", "at"}}
                                for c in changes or ()]}


def _date(raw: Any) -> date | None:
    if not isinstance(raw, str) or len(raw) != 10:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None
