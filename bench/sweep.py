"""`python -m bench sweep --due 1000 10000`: the fanned-out timeout check with many due clocks.

For each count: that many clocks overdue at one instant (`bench.timeout.overdue_clocks`, spread
over the DueIndex shards by their own keys) on a fresh local cloud, then one execution of the
timeout check's state machine (the one the schedule starts; here two shards at a time): a
plan, a Map over the shards,
each shard in batches of `rules.SWEEP_BATCH` until its cursor is null. Reported: the
execution's wall time here, the invocations and their longest (what must fit the function's
timeout), the function-seconds per shard (on AWS the shards run at once: the longest shard is
the sweep's time), and whether every clock was handled (red card raised, out of the index).

The local cloud runs every function in this one Python process, so shards that AWS runs in
parallel take turns here (two at a time): the wall time is an upper bound of AWS's. As in
`bench.timeout`, the urge notices are published to SNS but not delivered: the notices topic's
subscription is removed first (the local cloud delivers a queue's messages to their function
inside the publish, one at a time, which on AWS happens apart and in parallel; delivering them
is the notify function's cost, not the sweep's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from typing import Any
from unittest import mock

CONCURRENCY = 2
"""Shards swept at once here (the schedule sweeps all 17 at once): the local cloud runs every
function in one Python process on this machine's cores, where 17 batches at once would each
take 17 times as long and outlast the function's timeout; AWS gives each its own."""


def run_once(due: int) -> dict[str, Any]:
    """A fresh local cloud, `due` overdue clocks, one fanned-out sweep; what it took."""
    import tempfile
    import warnings
    from pathlib import Path

    from bench.stack import free_port
    from bench.timeout import overdue_clocks
    from infra.localcloud import deploy
    from infra.localcloud.server import LocalCloud

    warnings.filterwarnings("ignore")
    server = LocalCloud(port=free_port())
    server.start()
    try:
        outputs_dir = Path(tempfile.mkdtemp(prefix="yiwang-bench-"))
        outputs = deploy.deploy(server.endpoint, simulators=server.simulators.urls,
                                outputs_dir=outputs_dir, progress=lambda _: None)
        env = deploy.environment(deploy.read_outputs(outputs_dir), outputs_dir)
        with mock.patch.dict(os.environ, env):
            from yiwang.platform.config import settings

            settings.cache_clear()
            began = time.perf_counter()
            subjects = overdue_clocks(due)
            loaded = time.perf_counter() - began
            return {"due": due, "loadSeconds": round(loaded, 1),
                    **_sweep(server, outputs, subjects)}
    finally:
        server.stop()


def _sweep(server: Any, outputs: dict[str, str], subjects: list[str]) -> dict[str, Any]:
    from bench.timeout import NOW
    from infra.localcloud import deploy
    from yiwang.deadlines import clocks

    sfn = deploy.client("stepfunctions", server.endpoint)
    sns = deploy.client("sns", server.endpoint)
    for subscription in sns.list_subscriptions_by_topic(
            TopicArn=outputs["NoticesTopicArn"])["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    function = outputs["TimeoutCheckFunctionName"]
    before = len(server.runtime.billed)
    began = time.perf_counter()
    execution = sfn.start_execution(stateMachineArn=outputs["TimeoutCheckStateMachineArn"],
                                    name=f"bench-{time.time_ns()}",
                                    input=json.dumps({"time": NOW.isoformat(),
                                                      "concurrency": CONCURRENCY}))
    while (status := sfn.describe_execution(
            executionArn=execution["executionArn"])["status"]) == "RUNNING":
        time.sleep(0.2)
    wall = time.perf_counter() - began
    batches = [seconds for name, _, seconds in server.runtime.billed[before:]
               if name == function]
    per_shard = _shard_seconds(sfn, execution["executionArn"])
    left = [c for c in clocks.due_clocks(NOW) if c.pk in set(subjects)]
    red = sum(1 for s in subjects
              if (c := clocks.get(s, "REVIEW#GZ-XF")) and c.red_raised_at is not None)
    return {"status": status, "wallSeconds": round(wall, 1), "invocations": len(batches),
            "longestInvocationSeconds": round(max(batches, default=0), 2),
            "functionSeconds": round(sum(batches), 1),
            "longestShardSeconds": round(max(per_shard.values(), default=0), 1),
            "redCards": red, "stillDue": len(left)}


def _shard_seconds(sfn: Any, execution_arn: str) -> dict[int, float]:
    """Seconds each Map iteration (shard) spent in its batches, from the history's times."""
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        events += page["events"]
        if not (token := page.get("nextToken")):
            break
    by_id = {e["id"]: e for e in events}
    iteration_of: dict[int, int] = {}
    seconds: dict[int, float] = defaultdict(float)
    for event in events:
        if event["type"] == "MapIterationStarted":
            iteration_of[event["id"]] = event["mapIterationStartedEventDetails"]["index"]
        parent = event.get("previousEventId")
        while parent and parent not in iteration_of and parent in by_id:
            parent = by_id[parent].get("previousEventId")
        if parent in iteration_of:
            iteration_of[event["id"]] = iteration_of[parent]
        if event["type"] in ("LambdaFunctionSucceeded", "TaskSucceeded") and \
                event["id"] in iteration_of:
            scheduled = by_id.get(event.get("previousEventId"))
            while scheduled and not scheduled["type"].endswith("Scheduled"):
                scheduled = by_id.get(scheduled.get("previousEventId"))
            if scheduled:
                seconds[iteration_of[event["id"]]] += (
                    event["timestamp"] - scheduled["timestamp"]).total_seconds()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--due", type=int, nargs="+", default=[1000, 10_000])
    args = parser.parse_args(argv)
    # The functions run in this process: give Powertools what the template's Globals give
    # them, before the layer (and its metrics object) is first imported.
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "yiwang")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Yiwang")
    from yiwang.deadlines.clocks import DUE_PARTITIONS
    from yiwang.supervision.rules import SWEEP_BATCH

    print(f"fanned-out timeout check: {len(DUE_PARTITIONS)} shards, batches of {SWEEP_BATCH}")
    failed = False
    for due in args.due:
        result = run_once(due)
        print(f"  {due:>6} due: {result['status']} in {result['wallSeconds']} s here; "
              f"{result['invocations']} invocations, longest {result['longestInvocationSeconds']}"
              f" s; longest shard {result['longestShardSeconds']} s of function time; "
              f"{result['redCards']} red cards, {result['stillDue']} still due "
              f"(clocks loaded in {result['loadSeconds']} s)")
        failed |= result["status"] != "SUCCEEDED" or result["stillDue"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
