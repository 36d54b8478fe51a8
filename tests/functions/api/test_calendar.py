"""The working-day calendar over HTTP: deadlines for portals, and operators' overrides."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_due_counts_working_days_around_national_day(http: Any) -> None:
    answer = http.get("/calendar/due?from=2026-09-30T10:00:00%2B08:00&workingDays=3")
    assert answer.status_code == 200
    assert json.loads(answer.body) == {"due": "2026-10-10T23:59:59+08:00", "basis": "OFFICIAL"}


def test_due_into_a_year_without_data_says_so(http: Any) -> None:
    body = json.loads(http.get("/calendar/due?from=2030-12-30T10:00:00%2B08:00"
                               "&workingDays=5").body)
    assert body["basis"] == "WEEKDAYS_FALLBACK"
    assert 2031 in body["fallbackYears"]


def test_bad_query_is_a_validation_problem(http: Any) -> None:
    answer = http.get("/calendar/due?from=yesterday&workingDays=many")
    assert answer.status_code == 400
    assert {e["path"] for e in json.loads(answer.body)["errors"]} == {"from", "workingDays"}


def test_admin_loads_a_year_and_it_takes_precedence(http: Any, token: Any) -> None:
    admin = token("admin-1", "admin")
    schedule = {"holidays": ["2029-01-01", "2029-10-01", "2029-10-02"],
                "workdays": ["2029-09-29"]}
    answer = http.put("/calendar/2029", headers=admin, body=json.dumps(schedule))
    assert answer.status_code == 200, answer.body
    assert json.loads(answer.body)["basis"] == "OVERRIDE"
    shown = json.loads(http.get("/calendar/2029").body)
    assert shown["holidays"] == ["2029-01-01", "2029-10-01", "2029-10-02"]
    assert shown["workdays"] == ["2029-09-29"]
    # Fri 2029-09-28 + 1 working day: Sat 29 is an adjusted working day.
    due = json.loads(http.get("/calendar/due?from=2029-09-28T09:00:00%2B08:00"
                              "&workingDays=1").body)
    assert due == {"due": "2029-09-29T23:59:59+08:00", "basis": "OVERRIDE"}


def test_only_administrators_load_calendars(http: Any, token: Any) -> None:
    window = token("window-2", "window")
    answer = http.put("/calendar/2029", headers=window, body=json.dumps({"holidays": []}))
    assert answer.status_code == 403
    bad = http.put("/calendar/2029", headers=token("admin-2", "admin"),
                   body=json.dumps({"holidays": ["2028-02-30", "2030-01-01"]}))
    assert bad.status_code == 400
    assert {e["path"] for e in json.loads(bad.body)["errors"]} == {"holidays.0", "holidays.1"}
