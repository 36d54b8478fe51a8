"""`make bench` (python -m bench): cold starts and the local cloud's time to ready.

- Cold-start import time of every function's handler module, each in a fresh interpreter
  (median of several runs), next to a bare `import boto3` measured the same way in the same
  run; the ratio's target is <= 1.5.
- The local cloud's time to ready: from launching `python -m infra.localcloud cloud` to its
  "ready" line (template deployed); the target is 15 s.
- One construction-permit application's cost (`bench.lifecycle`) and the timeout check with
  10,000 open clocks against 100 (`bench.timeout`).
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
FUNCTION_ENV = {
    "STAGE": "bench", "TABLE_NAME": "bench-table", "BUCKET_NAME": "bench-bucket",
    "NOTICES_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
    "POWERTOOLS_SERVICE_NAME": "yiwang", "POWERTOOLS_METRICS_NAMESPACE": "Yiwang",
    # What Lambda sets in every execution environment (X-Ray's SDK, for one, reads them).
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12", "LAMBDA_TASK_ROOT": "/var/task",
    "_X_AMZN_TRACE_ID": "Root=1-00000000-000000000000000000000000;"
                        "Parent=0000000000000000;Sampled=0",
}
_TIMER = """
import importlib.util, sys, time
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""
_LOAD = """spec = importlib.util.spec_from_file_location("handler", {path!r})
module = importlib.util.module_from_spec(spec)
sys.path.insert(0, {folder!r})
spec.loader.exec_module(module)"""


def import_seconds(body: str, pythonpath: list[str]) -> float:
    """Median wall time of `body` in fresh interpreters (no bytecode writes between runs)."""
    env = {**os.environ, **FUNCTION_ENV, "PYTHONPATH": os.pathsep.join(pythonpath)}
    samples = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", _TIMER.format(body=body)], env=env,
                             capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def cold_starts() -> list[tuple[str, float, float]]:
    """(function, seconds, ratio to `import boto3`) for every function folder."""
    layers = str(REPO_ROOT / "layers")
    baseline = import_seconds("import boto3", [layers])
    rows = [("import boto3 (baseline)", baseline, 1.0)]
    for folder in sorted((REPO_ROOT / "functions").iterdir()):
        app = folder / "app.py"
        if app.is_file():
            body = _LOAD.format(path=str(app), folder=str(folder))
            seconds = import_seconds(body, [layers, str(folder)])
            rows.append((folder.name, seconds, seconds / baseline))
    return rows


def time_to_ready() -> float:
    """Seconds from launching the local cloud to its ready line."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.localcloud", "cloud", "--port", str(port),
         "--outputs-dir", str(REPO_ROOT / ".local" / "bench")],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if re.match(r"ready in ", line):
                return time.perf_counter() - started
        raise RuntimeError("the local cloud exited before it was ready")
    finally:
        process.terminate()
        process.wait(10)


COMMANDS = {"heat": "bench.heat", "load": "bench.load", "sweep": "bench.sweep",
            "lifecycle": "bench.lifecycle", "scale": "bench.capacity", "themes": "bench.themes"}
"""`python -m bench <command> [options]`: one bench of its own (`--help` for its options)."""


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        import importlib

        sys.path[:0] = [str(REPO_ROOT / "layers"), str(REPO_ROOT / "functions" / "api")]
        return int(importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:]))
    print(f"cold-start import time (median of {RUNS} fresh interpreters)")
    print(f"  {'function':28} {'ms':>8} {'ratio':>7}  target <= 1.5")
    for name, seconds, ratio in cold_starts():
        flag = "" if ratio <= 1.5 else "  OVER TARGET"
        print(f"  {name:28} {seconds * 1000:8.1f} {ratio:7.2f}{flag}")
    ready = time_to_ready()
    print(f"\nlocal cloud: ready (template deployed) {ready:.1f}s after launch; target 15 s")
    sys.path[:0] = [str(REPO_ROOT / "layers"), str(REPO_ROOT / "functions" / "api")]
    from bench import lifecycle, themes, timeout

    lifecycle.main()
    themes.main()  # 一件事一次办: a three-item theme against three applications
    timeout.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
