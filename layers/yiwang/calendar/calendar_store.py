"""The operators' calendar overrides (调休安排), and the calendar in force.

Sources per year, first match wins (docs/rules.md §1): the override table (written by
`PUT /calendar/{year}`), then the data files shipped in the layer (`data/calendar/<year>.json`,
format in `data/calendar/README.md`), then chinese_calendar's official data, then Monday to
Friday. Table and file years both answer with basis OVERRIDE (openapi.yaml has no other value).
A deadline counted Monday-Friday for want of data emits the `CalendarDataMissing` metric.

Access pattern: every override, for building the calendar: pk=`CALENDAR`, sk=`<year>` (one
small Query; there is one record per year loaded). The calendar is cached in the process for a
few minutes, so a deadline costs no read on the hot path; loading a year refreshes it here.
The data files are read once per process (they change only with a deployment).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pynamodb.attributes import ListAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from yiwang.calendar.workdays import Deadline, WorkingCalendar, YearSchedule
from yiwang.platform.errors import FieldError, ValidationFailed
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.platform.validation import FIRST_DAY, LAST_DAY
from yiwang.table.records import TableMeta

CACHE_SECONDS = 300
MAX_WORKING_DAYS = 365
MAX_DAYS_PER_LIST = 366
"""A year's schedule lists each of its days at most once (`PUT /calendar/{year}`)."""
"""A period longer than this is no legal period (the longest, joint review, is 45)."""
CALENDAR_DIR = Path(__file__).parents[1] / "data" / "calendar"
"""The year files shipped with the layer; only names like `2027.json` are read."""
_YEAR_FILE = re.compile(r"^(\d{4})\.json$")


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


def _table_schedules() -> dict[int, YearSchedule]:
    return {
        int(r.sk): YearSchedule(frozenset(map(date.fromisoformat, r.holidays)),
                                frozenset(map(date.fromisoformat, r.workdays)))
        for r in CalendarOverrideRecord.query("CALENDAR")
    }


def working_calendar() -> WorkingCalendar:
    """The calendar in force: the table's years over the data files' over the official data."""
    global _cache
    if _cache is None or time.monotonic() - _cache[0] > CACHE_SECONDS:
        overrides = {**file_schedules(CALENDAR_DIR), **_table_schedules()}
        _cache = (time.monotonic(), WorkingCalendar(overrides))
    return _cache[1]


def due(start: datetime, working_days: int) -> Deadline:
    """The end of the N-th working day after `start`'s date (Asia/Shanghai).

    A period that crosses a year without data is counted Monday-Friday (the answer's basis
    says so) and adds one `CalendarDataMissing` metric: operators must load that year.
    """
    if not 1 <= working_days <= MAX_WORKING_DAYS:
        raise ValidationFailed([FieldError("workingDays",
                                           f"between 1 and {MAX_WORKING_DAYS}")])
    deadline = working_calendar().add_working_days(start, working_days)
    if deadline.fallback_years:
        metrics.add_metric(name="CalendarDataMissing", unit=MetricUnit.Count, value=1)
        logger.warning("no calendar data: counted Monday-Friday",
                       extra={"years": list(deadline.fallback_years)})
    return deadline


@functools.cache
def file_schedules(directory: Path) -> Mapping[int, YearSchedule]:
    """The schedules of the year files (`<year>.json`) in `directory`, read once per process.

    A malformed file raises ValueError naming it: a wrong calendar makes wrong legal deadlines,
    so it must stop the deployment's tests, not be skipped.
    """
    schedules: dict[int, YearSchedule] = {}
    for path in sorted(directory.glob("*.json")):
        match = _YEAR_FILE.match(path.name)
        # A file for a year outside the platform's dates (0001.json) is no calendar's.
        if match and FIRST_DAY.year <= int(match.group(1)) <= LAST_DAY.year:
            schedules[int(match.group(1))] = read_year_file(path, int(match.group(1)))
    return schedules


def read_year_file(path: Path, year: int) -> YearSchedule:
    """One year file: `{"holidays": [...], "workdays": [...]}` (ISO dates of `year`), plus
    optional `year`, `title`, `source` and `note` describing where the dates come from."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable JSON file: {error}") from error
    if isinstance(payload, dict) and payload.get("year", year) != year:
        raise ValueError(f"{path}: says year {payload['year']}, its name says {year}")
    days, errors = _days_of(year, payload)
    if errors:
        raise ValueError(f"{path}: " + "; ".join(f"{e.path}: {e.message}" for e in errors))
    return YearSchedule(frozenset(map(date.fromisoformat, days.get("holidays", []))),
                        frozenset(map(date.fromisoformat, days.get("workdays", []))))


def schedule_of(year: int) -> dict[str, Any]:
    """The schedule in force for a year, as `GET /calendar/{year}` shows it."""
    schedule, basis = working_calendar().year_schedule(year)
    return {"year": year, "holidays": sorted(d.isoformat() for d in schedule.holidays),
            "workdays": sorted(d.isoformat() for d in schedule.workdays), "basis": str(basis)}


def load_year(year: int, payload: Any, actor: str, now: datetime) -> dict[str, Any]:
    """Store a year's schedule (it takes precedence from now on) and answer it."""
    days, errors = _days_of(year, payload)
    if errors:
        raise ValidationFailed(errors)
    CalendarOverrideRecord(sk=str(year), holidays=sorted(days.get("holidays", [])),
                           workdays=sorted(days.get("workdays", [])), updated_by=actor,
                           updated_at=now).save()
    global _cache
    _cache = None
    return schedule_of(year)


def _days_of(year: int, payload: Any) -> tuple[dict[str, list[str]], list[FieldError]]:
    """The ISO dates of a schedule (`holidays`, `workdays`) and what is wrong with them."""
    errors: list[FieldError] = []
    if not isinstance(payload, dict):
        return {}, [FieldError("$", "a JSON object with holidays and workdays")]
    days: dict[str, list[str]] = {}
    for field in ("holidays", "workdays"):
        values = payload.get(field, [])
        if not isinstance(values, list) or len(values) > MAX_DAYS_PER_LIST:
            errors.append(FieldError(field, f"a list of dates (at most {MAX_DAYS_PER_LIST})"))
            continue
        for index, value in enumerate(values):
            try:
                day = date.fromisoformat(value if isinstance(value, str) else "")
            except ValueError:
                errors.append(FieldError(f"{field}.{index}", f"'{str(value)[:40]}' is not a "
                                                             f"date (YYYY-MM-DD)"))
                continue
            if day.year != year:
                errors.append(FieldError(f"{field}.{index}", f"{day} is not in {year}"))
            if day.isoformat() in days.get(field, []):
                errors.append(FieldError(f"{field}.{index}", f"{day} is listed twice"))
            days.setdefault(field, []).append(day.isoformat())
    overlap = set(days.get("holidays", [])) & set(days.get("workdays", []))
    errors.extend(FieldError("workdays", f"{d} is also a holiday") for d in sorted(overlap))
    return days, errors
