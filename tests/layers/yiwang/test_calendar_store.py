"""The calendar in force (docs/rules.md §1): the override table over the layer's data
files over chinese_calendar over Monday-Friday, and the `CalendarDataMissing` metric.

2026 dates are the State Council's published schedule: National Day off 1-7 Oct with Sun 20 Sep
and Sat 10 Oct worked; Spring Festival off 15-23 Feb with Saturdays 14 and 28 Feb worked.
The table is replaced by a dict here (the API tests cover it against the deployed table).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from yiwang.calendar import calendar_store
from yiwang.calendar.workdays import Basis, YearSchedule, _official_schedule
from yiwang.platform.observability import lambda_entry, metrics

CST = timezone(timedelta(hours=8))
EXAMPLE = calendar_store.CALENDAR_DIR / "example-2026.json"


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=CST)


def due_on(year: int, month: int, day: int) -> str:
    return datetime(year, month, day, 23, 59, 59, tzinfo=CST).isoformat()


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[int, YearSchedule]]:
    """The override table's years (empty), data files from an empty folder, no metrics yet."""
    years: dict[int, YearSchedule] = {}
    monkeypatch.setattr(calendar_store, "_table_schedules", lambda: dict(years))
    monkeypatch.setattr(calendar_store, "CALENDAR_DIR", tmp_path)
    monkeypatch.setattr(calendar_store, "_cache", None)
    metrics.clear_metrics()
    yield years
    metrics.clear_metrics()


def write_year(folder: Path, year: int, holidays: list[str], workdays: list[str]) -> Path:
    path = folder / f"{year}.json"
    path.write_text(json.dumps({"year": year, "source": "test", "holidays": holidays,
                                "workdays": workdays}))
    return path


def missing_metric_values() -> list[float]:
    return list(metrics.metric_set.get("CalendarDataMissing", {}).get("Value", []))


# --- official data (chinese_calendar) -------------------------------------------------------


def test_national_day_2026_counts_the_adjusted_working_days(table: dict) -> None:
    deadline = calendar_store.due(at(2026, 9, 30), 3)  # 1-7 Oct off; 8, 9, Sat 10 Oct worked
    assert deadline.due.isoformat() == due_on(2026, 10, 10)
    assert deadline.basis is Basis.OFFICIAL
    # Sat 19 Sep + 1 working day: Sun 20 Sep is worked (调休).
    assert calendar_store.due(at(2026, 9, 19), 1).due.isoformat() == due_on(2026, 9, 20)
    shown = calendar_store.schedule_of(2026)
    assert {"2026-10-01", "2026-10-07"} <= set(shown["holidays"])
    assert {"2026-09-20", "2026-10-10"} <= set(shown["workdays"])
    assert missing_metric_values() == []


def test_spring_festival_2026_adjusted_saturdays_are_worked(table: dict) -> None:
    assert calendar_store.due(at(2026, 2, 13), 1).due.isoformat() == due_on(2026, 2, 14)
    assert calendar_store.due(at(2026, 2, 13), 2).due.isoformat() == due_on(2026, 2, 24)
    assert calendar_store.due(at(2026, 2, 27), 1).due.isoformat() == due_on(2026, 2, 28)


# --- no data: Monday-Friday and the metric -------------------------------------------------


def test_a_year_without_data_falls_back_and_emits_the_metric(table: dict) -> None:
    deadline = calendar_store.due(at(2031, 9, 30), 3)  # Tue 30 Sep 2031: Wed, Thu, Fri
    assert deadline.due.isoformat() == due_on(2031, 10, 3)
    assert deadline.basis is Basis.WEEKDAYS_FALLBACK
    assert deadline.fallback_years == (2031,)
    assert missing_metric_values() == [1.0]
    calendar_store.due(at(2026, 12, 30), 5)  # crosses into 2027, which has no data either
    assert missing_metric_values() == [1.0, 1.0]


def test_the_metric_is_flushed_by_a_lambda_function(table: dict) -> None:
    from infra.localcloud.runtime import printed_in_this_context

    @lambda_entry
    def handler(event: dict[str, Any], context: Any) -> str:
        return calendar_store.due(datetime.fromisoformat(event["from"]), 3).basis

    context = SimpleNamespace(function_name="f", memory_limit_in_mb=128, aws_request_id="r",
                              invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f")
    with printed_in_this_context() as printed:  # not the local cloud's functions' output
        assert handler({"from": "2031-09-30T10:00:00+08:00"}, context) == "WEEKDAYS_FALLBACK"
    documents = [json.loads(line) for line in printed
                 if line.startswith("{") and '"_aws"' in line]
    emitted = [d for d in documents if "CalendarDataMissing" in d]
    assert len(emitted) == 1
    directive = emitted[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Yiwang"
    assert {"Name": "CalendarDataMissing", "Unit": "Count"}.items() <= \
        next(m for m in directive["Metrics"] if m["Name"] == "CalendarDataMissing").items()
    assert missing_metric_values() == []  # flushed, not carried into the next invocation


# --- data files ------------------------------------------------------------------------------


def test_a_file_year_is_used_and_shown_as_override(table: dict, tmp_path: Path) -> None:
    write_year(tmp_path, 2031, ["2031-10-01", "2031-10-02", "2031-10-03", "2031-10-06"],
               ["2031-10-11"])
    deadline = calendar_store.due(at(2031, 9, 30), 3)  # 1-3, 6 Oct off: Tue 7, Wed 8, Thu 9
    assert deadline.due.isoformat() == due_on(2031, 10, 9)
    assert deadline.basis is Basis.OVERRIDE
    assert calendar_store.due(at(2031, 10, 10), 1).due.isoformat() == due_on(2031, 10, 11)
    assert calendar_store.schedule_of(2031) == {
        "year": 2031, "basis": "OVERRIDE", "workdays": ["2031-10-11"],
        "holidays": ["2031-10-01", "2031-10-02", "2031-10-03", "2031-10-06"]}
    assert missing_metric_values() == []


def test_a_file_year_overrides_the_official_data(table: dict, tmp_path: Path) -> None:
    # Say a correction were published: Sat 10 Oct 2026 no longer worked.
    write_year(tmp_path, 2026, [f"2026-10-0{d}" for d in range(1, 8)], ["2026-09-20"])
    assert calendar_store.due(at(2026, 9, 30), 3).due.isoformat() == due_on(2026, 10, 12)
    assert calendar_store.schedule_of(2026)["basis"] == "OVERRIDE"


def test_the_table_overrides_a_file_year(table: dict, tmp_path: Path) -> None:
    write_year(tmp_path, 2031, ["2031-10-01"], [])
    table[2031] = YearSchedule(holidays=frozenset({date(2031, 10, 2)}))
    shown = calendar_store.schedule_of(2031)
    assert shown["holidays"] == ["2031-10-02"] and shown["basis"] == "OVERRIDE"


def test_only_year_named_files_are_read(tmp_path: Path) -> None:
    write_year(tmp_path, 2031, ["2031-10-01"], [])
    (tmp_path / "example-2032.json").write_text(json.dumps({"holidays": ["2032-10-01"]}))
    assert set(calendar_store.file_schedules(tmp_path)) == {2031}


@pytest.mark.parametrize(("content", "complaint"), [
    ({"holidays": ["2031-02-30"]}, "'2031-02-30' is not a date"),
    ({"holidays": ["2030-10-01"]}, "2030-10-01 is not in 2031"),
    ({"holidays": ["2031-10-01"], "workdays": ["2031-10-01"]}, "also a holiday"),
    ({"year": 2030, "holidays": []}, "says year 2030"),
    ({"holidays": "2031-10-01"}, "a list of dates"),
])
def test_a_malformed_file_is_refused_naming_it(tmp_path: Path, content: dict,
                                               complaint: str) -> None:
    path = tmp_path / "2031.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="2031.json") as refused:
        calendar_store.file_schedules(tmp_path)
    assert complaint in str(refused.value)


def test_the_shipped_year_files_load() -> None:
    shipped = calendar_store.file_schedules(calendar_store.CALENDAR_DIR)
    assert all(year >= 2027 for year in shipped)  # chinese_calendar has 2026 and before


def test_the_shipped_example_is_2026_as_published() -> None:
    # The example shows the format with real dates: the State Council's 2026 schedule, which
    # chinese_calendar ships too. It is not loaded (not named <year>.json).
    example = calendar_store.read_year_file(EXAMPLE, 2026)
    official = _official_schedule(2026)
    assert official is not None
    assert {d for d in example.holidays if d.weekday() < 5} == official.holidays
    assert example.workdays == official.workdays
    assert 2026 not in calendar_store.file_schedules(calendar_store.CALENDAR_DIR)
