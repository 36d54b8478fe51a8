"""The operators' calendar overrides (调休安排) in the table, and the calendar in force.

Access pattern: every override, for building the calendar: pk=`CALENDAR`, sk=`<year>` (one
small Query; there is one record per year loaded). The calendar is cached in the process for a
few minutes, so a deadline costs no read on the hot path; loading a year refreshes it here.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

from pynamodb.attributes import ListAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from yiwang.errors import FieldError, ValidationFailed
from yiwang.records import TableMeta
from yiwang.workdays import Deadline, WorkingCalendar, YearSchedule

CACHE_SECONDS = 300
MAX_WORKING_DAYS = 365
"""A period longer than this is no legal period (the longest, joint review, is 45)."""


class CalendarOverrideRecord(Model):
    """One year's official schedule as an operator loaded it."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True, default="CALENDAR")
    sk = UnicodeAttribute(range_key=True)
    holidays = ListAttribute(of=UnicodeAttribute, default=list)
    workdays = ListAttribute(of=UnicodeAttribute, default=list)
    updated_by = UnicodeAttribute(attr_name="updatedBy")
    updated_at = UTCDateTimeAttribute(attr_name="updatedAt")


_cache: tuple[float, WorkingCalendar] | None = None


def working_calendar() -> WorkingCalendar:
    """The calendar in force: official data, overridden by the years operators loaded."""
    global _cache
    if _cache is None or time.monotonic() - _cache[0] > CACHE_SECONDS:
        overrides = {
            int(r.sk): YearSchedule(frozenset(map(date.fromisoformat, r.holidays)),
                                    frozenset(map(date.fromisoformat, r.workdays)))
            for r in CalendarOverrideRecord.query("CALENDAR")
        }
        _cache = (time.monotonic(), WorkingCalendar(overrides))
    return _cache[1]


def due(start: datetime, working_days: int) -> Deadline:
    """The end of the N-th working day after `start`'s date (Asia/Shanghai)."""
    if not 1 <= working_days <= MAX_WORKING_DAYS:
        raise ValidationFailed([FieldError("workingDays",
                                           f"between 1 and {MAX_WORKING_DAYS}")])
    return working_calendar().add_working_days(start, working_days)


def schedule_of(year: int) -> dict[str, Any]:
    """The schedule in force for a year, as `GET /calendar/{year}` shows it."""
    schedule, basis = working_calendar().year_schedule(year)
    return {"year": year, "holidays": sorted(d.isoformat() for d in schedule.holidays),
            "workdays": sorted(d.isoformat() for d in schedule.workdays), "basis": str(basis)}


def load_year(year: int, payload: Any, actor: str, now: datetime) -> dict[str, Any]:
    """Store a year's schedule (it takes precedence from now on) and answer it."""
    errors: list[FieldError] = []
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("$", "a JSON object with holidays and workdays")])
    days: dict[str, list[str]] = {}
    for field in ("holidays", "workdays"):
        values = payload.get(field, [])
        if not isinstance(values, list):
            errors.append(FieldError(field, "a list of dates"))
            continue
        for index, value in enumerate(values):
            try:
                day = date.fromisoformat(str(value))
            except ValueError:
                errors.append(FieldError(f"{field}.{index}", f"'{value}' is not a date"))
                continue
            if day.year != year:
                errors.append(FieldError(f"{field}.{index}", f"{day} is not in {year}"))
            days.setdefault(field, []).append(day.isoformat())
    overlap = set(days.get("holidays", [])) & set(days.get("workdays", []))
    errors.extend(FieldError("workdays", f"{d} is also a holiday") for d in sorted(overlap))
    if errors:
        raise ValidationFailed(errors)
    CalendarOverrideRecord(sk=str(year), holidays=sorted(days.get("holidays", [])),
                           workdays=sorted(days.get("workdays", [])), updated_by=actor,
                           updated_at=now).save()
    global _cache
    _cache = None
    return schedule_of(year)
