"""The timeout check (电子监察) with many open clocks: 10 due among 100 open, and 10 due among
10,000 open. The sweep must read only the clocks that are due: DynamoDB items read must not
grow with the open clocks, and the wall time should stay within 1.5x.

Measured on the local cloud's table (the deployed template: DueIndex is sparse, so stopped
and paused clocks are not in it at all). Items read are what DynamoDB would bill: the items a
Query returned (its ScannedCount) plus one per GetItem. The sweep is `yiwang.deadlines.clocks.sweep`
(the timeout check's reads and writes; sending the urge notices is SNS's cost, not counted).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import botocore.client

RUNS = int(os.environ.get("BENCH_TIMEOUT_RUNS", "5"))
DUE = 10
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class ItemsRead:
    """Counts DynamoDB items read by this process's calls while active."""

    def __init__(self) -> None:
        self.items = 0
        self.calls = 0
        self._original = botocore.client.BaseClient._make_api_call
        self._lock = threading.Lock()

    def __enter__(self) -> ItemsRead:
        meter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            answer = meter._original(client, operation, params)
            if client.meta.service_model.service_name == "dynamodb":
                with meter._lock:
                    meter.calls += 1
                    if operation in {"Query", "Scan"}:
                        meter.items += int(answer.get("ScannedCount", 0))
                    elif operation == "GetItem":
                        meter.items += 1 if "Item" in answer else 0
            return answer

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: Any) -> None:
        botocore.client.BaseClient._make_api_call = self._original  # type: ignore[method-assign]


OPEN_KINDS = ("REVIEW#GZ-ZJ", "PROMISE", "COMMITMENT#drawing-review")
"""What an accepted application keeps open: a review clock, its promise (承诺时限) and, under
容缺, a commitment clock; the open clocks are these kinds in turn."""


def open_clocks(count: int) -> None:
    """`count` running clocks, none of them due for months (one batch write per 25)."""
    from yiwang.deadlines.clocks import ClockRecord, due_partition

    start = NOW + timedelta(days=30)
    with ClockRecord.batch_write() as batch:
        for n in range(count):
            subject = f"BENCH#{uuid.uuid4().hex[:12]}"
            name = OPEN_KINDS[n % len(OPEN_KINDS)]
            batch.save(ClockRecord(
                subject, f"CLOCK#{name}", kind=name.split("#")[0], subject=subject,
                department="GZ-ZJ", step="审批", status="RUNNING", started_at=start,
                limit_days=20, deadline=start + timedelta(days=28),
                yellow_at=start + timedelta(days=24), cards=True,
                due_partition=due_partition(subject, "REVIEW#GZ-ZJ"),
                due_at=(start + timedelta(days=24)).isoformat()))


def overdue_clocks(count: int) -> list[str]:
    """`count` running clocks overdue at NOW (each earns a red card and two urge notices),
    written 25 to a batch; their subject keys."""
    from yiwang.deadlines.clocks import ClockRecord, due_partition

    start = NOW - timedelta(days=10)
    subjects = [f"BENCH#{uuid.uuid4().hex[:12]}" for _ in range(count)]
    with ClockRecord.batch_write() as batch:
        for subject in subjects:
            batch.save(ClockRecord(
                subject, "CLOCK#REVIEW#GZ-XF", kind="REVIEW", subject=subject,
                department="GZ-XF", step="审批", status="RUNNING", started_at=start,
                limit_days=5, deadline=NOW - timedelta(hours=1),
                yellow_at=start + timedelta(days=4), cards=True,
                due_partition=due_partition(subject, "REVIEW#GZ-XF"),
                due_at=(NOW - timedelta(hours=1)).isoformat()))
    return subjects


def due_clocks() -> None:
    """Ten clocks overdue at NOW (each earns its red card and urge notices): review clocks
    and promises (承诺时限) in turn."""
    from yiwang.deadlines import clocks

    for n in range(DUE):
        subject = f"BENCH#{uuid.uuid4().hex[:12]}"
        name = ("REVIEW#GZ-XF", "PROMISE")[n % 2]
        clocks.start(subject, name, kind=name.split("#")[0], subject=subject,
                     department="GZ-XF", step="审批", now=NOW - timedelta(days=10),
                     working_days=5)


def measure() -> tuple[float, int]:
    """Median sweep time and items read of RUNS sweeps, each over ten fresh due clocks."""
    from yiwang.deadlines import clocks

    seconds, items = [], []
    for _ in range(RUNS):
        due_clocks()
        with ItemsRead() as meter:
            began = time.perf_counter()
            report = clocks.sweep(NOW, {})
            seconds.append(time.perf_counter() - began)
        assert report.due == DUE, report.to_dict()
        items.append(meter.items)
    return statistics.median(seconds), max(items)


def main() -> None:
    """Start a local cloud in this process, load the clocks, and compare the two sweeps."""
    import socket
    import tempfile
    import warnings
    from pathlib import Path

    from infra.localcloud import deploy
    from infra.localcloud.server import LocalCloud

    warnings.filterwarnings("ignore")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = LocalCloud(port=port)
    server.start()
    try:
        outputs_dir = Path(tempfile.mkdtemp(prefix="yiwang-bench-"))
        deploy.deploy(server.endpoint, simulators=server.simulators.urls,
                      outputs_dir=outputs_dir, progress=lambda _: None)
        env = deploy.environment(deploy.read_outputs(outputs_dir), outputs_dir)
        with mock.patch.dict(os.environ, env):
            from yiwang.platform.config import settings

            settings.cache_clear()
            print(f"\ntimeout check: {DUE} due clocks, median of {RUNS} sweeps")
            open_clocks(100 - DUE)
            small, small_items = measure()
            print(f"  {100:>6} open: {small * 1000:7.1f} ms, {small_items} items read")
            began = time.perf_counter()
            open_clocks(10_000 - 100)
            print(f"  (loaded 9,900 more open clocks in {time.perf_counter() - began:.1f} s)")
            large, large_items = measure()
            print(f"  {10_000:>6} open: {large * 1000:7.1f} ms, {large_items} items read")
            ratio = large / small
            print(f"  time ratio {ratio:.2f} (target <= 1.5); items read "
                  f"{'constant' if large_items == small_items else 'GREW'}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
