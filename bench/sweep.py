"""`python -m bench sweep --due 1000 10000`: the fanned-out timeout check with many due clocks.

For each count: that many clocks overdue at one instant (`bench.timeout.overdue_clocks`, spread
over the DueIndex shards by their own keys) on a fresh local cloud, then one execution of the
timeout check's state machine (the one the schedule starts; here two shards at a time): a
plan, a Map over the shards,
each shard in batches of `rules.SWEEP_BATCH` until its cursor is null. Reported: the
execution's wall time here, the invocations and their longest (what must fit the function's
timeout), the function-seconds in all and per shard on average (on AWS the shards run at
once: a shard's time is the sweep's), and whether every clock was handled (red card raised,
out of the index).

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
    left = [c for c in clocks.due_clocks(NOW) if c.pk in set(subjects)]
    red = sum(1 for s in subjects
              if (c := clocks.get(s, "REVIEW#GZ-XF")) and c.red_raised_at is not None)
    return {"status": status, "wallSeconds": round(wall, 1), "invocations": len(batches),
            "longestInvocationSeconds": round(max(batches, default=0), 2),
            "functionSeconds": round(sum(batches), 1),
            "perShardSeconds": round(sum(batches) / len(clocks.DUE_PARTITIONS), 1),
            "redCards": red, "stillDue": len(left)}


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
              f" s; {result['functionSeconds']} s of function time, "
              f"{result['perShardSeconds']} s a shard on average; "
              f"{result['redCards']} red cards, {result['stillDue']} still due "
              f"(clocks loaded in {result['loadSeconds']} s)")
        failed |= result["status"] != "SUCCEEDED" or result["stillDue"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
