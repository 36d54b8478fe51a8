"""`python -m infra.localcloud cloud|run`: the local cloud, and the whole platform on a laptop.

- `cloud`: moto's server on 127.0.0.1:4566 with the template deployed, functions running
  in-process and the schedules firing; prints what it deployed and how long it took.
- `run`: the same, then the sample data, then the API (`chalice local` on 127.0.0.1:8000).
Both stop cleanly on Ctrl-C. The console shows one line per API request and per workflow step
(`infra.localcloud.console`); everything else printed goes to `run.log` beside the outputs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

from infra.localcloud import deploy, emf
from infra.localcloud.console import Console
from infra.localcloud.scheduler import Scheduler
from infra.localcloud.server import (
    REPO_ROOT,
    LocalCloud,
    PortTakenError,
    ensure_port_free,
    record_metrics,
)
from infra.providers import DEFAULT_API

API_DIR = REPO_ROOT / "functions" / "api"
LOG_NAME = "run.log"


def _quiet() -> None:
    # One line per request and the interpreter's state dumps drown what a person needs.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)
    # moto skips the resources it cannot model (bucket policy, alarms); AWS deploys them.
    warnings.filterwarnings("ignore", message="Tried to parse AWS::")


def _say(message: str = "") -> None:
    print(message, flush=True)


def start_cloud(
    host: str, port: int, stage: str, outputs_dir: Path, console: Console | None = None,
    api: str = DEFAULT_API,
) -> tuple[LocalCloud, Scheduler, dict[str, str]]:
    """Start the server and the provider simulators (their callbacks to `api`), deploy the
    template, start the scheduler; raise if the port is taken.

    With `console`, its messages and one line per workflow step go there."""
    say: Callable[[str], None] = console.say if console else _say
    started = time.perf_counter()
    cloud = LocalCloud(host, port, api)
    if console is not None:
        cloud.runtime.listeners.append(console.step)
    cloud.start()
    say(f"local cloud listening on {cloud.endpoint}")
    urls = cloud.simulators.urls
    say(f"payment simulator on {urls.payment}, courier simulator on {urls.courier}, "
        f"SMS simulator on {urls.sms}")
    outputs = deploy.deploy(cloud.endpoint, simulators=urls, stage=stage,
                            outputs_dir=outputs_dir, progress=lambda message: say(f"  {message}"))
    scheduler = Scheduler(partial(deploy.client, endpoint=cloud.endpoint))
    scheduler.tick()
    scheduler.start()
    say(f"ready in {time.perf_counter() - started:.1f}s; deployed:")
    for key, value in outputs.items():
        say(f"  {key:26} {value}")
    say(f"  outputs written to {outputs_dir / 'outputs.json'}")
    return cloud, scheduler, outputs


def start_api(outputs_dir: Path, host: str, port: int, metrics: emf.Publish | None = None,
              console: Console | None = None) -> subprocess.Popen[bytes]:
    """`chalice local` against the local cloud, with the layer on the path.

    With `metrics`, the API's EMF lines are recorded (the local cloud's CloudWatch), as
    CloudWatch Logs does for the API's function on AWS. With `console`, the same server runs
    under `infra.localcloud.api_server`, which describes each request in a line; the API's
    output is routed by the console (a line per request; the rest to its log file).
    """
    ensure_port_free(host, port)
    outputs = deploy.read_outputs(outputs_dir)
    env = {**dict(os.environ), **deploy.environment(outputs, outputs_dir),
           "PYTHONPATH": str(REPO_ROOT / "layers"), "PYTHONUNBUFFERED": "1"}
    options = ["--host", host, "--port", str(port), "--stage", outputs["Stage"]]
    if console is not None:
        # The launcher lives in this repository's `infra`, the app in the API's folder (cwd).
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "layers"), str(REPO_ROOT)])
        command = [sys.executable, "-m", "infra.localcloud.api_server", *options]
    else:
        chalice = Path(sys.executable).with_name("chalice")
        command = [str(chalice), "local", *options, "--no-autoreload"]
    piped = metrics is not None or console is not None
    process = subprocess.Popen(
        command, cwd=API_DIR, env=env, stdout=subprocess.PIPE if piped else None,
        stderr=subprocess.STDOUT if console is not None else None,
    )
    if process.stdout is not None:
        relay = (partial(console.relay, process.stdout, metrics) if console is not None
                 else partial(emf.relay, process.stdout, metrics, sys.stdout))
        threading.Thread(target=relay, daemon=True).start()
    return process


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer healthy within {timeout:.0f}s")


def wait_for_interrupt() -> None:
    """Wait for Ctrl-C (SIGINT) or SIGTERM. SIGINT gets its own handler: a shell that starts
    `make run` in the background hands it SIGINT ignored, and Python keeps it so."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.localcloud", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["cloud", "run"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566, help="local cloud port")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--outputs-dir", type=Path, default=deploy.OUTPUTS_DIR,
                        help="where the stack outputs are written")
    args = parser.parse_args(argv)
    _quiet()
    try:
        # Before the log file is opened: a refused start must not empty a running one's log.
        if args.command == "run":
            ensure_port_free(args.host, args.api_port)
        ensure_port_free(args.host, args.port)
    except PortTakenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    console = Console.open(args.outputs_dir / LOG_NAME)
    console.say(f"log (EMF, JSON logs, AWS and server chatter): {console.log_path}")
    console.capture_process_output()
    try:
        cloud, scheduler, outputs = start_cloud(args.host, args.port, args.stage,
                                                args.outputs_dir, console,
                                                f"http://{args.host}:{args.api_port}")
    except PortTakenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    api = None
    try:
        if args.command == "run":
            from infra.localcloud import seed

            seed.seed(deploy.read_outputs(args.outputs_dir),
                      progress=lambda message: console.say(f"  {message}"))
            api = start_api(args.outputs_dir, args.host, args.api_port, record_metrics, console)
            base = f"http://{args.host}:{args.api_port}"
            try:
                wait_healthy(f"{base}/health", api)
            except (RuntimeError, TimeoutError) as error:
                console.say(f"error: {error} (its output is in {console.log_path})")
                return 1
            console.say(f"\nAPI  {base}\ncloud {cloud.endpoint}\ntry:  curl {base}/health\n")
        console.say("Ctrl-C to stop.")
        wait_for_interrupt()
    finally:
        console.say("stopping...")
        scheduler.stop()
        if api is not None:
            api.terminate()
            api.wait(10)
        cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
