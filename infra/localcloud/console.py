"""The console of `make run`: one line per API request and per workflow step, the rest in a file.

What a person watching `make run` needs is who did what, how it ended and how long it took:

    14:29:24.512       api     201     41 ms  citizen-1 (applicant)              POST /applications
    14:29:24.700       step     ok     12 ms  AttachmentCheck                    YW2026112300001
    14:29:24.820 WARN  api     403      9 ms  window-01 (window)                 GET /tasks
    14:29:24.871 ERROR step Timeout     30 ms  PaymentOrder                       YW2026112300001

Everything else the processes print (EMF documents, Powertools' JSON logs, botocore's, moto's
and werkzeug's chatter, the API server's own lines) goes to a log file the console names once
at start; a WARNING or ERROR log record also gets a short console line of its own.

The product code knows nothing of this. API requests are described by the API's process (the
launcher in `infra.localcloud.api_server` prints one marked JSON line per request, see
`request_line`), read here from that process's output; workflow steps are reported by the
in-process Lambda runtime (`LocalRuntime.listeners`).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TextIO
from urllib.parse import unquote_plus

from infra.localcloud import emf
from infra.localcloud.runtime import Finished

REQUEST_MARK = "yiwang-console:request "
"""Starts the line the API's process prints per request (followed by a JSON object)."""

INFO, WARN, ERROR = "", "WARN", "ERROR"
_COLOURS = {WARN: "\x1b[33m", ERROR: "\x1b[31m"}
_DIM, _RESET = "\x1b[2m", "\x1b[0m"
_LOG_LEVELS = {"WARNING": WARN, "WARN": WARN, "ERROR": ERROR, "CRITICAL": ERROR}


@dataclass(frozen=True)
class Line:
    """One console line: when (it ended), a level marker, the kind of thing, how it ended, how
    long it took, who, what."""

    at: datetime
    kind: str
    who: str
    what: str
    status: str = ""
    ms: float | None = None
    level: str = INFO


def format_line(line: Line, colour: bool = False) -> str:
    """The line as printed: aligned columns, the level marker (and, with `colour`, ANSI colour
    for warnings and errors and a dim time). The one column of any length, what was asked or
    worked on, comes last, so the others stay aligned."""
    time = line.at.strftime("%H:%M:%S.") + f"{line.at.microsecond // 1000:03d}"
    took = f"{line.ms:6.0f} ms" if line.ms is not None else " " * 9
    text = (f"{line.level:<5} {line.kind:<4} {line.status:>6} {took}  {line.who:<34} "
            f"{line.what}").rstrip()
    if not colour:
        return f"{time} {text}"
    shade = _COLOURS.get(line.level)
    return f"{_DIM}{time}{_RESET} " + (f"{shade}{text}{_RESET}" if shade else text)


# --- API requests ------------------------------------------------------------------------------


def claims_of(authorization: str | None) -> dict[str, Any]:
    """The claims of a bearer token, decoded WITHOUT verifying it: for display only (the API
    verifies every token itself). Empty when there is no readable token."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return {}
    parts = authorization[7:].strip().split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def caller(claims: Mapping[str, Any]) -> str:
    """`sub (role)` for the console, the department after the role (`reviewer@GZ-ZJ`);
    `anonymous` without a subject. No other claim is shown (identity numbers are personal)."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return "anonymous"
    role = claims.get("role")
    dept = claims.get("dept")
    if isinstance(role, str) and role:
        return f"{sub} ({role}@{dept})" if isinstance(dept, str) and dept else f"{sub} ({role})"
    return sub


def request_line(method: str, path: str, authorization: str | None, status: int | str,
                 started: float, ms: float) -> str:
    """The marked line the API's process prints for one request (`started`: epoch seconds).

    The token itself never leaves the process: only who it names."""
    record = {"who": caller(claims_of(authorization)), "method": method, "path": path,
              "status": status, "started": started, "ms": round(ms, 1)}
    return REQUEST_MARK + json.dumps(record, ensure_ascii=False)


def request_console_line(record: Mapping[str, Any]) -> Line:
    """The console line of a request the API's process described."""
    status = record.get("status")
    level = (ERROR if not isinstance(status, int) or status >= 500
             else WARN if status >= 400 else INFO)
    ms = float(record.get("ms", 0))
    return Line(datetime.fromtimestamp(float(record.get("started", 0)) + ms / 1000), "api",
                str(record.get("who", "?")), f"{record.get('method')} {record.get('path')}",
                str(status), ms, level)


# --- workflow steps ----------------------------------------------------------------------------

_GENERATED_SUFFIX = re.compile(r"^[A-Z0-9]{8,}$")
_SUBJECT_KEYS = ("applicationId", "complaintId", "ratingId", "application_id")
_APPLICATION_KEY = re.compile(r"(?:^|/)applications/([^/]+)/")


def function_label(name: str) -> str:
    """`AttachmentCheck` for `yiwang-local-AttachmentCheckFunction-CEAE66GKYBK2` (the logical
    id CloudFormation put in the name); any other name as it is."""
    parts = name.rsplit("-", 2)
    if len(parts) == 3 and _GENERATED_SUFFIX.match(parts[2]):
        return parts[1].removesuffix("Function") or parts[1]
    return name


def subject_of(event: Any) -> str:
    """What a step works on, if the event says so cheaply: an application or complaint id (of
    the state machine's input, the uploaded object's key, the stream records' keys or the
    queued notice), with the count of records or messages; `schedule` for a scheduled event."""
    if not isinstance(event, dict):
        return ""
    keyed = _keyed(event)
    if keyed:
        return keyed
    records = [r for r in event.get("Records") or [] if isinstance(r, dict)]
    if records and "s3" in records[0]:
        key = unquote_plus(str(records[0]["s3"].get("object", {}).get("key", "")))
        found = _APPLICATION_KEY.search(key)
        return found.group(1) if found else key
    if records and "dynamodb" in records[0]:
        return _stream_subject(records)
    if records and "body" in records[0]:
        return _queue_subject(records)
    if event.get("source") == "aws.events":
        return "schedule"
    return ""


def _keyed(document: Mapping[str, Any]) -> str:
    return next((document[key] for key in _SUBJECT_KEYS if isinstance(document.get(key), str)),
                "")


def _queue_subject(records: list[dict[str, Any]]) -> str:
    # SQS messages, each an SNS envelope whose `Message` is a JSON document (a notice).
    subjects = set()
    for record in records:
        try:
            message = json.loads(str(record["body"]))
            if isinstance(message, dict) and isinstance(message.get("Message"), str):
                message = json.loads(message["Message"])
        except ValueError:
            continue
        if isinstance(message, dict) and _keyed(message):
            subjects.add(_keyed(message))
    count = f"{len(records)} message{'s' * (len(records) > 1)}"
    return f"{subjects.pop()} ({count})" if len(subjects) == 1 else count


def _stream_subject(records: list[dict[str, Any]]) -> str:
    # The items' partition keys name their subject (`APP#<id>`, `APP#<id>#CLOCKS`...).
    keys = {str(r.get("dynamodb", {}).get("Keys", {}).get("pk", {}).get("S", ""))
            for r in records}
    subjects = {_named(key) for key in keys if key}
    count = f"{len(records)} stream record{'s' * (len(records) > 1)}"
    return f"{subjects.pop()} ({count})" if len(subjects) == 1 else count


def _named(key: str) -> str:
    # `APP#YW1#CLOCKS` names YW1; a key without a `KIND#` prefix names itself.
    parts = key.split("#")
    return parts[1] if len(parts) > 1 and parts[1] else key


def step_console_line(finished: Finished) -> Line:
    """The console line of one finished Lambda invocation."""
    failed = finished.error_type is not None
    return Line(datetime.fromtimestamp(finished.started_at + finished.seconds), "step",
                function_label(finished.spec.name), subject_of(finished.event),
                finished.error_type or "ok", finished.seconds * 1000, ERROR if failed else INFO)


# --- raw output --------------------------------------------------------------------------------


def log_console_line(text: str) -> Line | None:
    """A short console line for a Powertools JSON log record of level WARNING or above (its
    function, or service, and its message); None for any other line."""
    stripped = text.strip()
    if not stripped.startswith("{") or '"level"' not in stripped:
        return None
    try:
        record = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    level = _LOG_LEVELS.get(str(record.get("level", "")).upper())
    if level is None:
        return None
    source = record.get("function_name") or record.get("service") or "log"
    message = " ".join(str(record.get("message", "")).split())
    return Line(datetime.now(), "log", function_label(str(source)), message[:120], level=level)


def route(text: str) -> tuple[Line | None, str | None]:
    """Where one line of output goes: (console line or None, text for the log file or None).

    A request line becomes a console line only; a warning or error log record goes to both;
    everything else (EMF, logs, chatter) goes to the log file only.
    """
    if text.startswith(REQUEST_MARK):
        try:
            record = json.loads(text[len(REQUEST_MARK):])
        except ValueError:
            return None, text
        return request_console_line(record), None
    return log_console_line(text), text


class Console:
    """The terminal (console lines and the messages `say` gives) and the log file (the rest)."""

    def __init__(self, terminal: TextIO, log: TextIO, log_path: Path | None = None,
                 colour: bool | None = None) -> None:
        self.terminal = terminal
        self.log = log
        self.log_path = log_path
        self.colour = _is_tty(terminal) if colour is None else colour
        self._lock = threading.Lock()

    @classmethod
    def open(cls, log_path: Path) -> Console:
        """A console on this process's stdout, with its log file (emptied) at `log_path`."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - kept open
        return cls(sys.stdout, log, log_path)

    def say(self, text: str = "") -> None:
        """A message for the person at the console (start-up, URLs, stopping)."""
        with self._lock:
            self.terminal.write(text + "\n")
            self.terminal.flush()

    def show(self, line: Line) -> None:
        """A console line (also kept in the log file, so the file tells the whole story)."""
        with self._lock:
            self.terminal.write(format_line(line, self.colour) + "\n")
            self.terminal.flush()
            self.log.write(format_line(line) + "\n")

    def keep(self, text: str) -> None:
        """A raw line for the log file only."""
        with self._lock:
            self.log.write(text if text.endswith("\n") else text + "\n")

    def take(self, text: str) -> None:
        """One line of some process's raw output, routed (see `route`)."""
        shown, kept = route(text.rstrip("\n"))
        if kept is not None:
            self.keep(kept)
        if shown is not None:
            self.show(shown)

    def step(self, finished: Finished) -> None:
        """A runtime listener: one line per finished invocation."""
        self.show(step_console_line(finished))

    def relay(self, stream: IO[bytes], publish: emf.Publish | None = None) -> None:
        """Route a process's output line by line, publishing its EMF documents first (what
        CloudWatch Logs does with a function's output on AWS). Returns when the stream ends."""
        for raw in stream:
            line = raw.decode("utf-8", "replace")
            if publish is not None:
                try:
                    emf.publish_lines([line], publish)
                except Exception:  # noqa: BLE001 - a metric is never worth stopping the output
                    self.keep("an EMF line was not recorded")
            self.take(line)

    def capture_process_output(self) -> None:
        """Send what this process prints (functions' EMF and JSON logs among it), logs and
        warnings to the log file; only `say` and `show` reach the terminal from now on.

        stderr stays the terminal's: a crash's traceback must be seen.
        """
        sys.stdout = LineRouter(self)
        handler = logging.StreamHandler(_Keep(self))
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)


class LineRouter(io.TextIOBase):
    """A text stream that routes each complete line written to it (per thread: `print` writes
    a line in pieces, and functions print from several threads at once)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._pending = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self._pending, "text", "") + text
        *lines, rest = pending.split("\n")
        self._pending.text = rest
        for line in lines:
            self.console.take(line)
        return len(text)

    def flush(self) -> None:
        pass


class _Keep(io.TextIOBase):
    """A text stream whose lines go to the log file only (for logging's handler)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text.strip():
            self.console.keep(text)
        return len(text)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
