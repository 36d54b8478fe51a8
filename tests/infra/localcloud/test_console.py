"""`make run`'s console: one readable line per API request and per workflow step; EMF, JSON logs
and chatter routed to the log file (pure unit tests, no cloud)."""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.console import (
    ERROR,
    REQUEST_MARK,
    WARN,
    Console,
    Line,
    caller,
    claims_of,
    format_line,
    function_label,
    request_line,
    route,
    step_console_line,
    subject_of,
)
from infra.localcloud.runtime import Finished, FunctionSpec

AT = datetime(2026, 11, 23, 14, 29, 24, 512000)
EMF = ('{"_aws":{"Timestamp":1796221763825,"CloudWatchMetrics":[{"Namespace":"Yiwang",'
       '"Dimensions":[["service"]],"Metrics":[{"Name":"AttachmentsStored","Unit":"Count"}]}]},'
       '"service":"yiwang","AttachmentsStored":[1.0]}')
INFO_LOG = json.dumps({"level": "INFO", "message": "attachment checked", "service": "yiwang",
                       "function_name": "yiwang-local-AttachmentCheckFunction-CEAE66GKYBK2"})


def token(claims: dict[str, Any]) -> str:
    """An unsigned-looking JWT carrying `claims` (the console never verifies it)."""
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part(claims)}.c2lnbmF0dXJl"


def spec(name: str = "yiwang-local-PreReviewFunction-B5ARN0X9TLQJ") -> FunctionSpec:
    return FunctionSpec(name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                        handler="app.handler", code_dir=Path("."))


# --- the line ----------------------------------------------------------------------------------


def test_a_line_has_time_kind_status_milliseconds_who_and_what_in_aligned_columns() -> None:
    first = format_line(Line(AT, "api", "citizen-1 (applicant)", "POST /applications", "201", 41))
    second = format_line(Line(AT, "step", "PreReview", "YW2026112300001", "ok", 1234.4))
    assert first == ("14:29:24.512       api     201     41 ms  citizen-1 (applicant)"
                     "              POST /applications")
    assert second.startswith("14:29:24.512       step     ok   1234 ms  PreReview ")
    assert first.index("POST") == second.index("YW2026112300001")


def test_warnings_and_errors_carry_a_marker_and_colour_only_when_asked() -> None:
    warned = Line(AT, "api", "w (window)", "GET /tasks", "403", 9, WARN)
    failed = Line(AT, "step", "PaymentOrder", "YW1", "Sandbox.Timedout", 3000, ERROR)
    assert format_line(warned).startswith("14:29:24.512 WARN  api ")
    assert format_line(failed).startswith("14:29:24.512 ERROR step Sandbox.Timedout")
    assert "\x1b[" not in format_line(failed)
    assert "\x1b[31m" in format_line(failed, colour=True)
    assert "\x1b[33m" in format_line(warned, colour=True)
    plain = Line(AT, "api", "anonymous", "GET /health", "200", 1)
    assert "\x1b[3" not in format_line(plain, colour=True)  # only the time is dimmed


def test_a_log_line_has_no_milliseconds_and_keeps_the_columns() -> None:
    line = format_line(Line(AT, "log", "PreReview", "calendar data missing", level=WARN))
    request = format_line(Line(AT, "api", "citizen-1 (applicant)", "GET /x", "200", 4))
    assert line.startswith("14:29:24.512 WARN  log ") and " ms " not in line
    assert line.index("PreReview") == request.index("citizen-1")
    assert line.index("calendar") == request.index("GET /x")


# --- who called --------------------------------------------------------------------------------


def test_the_caller_is_read_from_the_token_claims_without_verifying_them() -> None:
    claims = {"sub": "citizen-1", "role": "applicant", "idNumber": "11010519491231002X"}
    bearer = f"Bearer {token(claims)}"
    assert claims_of(bearer)["sub"] == "citizen-1"
    assert caller(claims_of(bearer)) == "citizen-1 (applicant)"
    reviewer = {"sub": "reviewer-7", "role": "reviewer", "dept": "GZ-ZJ"}
    assert caller(reviewer) == "reviewer-7 (reviewer@GZ-ZJ)"


@pytest.mark.parametrize("authorization", [None, "", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt",
                                           "Bearer a.!!!.c", "Bearer a.bnVsbA.c"])
def test_no_readable_token_is_anonymous(authorization: str | None) -> None:
    assert caller(claims_of(authorization)) == "anonymous"


def test_the_request_line_names_the_caller_but_never_carries_the_token() -> None:
    bearer = token({"sub": "citizen-1", "role": "applicant", "idNumber": "11010519491231002X"})
    text = request_line("POST", "/applications", f"Bearer {bearer}", 201, AT.timestamp(), 41.25)
    assert text.startswith(REQUEST_MARK)
    assert bearer not in text and bearer.split(".")[1] not in text
    assert "11010519491231002X" not in text  # no claim but sub, role and department
    shown, kept = route(text)
    assert kept is None and shown is not None
    assert (shown.kind, shown.who, shown.what, shown.status, shown.ms) == (
        "api", "citizen-1 (applicant)", "POST /applications", "201", 41.2)
    assert shown.at.timestamp() == pytest.approx(AT.timestamp() + 0.04125)


@pytest.mark.parametrize(("status", "level"), [(200, ""), (302, ""), (404, WARN), (409, WARN),
                                               (500, ERROR), ("BrokenPipeError", ERROR)])
def test_client_errors_warn_and_server_errors_are_errors(status: Any, level: str) -> None:
    shown, _ = route(request_line("GET", "/x", None, status, AT.timestamp(), 1))
    assert shown is not None and shown.level == level


# --- workflow steps ----------------------------------------------------------------------------


def test_a_function_is_shown_by_its_logical_name() -> None:
    assert function_label("yiwang-local-AttachmentCheckFunction-CEAE66GKYBK2") == "AttachmentCheck"
    assert function_label("yiwang-dev-Notify-8YKRG4GHGH4B") == "Notify"
    assert function_label("my-function") == "my-function"
    assert function_label("bench") == "bench"


@pytest.mark.parametrize(("event", "subject"), [
    ({"applicationId": "YW1", "taskToken": "t"}, "YW1"),
    ({"complaintId": "TS9", "step": "HANDLE"}, "TS9"),
    ({"Records": [{"s3": {"object": {
        "key": "applications%2FYW2026120231752617%2F2973fc1e%2Fpdf"}}}]}, "YW2026120231752617"),
    ({"Records": [{"dynamodb": {"Keys": {"pk": {"S": "APP#YW1"}, "sk": {"S": "META"}}}},
                  {"dynamodb": {"Keys": {"pk": {"S": "APP#YW1"}, "sk": {"S": "AUDIT#1"}}}}]},
     "YW1 (2 stream records)"),
    ({"Records": [{"dynamodb": {"Keys": {"pk": {"S": "APP#YW1#CLOCKS"}}}}]},
     "YW1 (1 stream record)"),
    ({"Records": [{"dynamodb": {"Keys": {"pk": {"S": "ITEM"}}}}]}, "ITEM (1 stream record)"),
    ({"Records": [{"dynamodb": {"Keys": {"pk": {"S": "APP#YW1"}}}},
                  {"dynamodb": {"Keys": {"pk": {"S": "COMPLAINT#TS2"}}}},
                  {"dynamodb": {"Keys": {"pk": {"S": "APP#YW3"}}}}]}, "3 stream records"),
    ({"Records": [{"messageId": "m1", "body": json.dumps({
        "Type": "Notification", "Message": json.dumps({"recipient": "citizen-1",
                                                       "application_id": "YW1"})})}]},
     "YW1 (1 message)"),
    ({"Records": [{"body": "not json"}, {"body": json.dumps({"recipient": "DEPT#GZ-ZJ"})}]},
     "2 messages"),
    ({"source": "aws.events", "time": "2026-11-23T02:00:00Z"}, "schedule"),
    ({"something": "else"}, ""),
    (["not", "a", "dict"], ""),
])
def test_the_subject_of_a_step_comes_from_its_event(event: Any, subject: str) -> None:
    assert subject_of(event) == subject


def test_a_step_line_says_ok_or_the_error_type() -> None:
    ok = step_console_line(Finished(spec(), {"applicationId": "YW1"}, None, AT.timestamp(), 0.5))
    assert (ok.kind, ok.who, ok.what, ok.status, ok.ms, ok.level) == (
        "step", "PreReview", "YW1", "ok", 500.0, "")
    assert ok.at.timestamp() == pytest.approx(AT.timestamp() + 0.5)  # when it ended
    failed = step_console_line(Finished(spec(), {}, "Sandbox.Timedout", AT.timestamp(), 3.0))
    assert (failed.status, failed.level) == ("Sandbox.Timedout", ERROR)


# --- routing raw output ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    EMF, INFO_LOG, "Found credentials in environment variables.",
    "Found endpoint for dynamodb via: environment_global.",
    '127.0.0.1 - - [02/Dec/2026 14:29:23] "POST / HTTP/1.1" 200 -',
    "Serving on http://127.0.0.1:8000", "{not json", "",
])
def test_raw_output_goes_to_the_log_file_only(text: str) -> None:
    assert route(text) == (None, text)


def test_a_warning_or_error_log_record_also_gets_a_short_console_line() -> None:
    text = json.dumps({"level": "ERROR", "message": "automatic rule failed\nTraceback ...",
                       "service": "yiwang",
                       "function_name": "yiwang-local-TimeoutCheckFunction-ZN9N2JVAZOQG"})
    shown, kept = route(text)
    assert kept == text
    assert shown is not None
    assert (shown.kind, shown.who, shown.what, shown.level) == (
        "log", "TimeoutCheck", "automatic rule failed Traceback ...", ERROR)
    warned, _ = route(json.dumps({"level": "WARNING", "message": "m", "service": "yiwang-api"}))
    assert warned is not None and (warned.who, warned.level) == ("yiwang-api", WARN)


def console() -> tuple[Console, io.StringIO, io.StringIO]:
    terminal, log = io.StringIO(), io.StringIO()
    return Console(terminal, log, colour=False), terminal, log


def test_the_console_routes_a_process_output_and_publishes_its_emf() -> None:
    shell, terminal, log = console()
    request = request_line("GET", "/health", None, 200, AT.timestamp(), 3)
    output = "\n".join(["Found credentials in environment variables.", EMF, request, INFO_LOG])
    published: list[tuple[str, Any]] = []
    shell.relay(io.BytesIO((output + "\n").encode()), lambda ns, d: published.append((ns, d)))
    assert terminal.getvalue().splitlines() == [
        format_line(route(request)[0])]  # type: ignore[arg-type]
    kept = log.getvalue().splitlines()
    assert kept == ["Found credentials in environment variables.", EMF,
                    format_line(route(request)[0]), INFO_LOG]  # type: ignore[arg-type]
    assert [namespace for namespace, _ in published] == ["Yiwang"]


def test_say_and_step_reach_the_terminal() -> None:
    shell, terminal, log = console()
    shell.say("API  http://127.0.0.1:8000")
    shell.step(Finished(spec(), {"applicationId": "YW1"}, None, AT.timestamp(), 0.012))
    said, stepped = terminal.getvalue().splitlines()
    assert said == "API  http://127.0.0.1:8000"
    assert " step     ok     12 ms  PreReview " in stepped and stepped.endswith("YW1")
    assert log.getvalue().splitlines() == [stepped]  # the log file tells the whole story


def test_captured_output_prints_and_logging_go_to_the_log_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shell, terminal, log = console()
    root = logging.getLogger()
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # restored after the test
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    shell.capture_process_output()
    try:
        print(EMF)
        print("partial", end="")
        print(" line")
        logging.getLogger("botocore.credentials").info("Found credentials in environment")
        shell.say("ready")
    finally:
        logging.captureWarnings(False)
    assert terminal.getvalue() == "ready\n"
    kept = log.getvalue().splitlines()
    assert kept[:2] == [EMF, "partial line"]
    assert kept[2].endswith("INFO botocore.credentials: Found credentials in environment")
