"""承诺时限 (总时限): the one clock of the promise made to the applicant, for the whole case.

It starts when the application is accepted (受理), with the item's promised working days,
never more than the statutory limit (法定时限), and stops when the case is decided (the
certificate issued, or rejected) or ends otherwise. The days the applicant holds the case are
not counted: the clock is held (`clocks.hold`) while a supplement is awaited, while a payment
order is open, and, where the item says so, while a 容缺 material is outstanding; each reason is
released on its own and the clock runs again when none is left. The steps' own clocks (each
department's review, 制证) sit inside it: a step never gets more days than the promise has left.

A 即办件 (kind INSTANT, promised 0 days) is promised the same working day: its clock ends at
the end of the day it is accepted.

Access: the clock is `CLOCK#PROMISE` under the application (pk=`APP#<id>`), so it is read with
the case file; its cards are the clocks' cards (yellow and red, `yiwang.deadlines.clocks`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yiwang.applications.records import ApplicationRecord
from yiwang.calendar import calendar_store
from yiwang.calendar.workdays import SHANGHAI, local_time
from yiwang.catalogue.items import INSTANT, ItemVersion, get_item
from yiwang.deadlines import clocks

PROMISE_CLOCK = "PROMISE"
STEP = "承诺时限"
SUPPLEMENT, PAYMENT, LATER_MATERIAL, SUSPENDED = (
    "SUPPLEMENT", "PAYMENT", "LATER_MATERIAL", "SUSPENDED")
"""Why the promise is held: a supplement awaited (补正), a payment order open (缴费), a 容缺
material outstanding (where the item says so), the case suspended by an expired commitment."""


def promised_days(item: ItemVersion) -> int:
    """The working days promised: the item's promise, never more than its statutory limit
    (a statutory limit of 0 means none is set); 0 for a same-day promise (即办件)."""
    if item.kind == INSTANT:
        return 0
    days = item.promised_days
    if item.statutory_days:
        days = min(days, item.statutory_days)
    return max(days, 0)


def _end_of_day(moment: datetime) -> datetime:
    local = moment.astimezone(SHANGHAI)
    return local.replace(hour=23, minute=59, second=59, microsecond=0)


def start(application_id: str, now: datetime) -> clocks.ClockRecord:
    """Start the promise at acceptance (once: a clock already there, running, held or
    stopped, is returned as it is, so a retried or a second acceptance never restarts it)."""
    key = ApplicationRecord.key(application_id)
    existing = clocks.get(key, PROMISE_CLOCK)
    if existing is not None:
        return existing
    record = ApplicationRecord.load(application_id)
    item = get_item(record.item_code, int(record.item_version))
    days = promised_days(item)
    timing: dict[str, Any] = ({"working_days": days} if days else
                              {"deadline": _end_of_day(now)})
    return clocks.start(key, PROMISE_CLOCK, kind=PROMISE_CLOCK, subject=application_id,
                        department=item.lead_department, step=STEP, now=now,
                        context={"promisedDays": days, "itemKind": item.kind}, **timing)


def get(application_id: str) -> clocks.ClockRecord | None:
    """The application's promise clock, or None before acceptance."""
    return clocks.get(ApplicationRecord.key(application_id), PROMISE_CLOCK)


def hold(application_id: str, reason: str, now: datetime) -> clocks.ClockRecord | None:
    """The applicant holds the case for `reason`: the promise stops counting (see module)."""
    return clocks.hold(ApplicationRecord.key(application_id), PROMISE_CLOCK, reason, now)


def release(application_id: str, reason: str, now: datetime) -> clocks.ClockRecord | None:
    """The applicant gave the case back for `reason`; the promise counts again when nothing
    else holds it."""
    return clocks.release(ApplicationRecord.key(application_id), PROMISE_CLOCK, reason, now)


def stop(application_id: str, now: datetime, reason: str) -> None:
    """The case is decided (办结) or ended: the promise is kept or broken from here on."""
    clocks.stop(ApplicationRecord.key(application_id), PROMISE_CLOCK, now, reason)


def within(application_id: str, working_days: int, now: datetime) -> int:
    """A step's working days, capped by what the running promise has left (at least 1), so the
    step's clock sits inside the promise; `working_days` unchanged when no promise runs."""
    clock = get(application_id)
    if clock is None or clock.status != clocks.RUNNING:
        return working_days
    left = days_left(clock, now)
    return max(1, min(working_days, left))


def days_left(clock: clocks.ClockRecord, now: datetime) -> int:
    """Working days the promise has left at `now` (negative: working days overdue). A held
    clock keeps the days it had when it was paused; a stopped one counts to when it stopped."""
    if clock.status == clocks.PAUSED:
        return int(clock.remaining_days or 0)
    at = clock.stopped_at if clock.status in (clocks.STOPPED, clocks.EXPIRED) \
        and clock.stopped_at else now
    working = calendar_store.working_calendar()
    if clock.deadline >= at:
        return working.working_days_between(at, clock.deadline)
    return -working.working_days_between(clock.deadline, at)


def days_used(clock: clocks.ClockRecord, now: datetime) -> int:
    """Working days of the promise the administration has used (the applicant's own time, while
    the clock was held, not counted); a same-day promise has used none on its day."""
    limit = int((clock.context or {}).get("promisedDays") or 0)
    return limit - days_left(clock, now)


def kept(clock: clocks.ClockRecord) -> bool:
    """Whether a stopped promise was kept: decided by its deadline, no red card on it."""
    return clock.red_raised_at is None and clock.stopped_at is not None \
        and clock.stopped_at <= clock.deadline


def summary(clock: clocks.ClockRecord | None, now: datetime) -> dict[str, Any] | None:
    """The promise as the application view shows it: `promisedBy` (the deadline as it stands;
    it moves later by the days the applicant held the case), `promisedDays`, `usedDays`,
    `leftDays` (working days; negative when overdue), `status` (RUNNING, PAUSED while the
    applicant holds the case, STOPPED when decided), `heldFor` and the cards raised."""
    if clock is None:
        return None
    return {
        "promisedBy": local_time(clock.deadline),
        "promisedDays": days_used(clock, now) + days_left(clock, now),
        "usedDays": days_used(clock, now),
        "leftDays": days_left(clock, now),
        "status": clock.status,
        "heldFor": sorted(clock.holds or []),
        "cards": clock.to_api()["cards"],
    }
