"""Clocks and the sweep on the deployed table, moved through time by the `now` they are given.

The dates are around National Day 2026 (1-7 Oct holidays, Sat 10 Oct an adjusted working
day), long before any clock the other tests start, so no other test's clock is due here.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from yiwang.calendar.workdays import SHANGHAI

SUBMITTED = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)  # Wednesday before National Day
SECOND = timedelta(seconds=1)


@pytest.fixture
def subject(table: None) -> str:
    return f"TEST#{uuid.uuid4().hex[:10]}"


def five_day_clock(subject: str, **options: Any) -> Any:
    from yiwang.deadlines import clocks

    return clocks.start(subject, "ACCEPTANCE", kind="ACCEPTANCE", subject=subject,
                        department="WINDOW", step="受理", now=SUBMITTED, working_days=5,
                        **options)


def mine(names: list[str], subject: str) -> list[str]:
    return [name for name in names if name.startswith(f"{subject}:")]


def test_warning_is_a_fifth_of_the_limit_but_at_least_one_day() -> None:
    from yiwang.deadlines.clocks import warning_days

    assert [warning_days(n) for n in (1, 5, 9, 10, 20, 45)] == [1, 1, 1, 2, 4, 9]


def test_a_clock_counts_working_days_across_national_day(subject: str) -> None:
    clock = five_day_clock(subject)
    # 8, 9, 10 (调休 Saturday), 12, 13 October.
    assert clock.deadline == datetime(2026, 10, 13, 23, 59, 59, tzinfo=SHANGHAI)
    assert clock.yellow_at == datetime(2026, 10, 12, 23, 59, 59, tzinfo=SHANGHAI)
    assert five_day_clock(subject).started_at == clock.started_at  # started once


def test_yellow_then_red_each_once_with_urge_notices(subject: str) -> None:
    from yiwang.deadlines import clocks

    clock = five_day_clock(subject)
    assert mine(clocks.sweep(clock.yellow_at - SECOND, {}).yellow, subject) == []
    first = clocks.sweep(clock.yellow_at + SECOND, {})
    assert mine(first.yellow, subject) == [f"{subject}:ACCEPTANCE"]
    urged = [n for n in first.notices if subject in n.body]
    assert {n.recipient for n in urged} == {"DEPT#WINDOW", clocks.SUPERVISORS}
    assert all(n.kind == "URGE_YELLOW" and "受理" in n.title for n in urged)
    assert mine(clocks.sweep(clock.yellow_at + 2 * SECOND, {}).yellow, subject) == []
    late = clocks.sweep(clock.deadline + SECOND, {})
    assert mine(late.red, subject) == [f"{subject}:ACCEPTANCE"]
    assert mine(clocks.sweep(clock.deadline + timedelta(days=3), {}).red, subject) == []
    cards = [c for c in clocks.open_cards() if c.subject == subject]
    assert sorted(c.level for c in cards) == ["RED", "YELLOW"]
    assert [a.event for a in clocks.trail(subject)] == ["CLOCK_STARTED", "YELLOW_CARD",
                                                        "RED_CARD"]


def test_a_clock_stopped_in_time_raises_nothing_and_closes_its_cards(subject: str) -> None:
    from yiwang.deadlines import clocks

    clock = five_day_clock(subject)
    clocks.sweep(clock.yellow_at + SECOND, {})
    assert [c.level for c in clocks.open_cards("YELLOW") if c.subject == subject] == ["YELLOW"]
    clocks.stop(subject, "ACCEPTANCE", clock.yellow_at + 2 * SECOND)
    assert [c for c in clocks.open_cards() if c.subject == subject] == []
    report = clocks.sweep(clock.deadline + SECOND, {})
    assert mine(report.red, subject) == []
    assert clocks.get(subject, "ACCEPTANCE").status == "STOPPED"


def test_the_rule_runs_once_at_the_deadline(subject: str) -> None:
    from yiwang.deadlines import clocks

    calls: list[str] = []
    clock = five_day_clock(subject, cards=False, action="TEST_RULE",
                           context={"what": "deemed accepted"})
    rules = {"TEST_RULE": lambda c, now: calls.append(c.context["what"])}
    assert f"TEST_RULE:{subject}" not in clocks.sweep(clock.deadline - SECOND, rules).actions
    clocks.sweep(clock.deadline + SECOND, rules)
    clocks.sweep(clock.deadline + 2 * SECOND, rules)
    assert calls == ["deemed accepted"]
    assert clocks.get(subject, "ACCEPTANCE").status == "EXPIRED"
    assert [c for c in clocks.open_cards() if c.subject == subject] == []  # no cards asked


def test_a_failed_rule_is_tried_again_by_the_next_sweep(subject: str) -> None:
    from yiwang.deadlines import clocks

    clock = five_day_clock(subject, cards=False, action="FLAKY")
    attempts: list[datetime] = []

    def flaky(c: Any, now: datetime) -> None:
        attempts.append(now)
        if len(attempts) == 1:
            raise RuntimeError("the step was busy")

    first = clocks.sweep(clock.deadline + SECOND, {"FLAKY": flaky})
    assert f"FLAKY:{subject}" in first.failed
    assert clocks.get(subject, "ACCEPTANCE").status == "RUNNING"
    second = clocks.sweep(clock.deadline + 2 * SECOND, {"FLAKY": flaky})
    assert f"FLAKY:{subject}" in second.actions
    assert len(attempts) == 2


def test_an_unknown_rule_leaves_the_clock_due(subject: str) -> None:
    from yiwang.deadlines import clocks

    clock = five_day_clock(subject, cards=False, action="NOT_DEPLOYED_YET")
    report = clocks.sweep(clock.deadline + SECOND, {})
    assert f"NOT_DEPLOYED_YET:{subject}" in report.failed
    assert clocks.get(subject, "ACCEPTANCE").due_at is not None


def test_pause_keeps_the_days_left_and_resume_gives_them_back(subject: str) -> None:
    from yiwang.deadlines import clocks

    five_day_clock(subject)
    # Paused on Thu 8 Oct: 9, 10, 12, 13 are left.
    paused = clocks.pause(subject, "ACCEPTANCE",
                          datetime(2026, 10, 8, 15, 0, tzinfo=SHANGHAI))
    assert paused.status == "PAUSED"
    assert int(clocks.get(subject, "ACCEPTANCE").remaining_days) == 4
    far = clocks.sweep(datetime(2026, 10, 30, tzinfo=SHANGHAI), {})
    assert mine(far.red + far.yellow, subject) == []  # a paused clock is never due
    resumed = clocks.resume(subject, "ACCEPTANCE",
                            datetime(2026, 10, 19, 9, 0, tzinfo=SHANGHAI))  # Monday
    assert resumed.status == "RUNNING"
    assert resumed.deadline == datetime(2026, 10, 23, 23, 59, 59, tzinfo=SHANGHAI)  # 20-23
    assert resumed.yellow_at == datetime(2026, 10, 22, 23, 59, 59, tzinfo=SHANGHAI)


def test_an_extension_moves_the_deadline_and_the_red_card(subject: str) -> None:
    from yiwang.deadlines import clocks

    clock = five_day_clock(subject)
    extended = clocks.extend(subject, "ACCEPTANCE", 2, SUBMITTED + timedelta(days=1))
    assert extended.deadline == datetime(2026, 10, 15, 23, 59, 59, tzinfo=SHANGHAI)
    assert mine(clocks.sweep(clock.deadline + SECOND, {}).red, subject) == []
    assert mine(clocks.sweep(extended.deadline + SECOND, {}).red, subject) == [
        f"{subject}:ACCEPTANCE"]


def test_the_sweep_reads_only_the_clocks_that_are_due(subject: str) -> None:
    from yiwang.deadlines import clocks

    for n in range(30):  # open, not due for months
        clocks.start(f"{subject}-{n}", "REVIEW#X", kind="REVIEW", subject=f"{subject}-{n}",
                     department="X", step="审批", now=SUBMITTED + timedelta(days=60),
                     working_days=20)
    due = five_day_clock(subject)
    before = {c.pk for c in clocks.due_clocks(due.yellow_at + SECOND)}
    assert subject in before
    assert not any(pk.startswith(f"{subject}-") for pk in before)
