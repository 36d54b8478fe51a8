"""LocalStack without Docker: started in host mode, the same template deployed to it.

`make localstack` (`python -m infra.localcloud.localstack run`) is `make run` on LocalStack:
LocalStack on 127.0.0.1:4566 (`--port`), the template deployed with the same deploy code as the
embedded cloud (`deploy.deploy`, the layer carrying its packages), the sample data, the provider
simulators and the API; Ctrl-C stops everything. `deploy` deploys to a LocalStack already
running. The test suite starts one the same way (`YIWANG_TEST_TARGET=localstack`).

LocalStack (localstack-core 2026.3.0, Python 3.13: it uses `warnings.deprecated`) runs from
`.venv-localstack`, with this repository's plugins (`infra/localstack_plugins`): DynamoDB and
its streams over moto, and Lambda functions as host processes of `.venv-functions`' Python 3.12
(the template's runtime). `make localstack-env` builds both environments.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from infra.localcloud import deploy
from infra.localcloud.server import REPO_ROOT, PortTakenError, ensure_port_free
from infra.localcloud.simulators import Simulators

LOCALSTACK_PYTHON = REPO_ROOT / ".venv-localstack" / "bin" / "python"
FUNCTIONS_PYTHON = REPO_ROOT / ".venv-functions" / "bin" / "python"
SERVICES = ("cloudformation,s3,lambda,dynamodb,dynamodbstreams,stepfunctions,sqs,sns,kms,logs,"
            "iam,sts,cloudwatch,secretsmanager,events")
"""What the template uses, and nothing else (each service LocalStack loads costs start time)."""
STACK_NAME = "yiwang-local"


class LocalStackMissing(RuntimeError):
    """The LocalStack environment has not been built (`make localstack-env`)."""


def localstack_environment(host: str, port: int, root: Path) -> dict[str, str]:
    """The variables that start LocalStack in host mode with this repository's plugins."""
    return {
        **os.environ,
        "GATEWAY_LISTEN": f"{host}:{port}",
        "LOCALSTACK_HOST": f"{host}:{port}",
        "SERVICES": SERVICES,
        # Queue URLs on the gateway's path: host names under localhost.localstack.cloud need DNS.
        "SQS_ENDPOINT_STRATEGY": "path",
        "DNS_ADDRESS": "0",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "DISABLE_EVENTS": "1",
        "FILESYSTEM_ROOT": str(root / "filesystem"),
        "XDG_CACHE_HOME": str(root / "cache"),  # plux's entry-point cache, per instance
        "PROVIDER_OVERRIDE_DYNAMODB": "yiwang",
        "PROVIDER_OVERRIDE_DYNAMODBSTREAMS": "yiwang",
        "LAMBDA_RUNTIME_EXECUTOR": "yiwang-host",
        "YIWANG_LAMBDA_PYTHON312": str(FUNCTIONS_PYTHON),
    }


class LocalStack:
    """One LocalStack process in host mode; `start()` returns once it answers healthy."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566,
                 root: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.root = root or REPO_ROOT / ".local" / f"localstack-{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_seconds = 0.0
        self.simulators: Simulators | None = None
        """The provider simulators its stack was deployed with (`deploy_to`)."""

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "localstack.log"

    def start(self, timeout: float = 180) -> None:
        """Start LocalStack; raise `PortTakenError` when the port is held, `LocalStackMissing`
        when its environment is not built, RuntimeError when it exits or never gets ready."""
        for python in (LOCALSTACK_PYTHON, FUNCTIONS_PYTHON):
            if not python.exists():
                raise LocalStackMissing(f"{python} is missing: run `make localstack-env` (it "
                                        f"needs Python 3.13 and 3.12, e.g. from pyenv)")
        ensure_port_free(self.host, self.port)
        self.root.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(LOCALSTACK_PYTHON), "-m", "localstack.runtime.main"], cwd=self.root,
            env=localstack_environment(self.host, self.port, self.root), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self.process.poll() is not None:
                raise RuntimeError(f"LocalStack exited with {self.process.returncode}; "
                                   f"see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"LocalStack not ready after {timeout:.0f}s; "
                                   f"see {self.log_path}")
            time.sleep(0.2)
        self.ready_seconds = time.perf_counter() - started

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_localstack/health", timeout=2):
                return True
        except OSError:
            return False

    def peak_memory_mb(self) -> float:
        """LocalStack's peak resident memory so far (VmHWM), in MB; 0 when not running."""
        if self.process is None:
            return 0.0
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        """End LocalStack and the function processes it started (its process group)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, 15)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def deploy_to(localstack: LocalStack, simulators: Simulators, outputs_dir: Path,
              progress: deploy.Progress = print) -> dict[str, str]:
    """The template on LocalStack: the same deploy, the layer carrying its packages (the
    functions run under `.venv-functions`' Python, not in this `.venv`)."""
    localstack.simulators = simulators
    return deploy.deploy(localstack.endpoint, simulators=simulators.urls, stack_name=STACK_NAME,
                         outputs_dir=outputs_dir, progress=progress, layer_packages=True)


def run(args: argparse.Namespace) -> int:
    """`make localstack`: LocalStack, the stack, the sample data, the simulators and the API."""
    from infra.localcloud import seed
    from infra.localcloud.__main__ import start_api, wait_for_interrupt, wait_healthy

    localstack = LocalStack(args.host, args.port)
    base = f"http://{args.host}:{args.api_port}"
    simulators = Simulators(args.host, base)
    api = None
    try:
        ensure_port_free(args.host, args.api_port)
        localstack.start()
        print(f"LocalStack ready on {localstack.endpoint} in {localstack.ready_seconds:.1f}s "
              f"(log: {localstack.log_path})", flush=True)
        simulators.start()
        started = time.perf_counter()
        deploy_to(localstack, simulators, args.outputs_dir,
                  progress=lambda message: print(f"  {message}", flush=True))
        print(f"deployed in {time.perf_counter() - started:.1f}s", flush=True)
        seed.seed(deploy.read_outputs(args.outputs_dir),
                  progress=lambda message: print(f"  {message}", flush=True))
        api = start_api(args.outputs_dir, args.host, args.api_port)
        wait_healthy(f"{base}/health", api)
        print(f"\nAPI  {base}\ncloud {localstack.endpoint} (LocalStack)\nCtrl-C to stop.",
              flush=True)
        wait_for_interrupt()
    except (PortTakenError, LocalStackMissing) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        print("stopping...", flush=True)
        if api is not None:
            api.terminate()
            api.wait(10)
        simulators.stop()
        localstack.stop()
    return 0


def deploy_only(args: argparse.Namespace) -> int:
    """`make deploy-localstack`: deploy to a LocalStack already running at --port."""
    endpoint = f"http://{args.host}:{args.port}"
    try:
        urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=3)
    except OSError as error:
        print(f"error: no LocalStack answers at {endpoint} ({error}); `make localstack` "
              f"starts one", file=sys.stderr)
        return 2
    simulators = Simulators(args.host, f"http://{args.host}:{args.api_port}")
    simulators.start()
    try:
        outputs = deploy_to(LocalStack(args.host, args.port), simulators, args.outputs_dir)
    finally:
        simulators.stop()
    for key, value in outputs.items():
        print(f"  {key:26} {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.localcloud.localstack",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "deploy"], nargs="?", default="run")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566, help="LocalStack's port")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--outputs-dir", type=Path, default=deploy.OUTPUTS_DIR)
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else deploy_only(args)


if __name__ == "__main__":
    sys.exit(main())
