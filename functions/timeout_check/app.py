"""电子监察 timeout check: the scheduled sweep over the clocks that are due.

"Now" is the scheduled event's `time`, so a test moves time by sending an event. Three kinds
of event:
- `{"time", "plan": true, "input"}` (the fanned-out check's first step,
  `timeout_check.asl.json`; `input` is the execution's): the DueIndex shards to sweep and the
  batch size (`rules.SWEEP_BATCH`, or the input's `limit`) and how many shards at once (the
  input's `concurrency`, 0 for all: the schedule's), `{"now", "partitions", "limit",
  "concurrency"}`;
- `{"time", "partition", "cursor", "limit"}` (one step of its Map, per shard): one bounded
  batch of that shard from `cursor`; the answer's `cursor` is the next batch's, null when the
  shard is done;
- a scheduled event with neither: the whole sweep in this one invocation (every shard).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yiwang.deadlines.clocks import DUE_PARTITIONS
from yiwang.platform.clients import client
from yiwang.platform.config import settings
from yiwang.platform.observability import lambda_entry
from yiwang.supervision import rules


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: see the module. Returns what the sweep did (counts and names)."""
    now = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    if event.get("plan"):
        # The event's own time string goes on, so every batch sweeps at the same instant.
        given = event.get("input") or {}
        limit = int(given.get("limit") or rules.SWEEP_BATCH)
        return {"now": event["time"], "partitions": DUE_PARTITIONS, "limit": limit,
                "concurrency": int(given.get("concurrency") or 0)}
    topic = settings().require("notices_topic_arn")
    if "partition" in event:
        limit = int(event.get("limit") or rules.SWEEP_BATCH)
        report = rules.timeout_check_batch(now, event["partition"], event.get("cursor"),
                                           client("stepfunctions"), client("sns"), topic, limit)
        return {"now": event["time"], "partition": event["partition"], "limit": limit,
                **report.to_dict()}
    report = rules.timeout_check(now, client("stepfunctions"), client("sns"), topic)
    return {"now": now.isoformat(), **report.to_dict()}
