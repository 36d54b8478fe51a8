"""The sharded DueIndex: each clock in its own shard (the same through pause and resume), the
sweep reading every shard, the bounded sweep of one shard batch by batch, each clock once.

The dates are in 2025, before any clock another test starts, so only these clocks are due."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from yiwang.calendar.workdays import SHANGHAI

STARTED = datetime(2025, 3, 3, 10, 0, tzinfo=SHANGHAI)  # a Monday
SECOND = timedelta(seconds=1)


def test_shards_are_stable_and_spread() -> None:
    from yiwang.table.shards import SHARDS, all_shards, shard_of, sharded

    assert sharded("CLOCK", "APP#1#ACCEPTANCE") == sharded("CLOCK", "APP#1#ACCEPTANCE")
    assert all_shards("CLOCK")[:2] == ["CLOCK#00", "CLOCK#01"]
    assert len(all_shards("CLOCK")) == SHARDS
    spread = {shard_of(f"APP#YW{n:012d}") for n in range(200)}
    assert spread == set(range(SHARDS))  # 200 ids reach every shard


@pytest.fixture
def prefix(table: None) -> str:
    return f"SHARD#{uuid.uuid4().hex[:8]}"


def start(subject: str, days: int = 5) -> object:
    from yiwang.deadlines import clocks

    return clocks.start(subject, "ACCEPTANCE", kind="ACCEPTANCE", subject=subject,
                        department="WINDOW", step="受理", now=STARTED, working_days=days)


def test_a_clock_sits_in_its_own_shard_through_pause_and_resume(prefix: str) -> None:
    from yiwang.deadlines import clocks

    subjects = [f"{prefix}-{n}" for n in range(40)]
    started = [start(subject) for subject in subjects]
    shards = {clock.due_partition for clock in started}
    assert len(shards) > 8 and all(s in clocks.DUE_PARTITIONS for s in shards)
    assert all(c.due_partition == clocks.due_partition(c.pk, "ACCEPTANCE") for c in started)
    clocks.pause(subjects[0], "ACCEPTANCE", STARTED + timedelta(days=1))
    assert clocks.get(subjects[0], "ACCEPTANCE").due_partition is None  # out of the index
    resumed = clocks.resume(subjects[0], "ACCEPTANCE", STARTED + timedelta(days=2))
    assert resumed.due_partition == started[0].due_partition


def test_the_sweep_reads_every_shard_and_the_unsharded_partition(prefix: str) -> None:
    from yiwang.deadlines import clocks

    subjects = [f"{prefix}-{n}" for n in range(20)]
    started = [start(subject) for subject in subjects]
    # A clock written before the index was sharded sits in the unsharded partition.
    legacy = start(f"{prefix}-legacy")
    legacy.update(actions=[clocks.ClockRecord.due_partition.set(clocks.DUE_PARTITION)])
    report = clocks.sweep(started[0].yellow_at + SECOND, {})
    yellow = {name.split(":")[0] for name in report.yellow if name.startswith(prefix)}
    assert yellow == {*subjects, f"{prefix}-legacy"}


def test_a_bounded_sweep_takes_a_shard_batch_by_batch_each_clock_once(prefix: str) -> None:
    from yiwang.deadlines import clocks

    subjects = [f"{prefix}-{n}" for n in range(120)]
    started = [start(subject, days=3) for subject in subjects]
    partition = max(clocks.DUE_PARTITIONS[:-1],
                    key=lambda p: sum(c.due_partition == p for c in started))
    mine = {c.pk for c in started if c.due_partition == partition}
    assert len(mine) >= 5
    now = started[0].deadline + SECOND  # overdue: red card, the clock leaves the index
    seen: list[str] = []
    cursor, batches = None, 0
    while True:
        report = clocks.sweep_batch(now, {}, partition, limit=3, cursor=cursor)
        assert report.due <= 3
        seen += [name.split(":")[0] for name in report.red if name.startswith(prefix)]
        batches += 1
        if report.cursor is None:
            break
        cursor = report.cursor
    assert sorted(seen) == sorted(mine)  # each clock of the shard once, none of another
    assert batches >= len(mine) // 3
    assert not any(c.pk in mine for c in clocks.due_clocks(now, [partition]))
