"""An in-process Lambda runtime.

moto would run a function in Docker, and there is none here, so the local cloud calls the
handler in its own process: the handler module is imported from the function's folder under
`functions/` with the layer's folder on `sys.path`, the function's environment is applied for
the duration of the call, and the answer is what Lambda's Invoke would return: the JSON result,
or a function error whose `errorType` is the exception's class name (so ASL Retry/Catch match
it exactly as on AWS).

Environment variables are per invocation: `os.environ` is replaced once by a mapping that
reads a context-local overlay first, so two functions with different settings can run at the
same time in different threads without seeing each other's values.

Output is per invocation too: what a function prints still reaches this process's stdout, and
is also kept aside for the invocation printing it (`print` consults a context variable).
So are Powertools' metric buffers: on Lambda each execution environment is a process of its
own, while here every function shares the layer's one `Metrics` object, whose buffer would
otherwise collect two concurrent invocations' metrics and flush them in whichever ends first.
After the call, the EMF documents among those lines become metrics, as CloudWatch Logs makes
them on AWS, and the invocation adds Lambda's own `AWS/Lambda` Invocations, Errors and
Duration; both go to the `metrics` publisher the local cloud gives (its CloudWatch).
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import dataclasses
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.localcloud import emf
from infra.localcloud.patches import replace

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FunctionSpec:
    """What the runtime needs to know of a deployed function."""

    name: str
    arn: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3.0
    memory_mb: int = 128
    version: str = "$LATEST"
    region: str = "us-east-1"


@dataclass(frozen=True)
class Invocation:
    """The result of one invocation: the payload bytes and, for a function error, its type."""

    payload: bytes
    error_type: str | None = None
    log: str = ""
    """What the function printed during the invocation (Lambda's log of it)."""

    @property
    def failed(self) -> bool:
        return self.error_type is not None

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True)
class Finished:
    """One finished invocation, as the runtime's listeners hear of it."""

    spec: FunctionSpec
    event: Any
    error_type: str | None
    started_at: float
    """Wall-clock time (epoch seconds) the invocation started."""
    seconds: float


class LambdaContext:
    """The context object Lambda passes to a handler (the attributes Powertools reads)."""

    def __init__(self, spec: FunctionSpec, deadline: float) -> None:
        self.function_name = spec.name
        self.function_version = spec.version
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _InvocationEnviron(MutableMapping[str, str]):
    """`os.environ` with a per-invocation overlay (a context variable) in front of it."""

    _overlay: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
        "lambda_environment", default=None
    )

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay.get()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay.get()
        (overlay if overlay is not None else self.base)[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay.get()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self.base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay.get() or {}
        yield from overlay
        yield from (k for k in self.base if k not in overlay)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)

    def applied(self, variables: Mapping[str, str]) -> contextvars.Token:
        return self._overlay.set(dict(variables))

    def reset(self, token: contextvars.Token) -> None:
        self._overlay.reset(token)


class _InvocationOutput:
    """What each invocation prints to stdout, kept per invocation (a context variable).

    `print` is wrapped once, not `sys.stdout`: a test runner swaps and closes `sys.stdout`
    between phases, and a stream wrapper installed from a function's thread would race with it
    (writing into a closed capture). EMF libraries (Powertools among them) emit with `print`.
    """

    _printed: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
        "lambda_output", default=None
    )

    @classmethod
    def install(cls) -> None:
        if builtins.print is not _printing:
            builtins.print = _printing

    @classmethod
    def kept(cls) -> list[str] | None:
        """Where this context's printed text goes, if it runs an invocation."""
        return cls._printed.get()

    @classmethod
    def capturing(cls) -> contextvars.Token:
        return cls._printed.set([])

    @classmethod
    def release(cls, token: contextvars.Token) -> list[str]:
        """The lines printed since `capturing()` in this context; stops keeping them."""
        lines = "".join(cls._printed.get() or []).splitlines()
        cls._printed.reset(token)
        return lines


@contextlib.contextmanager
def printed_in_this_context() -> Iterator[list[str]]:
    """The lines `print` sends to stdout from this context while the block runs (in the list
    once it ends), and none of what the local cloud's functions print meanwhile in their own
    threads: what an API request made from this thread printed, say, without another file's
    stream work still running in this process."""
    _InvocationOutput.install()
    token = _InvocationOutput.capturing()
    lines: list[str] = []
    try:
        yield lines
    finally:
        lines.extend(_InvocationOutput.release(token))


_print = builtins.print


def _printing(*values: object, sep: str | None = " ", end: str | None = "\n",
              file: Any = None, flush: bool = False) -> None:
    """`print`, also keeping what goes to stdout for the invocation printing it."""
    kept = _InvocationOutput.kept()
    if kept is not None and (file is None or file is sys.stdout):
        kept.append((" " if sep is None else sep).join(map(str, values))
                    + ("\n" if end is None else end))
    _print(*values, sep=sep, end=end, file=file, flush=flush)


class _InvocationMetricBuffers:
    """Powertools' metric buffers, kept per invocation (a context variable).

    `Metrics` instances share class-level dicts (one buffer per process, as one execution
    environment has); the EMF provider holds them as `metric_set`, `dimension_set`,
    `metadata_set` and `dimension_sets`. Each becomes a property that, inside an invocation,
    answers that invocation's own empty buffer (shared by the providers that share the
    process's buffer, as on Lambda), and outside one the process's, as before.
    """

    _buffers: contextvars.ContextVar[dict[tuple[str, int], Any] | None] = \
        contextvars.ContextVar("lambda_metric_buffers", default=None)
    EMPTY: dict[str, Callable[[], Any]] = {
        "metric_set": dict, "dimension_set": dict, "metadata_set": dict, "dimension_sets": list}

    @classmethod
    def install(cls) -> None:
        try:
            from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
                AmazonCloudWatchEMFProvider,
            )
        except ImportError:  # no Powertools in this process: no buffer to keep apart
            return
        for name, empty in cls.EMPTY.items():
            replace(AmazonCloudWatchEMFProvider, name,
                    lambda _missing, name=name, empty=empty: cls._per_invocation(name, empty),
                    adds=True)

    @classmethod
    def _per_invocation(cls, name: str, empty: Callable[[], Any]) -> property:
        def get(provider: Any) -> Any:
            process = provider.__dict__.setdefault(name, empty())
            buffers = cls._buffers.get()
            if buffers is None:
                return process
            return buffers.setdefault((name, id(process)), empty())

        def put(provider: Any, value: Any) -> None:
            provider.__dict__[name] = value

        return property(get, put)

    @classmethod
    def fresh(cls) -> contextvars.Token:
        """Start this context's invocation with empty buffers."""
        return cls._buffers.set({})

    @classmethod
    def release(cls, token: contextvars.Token) -> None:
        cls._buffers.reset(token)


MetricsPublisher = Callable[[FunctionSpec, str, emf.MetricData], None]
"""Records metric entries (namespace, PutMetricData entries) for a function's account/region."""


def keep_environment_under_chalice_test_client() -> None:
    """Make chalice's test client (`chalice.test.Client`) set a stage's variables in
    `os.environ` in place for each request, instead of swapping `os.environ` for a plain dict:
    functions of the local cloud run in this process meanwhile (a request's Step Functions
    execution, an S3 notification) and read their own per-invocation environment through
    `os.environ`, which the swap would hide. Applied once, with the cloud."""
    try:
        from chalice.test import BaseClient
    except ImportError:  # no test client in this process: nothing to keep
        return
    replace(BaseClient, "_patched_env_vars", lambda original: _stage_variables_in_place)


@contextlib.contextmanager
def _stage_variables_in_place(client: Any, variables: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _install_environ() -> _InvocationEnviron:
    if not isinstance(os.environ, _InvocationEnviron):
        os.environ = _InvocationEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003
    return os.environ  # type: ignore[return-value]


class HandlerLoadError(Exception):
    """A handler could not be loaded; `error_type` is the name Lambda reports."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class LocalRuntime:
    """Loads handlers once per function (a warm container) and invokes them."""

    def __init__(self, endpoint: str | None = None,
                 metrics: MetricsPublisher | None = None) -> None:
        self.endpoint = endpoint
        self.metrics = metrics
        """Where the functions' EMF metrics and the AWS/Lambda metrics go (none: dropped)."""
        self._environ = _install_environ()
        _InvocationOutput.install()
        _InvocationMetricBuffers.install()
        self._handlers: dict[tuple[str, Path, str], Callable[[Any, Any], Any]] = {}
        self._lock = threading.Lock()
        self.invocations: list[tuple[str, str | None]] = []
        """(function name, error type or None) for every finished invocation, in order."""
        self.billed: list[tuple[str, int, float]] = []
        """(function name, memory MB, seconds) per invocation: what Lambda would bill."""
        self.listeners: list[Callable[[Finished], None]] = []
        """Told of every finished invocation (the console of `make run` prints a line)."""

    def invoke(self, spec: FunctionSpec, event: Any) -> Invocation:
        """Invoke the function with `event`; never raises for the function's own failures."""
        started = time.monotonic()
        started_at = time.time()
        deadline = started + spec.timeout_seconds
        context = LambdaContext(spec, deadline)
        variables = {**self._lambda_variables(spec, context), **spec.environment}
        ctx = contextvars.copy_context()
        outcome: dict[str, Invocation] = {}

        def run() -> None:
            token = self._environ.applied(variables)
            printed = _InvocationOutput.capturing()
            buffers = _InvocationMetricBuffers.fresh()
            lines: list[str] = []
            try:
                outcome["result"] = self._call(spec, event, context)
            finally:
                self._environ.reset(token)
                _InvocationMetricBuffers.release(buffers)
                lines = _InvocationOutput.release(printed)
                self._publish_emf(spec, lines)
            outcome["result"] = dataclasses.replace(outcome["result"],
                                                    log="".join(f"{line}\n" for line in lines))

        worker = threading.Thread(target=ctx.run, args=(run,), daemon=True)
        worker.start()
        worker.join(spec.timeout_seconds)
        if worker.is_alive():
            result = _error_payload(
                "Sandbox.Timedout",
                f"Task timed out after {spec.timeout_seconds:.2f} seconds",
            )
        else:
            result = outcome["result"]
        seconds = time.monotonic() - started
        self.invocations.append((spec.name, result.error_type))
        self.billed.append((spec.name, spec.memory_mb, seconds))
        self._publish_platform_metrics(spec, result, seconds)
        self._tell(Finished(spec, event, result.error_type, started_at, seconds))
        return result

    def _tell(self, finished: Finished) -> None:
        for listener in self.listeners:
            try:
                listener(finished)
            except Exception:  # noqa: BLE001 - a listener is never worth failing an invocation
                _log.warning("a listener failed on %s", finished.spec.name, exc_info=True)

    def _publish_emf(self, spec: FunctionSpec, lines: list[str]) -> None:
        self._publish(spec, lambda publish: emf.publish_lines(lines, publish))

    def _publish_platform_metrics(self, spec: FunctionSpec, result: Invocation,
                                  seconds: float) -> None:
        # What Lambda itself reports per invocation (the dashboard's "Lambda errors").
        dimensions = [{"Name": "FunctionName", "Value": spec.name}]
        now = datetime.now(UTC)
        entries = [{"MetricName": name, "Values": [value], "Unit": unit,
                    "Dimensions": dimensions, "Timestamp": now}
                   for name, value, unit in (("Invocations", 1.0, "Count"),
                                             ("Errors", float(result.failed), "Count"),
                                             ("Duration", seconds * 1000, "Milliseconds"))]
        self._publish(spec, lambda publish: publish("AWS/Lambda", entries))

    def _publish(self, spec: FunctionSpec, send: Callable[[emf.Publish], object]) -> None:
        if self.metrics is None:
            return
        metrics = self.metrics
        try:
            send(lambda namespace, data: metrics(spec, namespace, data))
        except Exception:  # noqa: BLE001 - metrics are never worth failing an invocation
            _log.warning("metrics of %s were not recorded", spec.name, exc_info=True)

    def _call(self, spec: FunctionSpec, event: Any, context: LambdaContext) -> Invocation:
        try:
            handler = self._handler(spec)
        except HandlerLoadError as error:
            return _error_payload(error.error_type, str(error))
        try:
            result = handler(event, context)
        except Exception as error:  # noqa: BLE001 - every failure becomes a function error
            return _error_payload(type(error).__name__, str(error), error)
        try:
            return Invocation(json.dumps(result).encode())
        except (TypeError, ValueError) as error:
            return _error_payload("Runtime.MarshalError", f"Unable to marshal response: {error}")

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        key = (spec.name, spec.code_dir, spec.handler)
        with self._lock:
            if key not in self._handlers:
                self._handlers[key] = _load_handler(spec)
            return self._handlers[key]

    def _lambda_variables(self, spec: FunctionSpec, context: LambdaContext) -> dict[str, str]:
        # The reserved variables Lambda sets in every execution environment; the credentials
        # stand for the execution role's, and the endpoint is the cloud the function runs in.
        trace_root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        endpoint = {"AWS_ENDPOINT_URL": self.endpoint} if self.endpoint else {}
        return {
            **endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_SESSION_TOKEN": "test",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "_X_AMZN_TRACE_ID": f"Root={trace_root};Parent={uuid.uuid4().hex[:16]};Sampled=0",
        }


def _load_handler(spec: FunctionSpec) -> Callable[[Any, Any], Any]:
    """Import `module.function` from the function's folder, reporting errors as Lambda does."""
    module_name, _, function_name = spec.handler.rpartition(".")
    if not module_name:
        raise HandlerLoadError("Runtime.MalformedHandlerName", f"Bad handler '{spec.handler}'")
    for layer_dir in spec.layer_dirs:
        if str(layer_dir) not in sys.path:
            sys.path.append(str(layer_dir))
    module = _import_module(spec, module_name)
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise HandlerLoadError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler


def _import_module(spec: FunctionSpec, module_name: str) -> ModuleType:
    path = spec.code_dir.joinpath(*module_name.split(".")).with_suffix(".py")
    if not path.is_file():
        raise HandlerLoadError(
            "Runtime.ImportModuleError",
            f"Unable to import module '{module_name}': no file {path}",
        )
    # A unique module name per function: every function folder has its own `app.py`.
    unique = f"_lambda_{spec.name.replace('-', '_')}_{module_name.replace('.', '_')}"
    module_spec = importlib.util.spec_from_file_location(unique, path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as error:
        raise HandlerLoadError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}"
        ) from error
    except Exception as error:  # noqa: BLE001 - import-time failures are reported, not raised
        raise HandlerLoadError(
            "Runtime.ImportModuleError",
            f"Unable to import module '{module_name}': {type(error).__name__}: {error}",
        ) from error
    return module


def _error_payload(error_type: str, message: str, error: BaseException | None = None) -> Invocation:
    body: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if error is not None:
        body["stackTrace"] = traceback.format_tb(error.__traceback__)
    return Invocation(json.dumps(body).encode(), error_type)
