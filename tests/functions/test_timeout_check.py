"""The fanned-out timeout check on the local cloud: its state machine plans the DueIndex
shards, sweeps them in parallel (a Map), each in bounded batches until its cursor is null;
every due clock gets its card once. Clocks of 2024, before any other test's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.environment import environment
from tests.support.polling import eventually
from yiwang.calendar.workdays import SHANGHAI

STARTED = datetime(2024, 4, 8, 10, 0, tzinfo=SHANGHAI)  # a Monday


@pytest.fixture
def bound(cloud_env: dict[str, str], seeded: None) -> Iterator[None]:
    with environment(cloud_env):
        yield


def test_the_state_machine_sweeps_every_shard_in_bounded_batches(cloud: Any, bound: None
                                                                  ) -> None:
    from yiwang.deadlines import clocks

    prefix = f"FANOUT#{uuid.uuid4().hex[:8]}"
    started = [clocks.start(f"{prefix}-{n}", "REVIEW#GZ-ZJ", kind="REVIEW",
                            subject=f"{prefix}-{n}", department="GZ-ZJ", step="审批",
                            now=STARTED, working_days=3) for n in range(60)]
    now = started[0].deadline + timedelta(seconds=1)
    sfn = cloud.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=cloud.outputs["TimeoutCheckStateMachineArn"], name=prefix.replace("#", "-"),
        input=json.dumps({"time": now.isoformat(), "limit": 2}))
    done = eventually(lambda: (d := sfn.describe_execution(
        executionArn=execution["executionArn"]))["status"] != "RUNNING" and d, timeout=120)
    assert done["status"] == "SUCCEEDED", done
    history = sfn.get_execution_history(executionArn=execution["executionArn"],
                                        maxResults=1000)["events"]
    batches = [e for e in history if e["type"] == "TaskStateEntered"
               and e["stateEnteredEventDetails"]["name"] == "SweepBatch"]
    busiest = max(sum(c.due_partition == p for c in started) for p in clocks.DUE_PARTITIONS)
    # Every shard at least once; the busiest (more than 2 clocks) in several batches of 2.
    assert len(batches) >= len(clocks.DUE_PARTITIONS) + busiest // 2 - 1
    for clock in started:
        swept = clocks.get(clock.pk, "REVIEW#GZ-ZJ")
        assert swept.red_raised_at is not None and swept.due_partition is None, clock.pk
    assert [c for c in clocks.due_clocks(now) if c.pk.startswith(prefix)] == []
