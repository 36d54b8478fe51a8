"""`python -m bench load --n 1000`: a load run on the local platform, as `make run` runs it.

N applications (every other one the construction permit, the rest simple items) are submitted
by concurrent applicants over HTTP and carried to COMPLETED by simulated staff and providers
(`bench.journey`). Reported: throughput (completed applications a second, wall time), the
lost or stuck (not COMPLETED within the timeout; the goal is none), the applications' times,
and the memory of the local cloud (this process) and of the API process. A bench, not a test:
on one machine it measures the local cloud, not AWS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
from collections import Counter
from pathlib import Path


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="applications (default 100)")
    parser.add_argument("--workers", type=int, default=16, help="concurrent applicants")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds an application may take before it counts as stuck")
    args = parser.parse_args(argv)
    from bench.journey import Api, carry, register
    from bench.stack import running

    with running() as stack:
        api = Api(stack.api)
        run = carry(api, args.n, register(stack.outputs), workers=args.workers,
                    timeout=args.timeout)
        cloud_mb = rss_mb()
        api_mb = rss_mb(stack.api_pid) if stack.api_pid else 0.0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = sorted(o.seconds for o in run.outcomes if o.status == "COMPLETED")
    print(f"\nload run: {args.n} applications, {args.workers} applicants at a time")
    print(f"  completed {run.completed} in {run.seconds:.0f} s: "
          f"{run.completed / run.seconds:.2f} applications/s; {run.decisions} staff decisions")
    if times:
        print(f"  time to COMPLETED: median {statistics.median(times):.0f} s, "
              f"max {times[-1]:.0f} s")
    stuck = run.stuck
    print(f"  lost or stuck: {len(stuck)}"
          + (f" ({dict(Counter(o.status or 'no application' for o in stuck))})" if stuck else ""))
    for outcome in stuck[:5]:
        print(f"    {outcome.kind} {outcome.application_id}: {outcome.status} "
              f"{outcome.error or ''}")
    print(f"  memory: local cloud {cloud_mb:,.0f} MB now (peak {peak_mb:,.0f} MB), "
          f"API process {api_mb:,.0f} MB")
    print(f"  API answers: {dict(sorted(api.requests.items()))}")
    return 0 if not stuck else 1


if __name__ == "__main__":
    sys.exit(main())
