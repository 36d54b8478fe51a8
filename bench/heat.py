"""`python -m bench heat --n 50`: partition heat of N applications carried end to end.

The platform runs as `make run` runs it (`bench.stack`); N applications (every other one the
three-department construction permit, the rest simple items of three other departments) are
submitted by concurrent applicants and carried to COMPLETED by simulated staff and providers
(`bench.journey`). The local cloud counts every DynamoDB request by table or index and
partition key value (`infra.localcloud.heat`); the report gives, for the table and each index,
the hottest key's share of the writes and of the reads and the five hottest keys.

A design without hot keys shows the hottest share falling as N grows (the load spreads over
more keys); a key every application writes keeps its share whatever N is, and at a province's
rate its partition's limit (about 1,000 writes a second) is the platform's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.stack import running

REPO_ROOT = Path(__file__).resolve().parents[1]


def measure(n: int, workers: int) -> dict[str, Any]:
    """Run N applications; the heat report (per kind, per target) and the run's outcome."""
    from bench.journey import Api, carry, register
    from bench.load import rss_mb
    from infra.localcloud.heat import HEAT, report

    with running() as stack:
        HEAT.reset()
        # An application the local cloud lost (a function timed out on a starved machine)
        # is counted stuck after five minutes instead of holding its applicant for ten.
        run = carry(Api(stack.api), n, register(stack.outputs), workers=workers, timeout=300)
        counts = HEAT.snapshot()
        memory = {"cloudMb": round(rss_mb()), "apiMb": round(rss_mb(stack.api_pid or "self"))}
    result: dict[str, Any] = {"n": n, "seconds": round(run.seconds, 1),
                              "completed": run.completed, "stuck": len(run.stuck),
                              "errors": [o.error for o in run.stuck if o.error][:5],
                              "throughput": round(run.completed / run.seconds, 3),
                              "memory": memory}
    for kind in ("writes", "reads"):
        result[kind] = [{"target": row.target, "total": row.total,
                         "hottestShare": round(row.hottest_share, 4), "top": row.top}
                        for row in report(counts[kind])]
    return result


def show(result: dict[str, Any]) -> None:
    """Print the report."""
    print(f"\npartition heat, {result['n']} applications end to end: {result['completed']} "
          f"completed, {result['stuck']} not, in {result['seconds']} s "
          f"({result['throughput']} applications/s; local cloud {result['memory']['cloudMb']} "
          f"MB, API {result['memory']['apiMb']} MB)")
    for error in result["errors"]:
        print(f"  error: {error}")
    for kind in ("writes", "reads"):
        print(f"\n  {kind}: {'target':14} {'total':>7} {'hottest':>8}  top five keys")
        for row in result[kind]:
            top = ", ".join(f"{key} {count}" for key, count in row["top"])
            print(f"  {'':7} {row['target']:14} {row['total']:7} {row['hottestShare']:8.1%}  "
                  f"{top}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench heat", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50, help="applications (default 50)")
    parser.add_argument("--workers", type=int, default=16, help="concurrent applicants")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    result = measure(args.n, args.workers)
    show(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if result["stuck"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
