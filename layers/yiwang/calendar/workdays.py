"""The working-day calendar (工作日): which days count towards legal periods, and deadlines.

Sources, per year, first match wins (docs/rules.md §1):

1. an override schedule loaded by operators (passed in; this module stores nothing:
   `calendar_store` merges the override table over the layer's data files),
2. the official schedule shipped in the `chinese_calendar` package (法定节假日 and 调休),
3. Monday to Friday (fallback; the answer's basis says so, so callers can emit the
   `CalendarDataMissing` metric).

All dates are Asia/Shanghai dates.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = [
    "SHANGHAI",
    "Basis",
    "Deadline",
    "WorkingCalendar",
    "YearSchedule",
]

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
_END_OF_DAY: Final = time(23, 59, 59)
_ONE_DAY: Final = timedelta(days=1)


class Basis(enum.StrEnum):
    """Where a calendar answer came from (the `basis` field of the API)."""

    OFFICIAL = "OFFICIAL"
    OVERRIDE = "OVERRIDE"
    WEEKDAYS_FALLBACK = "WEEKDAYS_FALLBACK"


@dataclass(frozen=True, slots=True)
class YearSchedule:
    """One year's exceptions to Monday-Friday.

    `holidays`: days off that would otherwise be working days (法定节假日 on Mon-Fri);
    `workdays`: adjusted working days (调休上班) that fall on a Saturday or Sunday.
    Dates of the other kind (a Saturday in `holidays`, a Tuesday in `workdays`) change nothing.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True)
class Deadline:
    """The end of a period of working days (办理时限).

    `due` is 23:59:59 Asia/Shanghai of the last working day; `basis` is the weakest source
    used for any year the period crossed; `fallback_years` are the crossed years that had no
    data and were counted as Monday-Friday.
    """

    due: datetime
    basis: Basis
    fallback_years: tuple[int, ...] = ()


_NO_OVERRIDES: Final[Mapping[int, YearSchedule]] = MappingProxyType({})
_EMPTY_SCHEDULE: Final = YearSchedule()


def _days_of_year(year: int) -> Iterator[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += _ONE_DAY


def _is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def _normalised(schedule: YearSchedule) -> YearSchedule:
    # Keep only the entries that change something, so the official and the override
    # schedules have the same shape in answers and in the lookups below.
    return YearSchedule(
        holidays=frozenset(d for d in schedule.holidays if not _is_weekend(d)),
        workdays=frozenset(d for d in schedule.workdays if _is_weekend(d)),
    )


@cache
def _official_schedule(year: int) -> YearSchedule | None:
    """The package's schedule for `year`, or None when it has no data for that year.

    Built once per year per process: chinese_calendar re-scans its whole table on every
    call (about 30 µs), too slow to call for every day of every deadline.
    """
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:  # the package's way of saying "no data for this year"
        return None
    holidays: set[date] = set()
    workdays: set[date] = set()
    for day in _days_of_year(year):
        working = chinese_calendar.is_workday(day)
        if _is_weekend(day) and working:
            workdays.add(day)
        elif not _is_weekend(day) and not working:
            holidays.add(day)
    return YearSchedule(holidays=frozenset(holidays), workdays=frozenset(workdays))


def local_time(moment: datetime | None) -> str | None:
    """A stored (UTC) time as every answer shows it: Asia/Shanghai, with its offset. The one
    formatter for times in answers and notices."""
    return moment.astimezone(SHANGHAI).isoformat() if moment else None


def _aware_in_shanghai(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. 2026-09-30T10:00:00+08:00)")
    return moment.astimezone(SHANGHAI)


class WorkingCalendar:
    """Working days (工作日) with operator overrides over the official calendar.

    `overrides` maps a year to the schedule operators loaded for it; it replaces the
    official data for that whole year. The mapping is copied: later changes to it are not
    seen (build a new calendar when the override table changes).
    """

    def __init__(self, overrides: Mapping[int, YearSchedule] = _NO_OVERRIDES) -> None:
        checked: dict[int, YearSchedule] = {}
        for year, schedule in overrides.items():
            stray = sorted(d for d in schedule.holidays | schedule.workdays if d.year != year)
            if stray:
                raise ValueError(f"override for {year} contains dates of another year: {stray}")
            both = sorted(schedule.holidays & schedule.workdays)
            if both:
                raise ValueError(
                    f"override for {year} lists dates as both holiday and workday: {both}"
                )
            checked[year] = _normalised(schedule)
        self._overrides: Mapping[int, YearSchedule] = MappingProxyType(checked)

    def _schedule(self, year: int) -> tuple[YearSchedule, Basis]:
        override = self._overrides.get(year)
        if override is not None:
            return override, Basis.OVERRIDE
        official = _official_schedule(year)
        if official is not None:
            return official, Basis.OFFICIAL
        return _EMPTY_SCHEDULE, Basis.WEEKDAYS_FALLBACK

    def basis_for_year(self, year: int) -> Basis:
        """Which source decides the working days of `year`."""
        return self._schedule(year)[1]

    def year_schedule(self, year: int) -> tuple[YearSchedule, Basis]:
        """The schedule in force for `year` (for GET /calendar/{year}).

        Holidays are the Monday-Friday days off, workdays the Saturdays and Sundays that are
        adjusted working days (调休). A year without data gives an empty schedule with basis
        WEEKDAYS_FALLBACK.
        """
        return self._schedule(year)

    def is_working_day(self, d: date) -> bool:
        """Whether `d` (a date in Asia/Shanghai) is a working day (工作日)."""
        if isinstance(d, datetime):
            # A datetime is a date subclass but never equal to one, and its calendar day
            # depends on the time zone: make the caller choose.
            raise TypeError("is_working_day takes a date; convert the datetime to Asia/Shanghai")
        schedule, _ = self._schedule(d.year)
        if _is_weekend(d):
            return d in schedule.workdays
        return d not in schedule.holidays

    def add_working_days(self, start: datetime, n: int) -> Deadline:
        """The deadline of a period of `n` working days triggered at `start` (办理时限).

        The day of `start` (in Asia/Shanghai) is not counted; the period ends at 23:59:59
        Asia/Shanghai of the n-th working day after it. Submitted Wed 2026-09-30 with n=3:
        1-7 Oct are holidays, 8, 9 and Sat 10 Oct (调休) count, due 2026-10-10T23:59:59+08:00.

        Raises ValueError for a naive `start` or `n` < 1.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("n must be an int")
        if n < 1:
            raise ValueError("n must be at least 1 working day")
        first = _aware_in_shanghai(start, "start").date()
        day = first
        remaining = n
        while remaining:
            day += _ONE_DAY
            if self.is_working_day(day):
                remaining -= 1
        basis, fallback_years = self._basis_between(first.year, day.year)
        return Deadline(
            due=datetime.combine(day, _END_OF_DAY, tzinfo=SHANGHAI),
            basis=basis,
            fallback_years=fallback_years,
        )

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after `start`'s date up to and including `end`'s date (Asia/Shanghai).

        Same counting as `add_working_days`: a case submitted on Wed 2026-09-30 and finished
        on Sat 2026-10-10 took 3 working days; finished the same day, 0. Raises ValueError
        for naive datetimes or `end` before `start`.
        """
        first = _aware_in_shanghai(start, "start").date()
        last = _aware_in_shanghai(end, "end").date()
        if end < start:
            raise ValueError("end must not be before start")
        count = 0
        day = first + _ONE_DAY
        while day <= last:
            if self.is_working_day(day):
                count += 1
            day += _ONE_DAY
        return count

    def _basis_between(self, first_year: int, last_year: int) -> tuple[Basis, tuple[int, ...]]:
        bases = {year: self.basis_for_year(year) for year in range(first_year, last_year + 1)}
        fallback = tuple(y for y, b in bases.items() if b is Basis.WEEKDAYS_FALLBACK)
        if fallback:
            return Basis.WEEKDAYS_FALLBACK, fallback
        if Basis.OVERRIDE in bases.values():
            return Basis.OVERRIDE, ()
        return Basis.OFFICIAL, ()
