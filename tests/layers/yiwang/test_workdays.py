"""The working-day calendar (docs/rules.md §1, openapi.yaml, tag calendar).

Dates of 2026 are checked against the State Council's 2026 schedule as shipped in
chinese_calendar 1.11.0: Spring Festival off 15-23 Feb with Saturdays 14 and 28 Feb worked;
National Day off 1-7 Oct with Sun 20 Sep and Sat 10 Oct worked.
"""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from yiwang.calendar.workdays import Basis, Deadline, WorkingCalendar, YearSchedule

CST = timezone(timedelta(hours=8))


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CST)


def end_of(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, tzinfo=CST)


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


# --- deadlines ----------------------------------------------------------------------------


def test_domain_example_national_day(calendar: WorkingCalendar) -> None:
    # Wed 30 Sep + 3 working days: 1-7 Oct off, Thu 8, Fri 9, Sat 10 Oct (调休) worked.
    deadline = calendar.add_working_days(at(2026, 9, 30), 3)
    assert deadline == Deadline(due=end_of(2026, 10, 10), basis=Basis.OFFICIAL, fallback_years=())
    assert deadline.due.isoformat() == "2026-10-10T23:59:59+08:00"


def test_spring_festival_2026_adjusted_saturdays_count(calendar: WorkingCalendar) -> None:
    # Submitted Fri 13 Feb: Sat 14 Feb is a working day, so a 1-day period ends on it...
    assert calendar.add_working_days(at(2026, 2, 13), 1).due == end_of(2026, 2, 14)
    # ...and the 2nd working day is Tue 24 Feb, after nine days off (15-23 Feb).
    assert calendar.add_working_days(at(2026, 2, 13), 2).due == end_of(2026, 2, 24)
    # Sat 28 Feb is worked too: submitted Fri 27 Feb, 1 day, due that Saturday night.
    assert calendar.add_working_days(at(2026, 2, 27), 1).due == end_of(2026, 2, 28)


def test_spring_festival_2026_days(calendar: WorkingCalendar) -> None:
    assert calendar.is_working_day(date(2026, 2, 14))  # Saturday, 调休
    assert calendar.is_working_day(date(2026, 2, 28))  # Saturday, 调休
    assert not calendar.is_working_day(date(2026, 2, 16))  # Monday, 春节
    assert not calendar.is_working_day(date(2026, 2, 23))  # Monday, 春节
    assert not calendar.is_working_day(date(2026, 3, 7))  # an ordinary Saturday
    assert calendar.is_working_day(date(2026, 3, 9))  # an ordinary Monday


def test_event_on_a_holiday_counts_from_the_next_working_day(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(at(2026, 10, 1), 1).due == end_of(2026, 10, 8)


def test_start_in_utc_is_taken_as_its_shanghai_date(calendar: WorkingCalendar) -> None:
    # 17:30 UTC on Tue 29 Sep is 01:30 on Wed 30 Sep in Shanghai: the DOMAIN example again.
    late_utc = datetime(2026, 9, 29, 17, 30, tzinfo=UTC)
    assert calendar.add_working_days(late_utc, 3).due == end_of(2026, 10, 10)
    # 15:30 UTC is still 23:30 on Tue 29 Sep: Wed 30 Sep is then the 1st working day.
    earlier_utc = datetime(2026, 9, 29, 15, 30, tzinfo=UTC)
    assert calendar.add_working_days(earlier_utc, 3).due == end_of(2026, 10, 9)


def test_due_is_expressed_in_shanghai_time(calendar: WorkingCalendar) -> None:
    due = calendar.add_working_days(datetime(2026, 9, 29, 17, 30, tzinfo=UTC), 3).due
    assert due.utcoffset() == timedelta(hours=8)
    assert due.astimezone(UTC) == datetime(2026, 10, 10, 15, 59, 59, tzinfo=UTC)


def test_period_into_a_year_without_data_falls_back_to_weekdays(
    calendar: WorkingCalendar,
) -> None:
    # Tue 29 Dec 2026 + 5: Wed 30, Thu 31 Dec; Fri 1 Jan 2027 counts (no 2027 data, so no
    # New Year holiday); Mon 4, Tue 5 Jan.
    deadline = calendar.add_working_days(at(2026, 12, 29), 5)
    assert deadline == Deadline(
        due=end_of(2027, 1, 5), basis=Basis.WEEKDAYS_FALLBACK, fallback_years=(2027,)
    )


def test_override_for_2027_is_used_and_said_so() -> None:
    calendar = WorkingCalendar(
        {2027: YearSchedule(holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset())}
    )
    deadline = calendar.add_working_days(at(2026, 12, 29), 5)
    # 1 Jan 2027 is now a holiday, so the 5th working day moves to Wed 6 Jan.
    assert deadline == Deadline(due=end_of(2027, 1, 6), basis=Basis.OVERRIDE, fallback_years=())


def test_override_workday_on_a_weekend_counts() -> None:
    calendar = WorkingCalendar(
        {2027: YearSchedule(holidays=frozenset(), workdays=frozenset({date(2027, 1, 2)}))}
    )
    # Fri 1 Jan 2027 + 1: Sat 2 Jan is an adjusted working day in the override.
    assert calendar.add_working_days(at(2027, 1, 1), 1).due == end_of(2027, 1, 2)


def test_override_replaces_the_official_data_for_its_year() -> None:
    # An operator reloads 2026 without the 10 Oct 调休: the DOMAIN example then ends on Mon 12.
    national_day = frozenset(date(2026, 10, d) for d in range(1, 8))
    calendar = WorkingCalendar({2026: YearSchedule(holidays=national_day, workdays=frozenset())})
    deadline = calendar.add_working_days(at(2026, 9, 30), 3)
    assert deadline == Deadline(due=end_of(2026, 10, 12), basis=Basis.OVERRIDE, fallback_years=())
    # The override replaces the whole year, it is not merged: Spring Festival is gone too.
    assert calendar.is_working_day(date(2026, 2, 16))
    assert not calendar.is_working_day(date(2026, 10, 1))


def test_fallback_wins_over_override_in_the_basis() -> None:
    calendar = WorkingCalendar({2027: YearSchedule()})
    deadline = calendar.add_working_days(at(2026, 12, 29), 300)
    assert deadline.basis is Basis.WEEKDAYS_FALLBACK
    assert deadline.fallback_years == (2028,)


def test_naive_start_is_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add_working_days(datetime(2026, 9, 30, 10, 0), 3)


@pytest.mark.parametrize("n", [0, -1])
def test_period_must_be_at_least_one_working_day(calendar: WorkingCalendar, n: int) -> None:
    with pytest.raises(ValueError):
        calendar.add_working_days(at(2026, 9, 30), n)


# --- schedules ----------------------------------------------------------------------------


def test_year_schedule_2026_is_official(calendar: WorkingCalendar) -> None:
    schedule, basis = calendar.year_schedule(2026)
    assert basis is Basis.OFFICIAL
    assert date(2026, 10, 1) in schedule.holidays
    assert date(2026, 2, 16) in schedule.holidays
    assert schedule.workdays == {
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    }
    # Only days that change something: weekday holidays, weekend working days.
    assert all(d.weekday() < 5 for d in schedule.holidays)
    assert date(2026, 10, 3) not in schedule.holidays  # a Saturday inside the holiday


def test_year_schedule_without_data(calendar: WorkingCalendar) -> None:
    assert calendar.year_schedule(2027) == (YearSchedule(), Basis.WEEKDAYS_FALLBACK)
    assert calendar.basis_for_year(2027) is Basis.WEEKDAYS_FALLBACK
    assert calendar.basis_for_year(2026) is Basis.OFFICIAL


def test_year_schedule_of_an_override_keeps_what_changes_something() -> None:
    holidays = frozenset({date(2027, 1, 1), date(2027, 1, 2)})  # Fri, Sat
    calendar = WorkingCalendar({2027: YearSchedule(holidays=holidays)})
    schedule, basis = calendar.year_schedule(2027)
    assert basis is Basis.OVERRIDE
    assert schedule.holidays == {date(2027, 1, 1)}


def test_override_with_dates_of_another_year_is_refused() -> None:
    with pytest.raises(ValueError, match="another year"):
        WorkingCalendar({2027: YearSchedule(holidays=frozenset({date(2026, 10, 1)}))})


def test_override_listing_a_day_as_holiday_and_workday_is_refused() -> None:
    day = frozenset({date(2027, 1, 1)})
    with pytest.raises(ValueError, match="both"):
        WorkingCalendar({2027: YearSchedule(holidays=day, workdays=day)})


def test_is_working_day_takes_a_date_not_a_datetime(calendar: WorkingCalendar) -> None:
    with pytest.raises(TypeError):
        calendar.is_working_day(at(2026, 10, 10))  # type: ignore[arg-type]


# --- statistics ---------------------------------------------------------------------------


def test_working_days_between(calendar: WorkingCalendar) -> None:
    # Submitted Wed 30 Sep, finished Sat 10 Oct (调休): 8, 9 and 10 Oct.
    assert calendar.working_days_between(at(2026, 9, 30), at(2026, 10, 10, 9)) == 3
    assert calendar.working_days_between(at(2026, 9, 30, 9), at(2026, 9, 30, 17)) == 0
    assert calendar.working_days_between(at(2026, 9, 30), at(2026, 10, 7)) == 0
    assert calendar.working_days_between(at(2026, 2, 13), at(2026, 2, 24)) == 2


def test_working_days_between_agrees_with_deadlines(calendar: WorkingCalendar) -> None:
    start = at(2026, 9, 18, 16)
    for n in (1, 2, 5, 10, 20):
        due = calendar.add_working_days(start, n).due
        assert calendar.working_days_between(start, due) == n


def test_working_days_between_uses_shanghai_dates(calendar: WorkingCalendar) -> None:
    # 16:30 UTC on Fri 9 Oct is 00:30 on Sat 10 Oct in Shanghai, a working day.
    start = at(2026, 10, 8, 9)
    assert calendar.working_days_between(start, datetime(2026, 10, 9, 16, 30, tzinfo=UTC)) == 2


def test_working_days_between_refuses_bad_input(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        calendar.working_days_between(at(2026, 10, 9), at(2026, 10, 8))
    with pytest.raises(ValueError):
        calendar.working_days_between(datetime(2026, 10, 8), at(2026, 10, 9))
