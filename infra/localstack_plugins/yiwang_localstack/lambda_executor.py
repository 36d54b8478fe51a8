"""A LocalStack Lambda runtime executor that runs each execution environment as a host process.

LocalStack runs functions in Docker containers by default; where there is no Docker engine,
`LAMBDA_RUNTIME_EXECUTOR=yiwang-host` selects this one. Each execution environment is one
process of the function's runtime (`python3.12`: the interpreter named by
`YIWANG_LAMBDA_PYTHON312`, or `python3.12` on PATH) running `bootstrap.py`, with the function's
code and each layer's `python/` folder on its path, as Lambda lays them out in `/var/task` and
`/opt/python`. One JSON request per invocation goes over its standard input and one answer comes
back over a pipe; what the function prints is the invocation's log, which LocalStack stores in
CloudWatch Logs between the START, END and REPORT lines Lambda writes.

- a function error is answered with the exception's class name as `errorType`; a module that
  cannot be imported answers every invocation with `Runtime.ImportModuleError`;
- the timeout is enforced by ending the process group (`Sandbox.Timedout`), and the next
  invocation starts a fresh process, as Lambda resets an environment after a timeout.

There is no sandbox: the function runs as the user running LocalStack, with that user's files
and network. This is for a developer's machine and CI, not for code one does not trust.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
END_MARK = "\x1eyiwang-invocation-end "
"""bootstrap.END_MARK: the line that closes an invocation's share of the output."""
LOOPBACK = "127.0.0.1"


def interpreter(runtime: str) -> str:
    """The host interpreter for a Lambda runtime (`python3.12`); refuses other runtimes."""
    if not runtime or not runtime.startswith("python3."):
        raise LambdaRuntimeException(f"the host executor runs Python functions, not {runtime}")
    variable = f"YIWANG_LAMBDA_{runtime.upper().replace('.', '')}"
    found = os.environ.get(variable) or shutil.which(runtime)
    if not found:
        raise LambdaRuntimeException(f"no {runtime} for the function: set {variable} or put "
                                     f"{runtime} on PATH")
    return found


def code_paths(function_version: FunctionVersion) -> tuple[Path, list[Path]]:
    """The function's unzipped code, and each layer's `python/` (later layers first, as
    Lambda's `/opt` lets a later layer's files replace an earlier one's)."""
    code = function_version.config.code
    if code is None:
        raise LambdaRuntimeException("the host executor runs zip-packaged functions only")
    layers = [Path(layer.code.get_unzipped_code_location()) / "python"
              for layer in reversed(function_version.config.layers or [])]
    return Path(code.get_unzipped_code_location()), layers


class HostProcessRuntimeExecutor(RuntimeExecutor):
    """One execution environment as one host process (see the module's docstring)."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:  # noqa: A002
        super().__init__(id, function_version)
        self._env: dict[str, str] = {}
        self._process: subprocess.Popen[str] | None = None
        self._answers: Any = None
        self._output: list[str] = []
        self._marks: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._startup_logs: list[str] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        code, layers = code_paths(self.function_version)
        env = {key: str(value) for key, value in env_vars.items()}
        env.update({
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LAMBDA_TASK_ROOT": str(code),
            "PYTHONPATH": os.pathsep.join([str(code), *map(str, layers)]),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        self._env = env
        self._spawn()

    def _spawn(self) -> None:
        code, _ = code_paths(self.function_version)
        python = interpreter(str(self.function_version.config.runtime))
        read_answers, write_answers = os.pipe()
        env = {**self._env, "YIWANG_ANSWER_FD": str(write_answers)}
        self._process = subprocess.Popen(
            [python, "-P", str(BOOTSTRAP)], cwd=code, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(write_answers,), start_new_session=True)
        os.close(write_answers)
        self._answers = os.fdopen(read_answers, "r", encoding="utf-8")
        self._output = []
        threading.Thread(target=self._read_output, args=(self._process,), daemon=True,
                         name=f"lambda-output-{self.id}").start()

    def _read_output(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(END_MARK):
                mark = self._marks.get(line[len(END_MARK):].strip())
                if mark is not None:
                    mark.set()
                continue
            self._output.append(line)
            self._startup_logs.append(line)
            del self._startup_logs[:-200]

    def stop(self) -> None:
        self._end_process()

    def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        if self._answers is not None:
            self._answers.close()
            self._answers = None

    # --- addresses (the function reaches LocalStack on the loopback) -----------------------

    def get_address(self) -> str:
        return LOOPBACK

    def get_endpoint_from_executor(self) -> str:
        return LOOPBACK

    def get_runtime_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    # --- invocations -----------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self._lock:  # an environment serves one invocation at a time, as on Lambda
            return self._invoke(payload)

    def _invoke(self, payload: dict[str, str]) -> InvocationResult:
        if self._process is None or self._process.poll() is not None:
            self._spawn()  # after a timeout or a crash, a fresh environment
        assert self._process is not None and self._process.stdin is not None
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout or 3)
        started = time.monotonic()
        mark = self._marks[request_id] = threading.Event()
        request = {"request_id": request_id, "function_arn": payload["invoked-function-arn"],
                   "payload": payload["payload"],
                   "deadline_ms": int((time.time() + timeout) * 1000)}
        answer = self._exchange(request, timeout)
        duration_ms = (time.monotonic() - started) * 1000
        if answer is None:
            self._end_process()
            body: dict[str, Any] = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                                f"{timeout:.2f} seconds"}
            is_error, result = True, json.dumps(body).encode()
            self._output.append(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} "
                                f"{request_id} Task timed out after {timeout:.2f} seconds\n")
        else:
            mark.wait(2)  # the output written before the answer, read to its end
            is_error = not answer["ok"]
            result = (json.dumps(answer["error"]) if is_error else answer["payload"]).encode()
        self._marks.pop(request_id, None)
        # What the process printed since the last invocation (its start-up, first time).
        output, self._output = "".join(self._output), []
        return InvocationResult(request_id, result, is_error=is_error,
                                logs=self._log(request_id, duration_ms, output))

    def _exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one request; its answer, or None when the timeout passed first."""
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            return {"ok": False, "error": {"errorType": "Runtime.ExitError",
                                           "errorMessage": "the runtime exited"}}
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self._answers.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            return None
        if not box or not box[0]:
            return {"ok": False, "error": {"errorType": "Runtime.ExitError",
                                           "errorMessage": "the runtime exited before answering"}}
        return json.loads(box[0])

    def _log(self, request_id: str, duration_ms: float, output: str) -> str:
        memory = self.function_version.config.memory_size
        return (f"START RequestId: {request_id} Version: "
                f"{self.function_version.id.qualifier}\n{output}"
                f"END RequestId: {request_id}\n"
                f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                f"Billed Duration: {max(1, round(duration_ms))} ms\tMemory Size: {memory} MB\t"
                f"Max Memory Used: {memory} MB\t\n")

    def get_logs(self) -> str:
        return "".join(self._startup_logs)

    # --- versions --------------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Unzip the function's code and its layers where `code_paths` finds them."""
        interpreter(str(function_version.config.runtime))
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()
        for layer in function_version.config.layers or []:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing of the version's is kept outside LocalStack's own code store."""

    @classmethod
    def validate_environment(cls) -> bool:
        return sys.platform != "win32"  # process groups


class HostProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """`LAMBDA_RUNTIME_EXECUTOR=yiwang-host`."""

    name = "yiwang-host"

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return HostProcessRuntimeExecutor
