"""The whole platform for a bench, as `make run` starts it: the local cloud in this process
(so its request counts, `infra.localcloud.heat.HEAT`, are readable here), the sample data, and
the API (`chalice local`) in its own process on a free port, reached over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    """A running platform: the API's base URL, the cloud, the deployed stack's outputs."""

    api: str
    cloud: Any
    outputs: dict[str, str]
    api_pid: int | None = None

    def client(self, service: str) -> Any:
        """A boto3 client of the local cloud."""
        from infra.localcloud.deploy import client

        return client(service, self.cloud.endpoint)


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send this process's standard output and error (the functions' JSON logs, the
    simulators' lines, whoever holds `sys.stdout`) to `path` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _start_api(outputs_dir: Path, host: str, port: int) -> subprocess.Popen[bytes]:
    """`chalice local` as `make run` starts it, its output (a line per request) in a log file
    beside the outputs instead of on the bench's report."""
    from infra.localcloud import deploy
    from infra.localcloud.__main__ import API_DIR
    from infra.localcloud.server import REPO_ROOT

    env = {**os.environ, **deploy.environment(deploy.read_outputs(outputs_dir), outputs_dir),
           "PYTHONPATH": str(REPO_ROOT / "layers"), "PYTHONUNBUFFERED": "1"}
    log = (outputs_dir / "api.log").open("wb")
    chalice = Path(sys.executable).with_name("chalice")
    return subprocess.Popen([str(chalice), "local", "--host", host, "--port", str(port),
                             "--stage", "local", "--no-autoreload"],
                            cwd=API_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def running(quiet: bool = True) -> Iterator[Stack]:
    """Start the cloud (template deployed, schedules firing), seed it, start the API; stop
    everything on leaving."""
    from infra.localcloud import __main__ as launcher
    from infra.localcloud import deploy, seed

    warnings.filterwarnings("ignore")
    launcher._quiet()
    # A bench stopped with SIGTERM still stops the API process it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    host, api_port = "127.0.0.1", free_port()
    api = f"http://{host}:{api_port}"
    outputs_dir = Path(tempfile.mkdtemp(prefix="yiwang-bench-"))
    log = outputs_dir / "cloud.log"
    with _output_to(log) if quiet else contextlib.nullcontext():
        cloud, scheduler, outputs = launcher.start_cloud(host, free_port(), "local",
                                                         outputs_dir, api=api)
    process = None
    try:
        seed.seed(deploy.read_outputs(outputs_dir), progress=lambda _: None)
        process = _start_api(outputs_dir, host, api_port)
        launcher.wait_healthy(f"{api}/health", process, timeout=60)
        with _output_to(log) if quiet else contextlib.nullcontext():
            yield Stack(api, cloud, outputs, process.pid)
    finally:
        scheduler.stop()
        if process is not None:
            process.terminate()
            process.wait(10)
        cloud.stop()
