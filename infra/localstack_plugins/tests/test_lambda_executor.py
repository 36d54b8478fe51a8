"""The host-process executor carries a function's lifecycle: its result, its output as the
invocation's log between START and END/REPORT, errors by class name, import failures, and the
timeout (the process group ended, the next invocation in a fresh process)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from yiwang_localstack.lambda_executor import HostProcessRuntimeExecutor

APP = '''
import time
import helper

def handler(event, context):
    print("handling", event["name"], context.aws_request_id)
    if event.get("fail"):
        raise LookupError("no such thing")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    left = context.get_remaining_time_in_millis() > 0
    return {"greeting": helper.greet(event["name"]), "left": left}
'''


def python312() -> str:
    found = os.environ.get("YIWANG_LAMBDA_PYTHON312") or shutil.which("python3.12")
    if found is None and sys.version_info[:2] == (3, 12):
        found = sys.executable
    if found is None:
        pytest.skip("no Python 3.12 for the functions (YIWANG_LAMBDA_PYTHON312)")
    return found


def code(path: Path) -> Any:
    return SimpleNamespace(get_unzipped_code_location=lambda: path,
                           prepare_for_execution=lambda: None)


def function(tmp_path: Path, app: str, timeout: int = 3) -> Any:
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(app)
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "helper.py").write_text("def greet(name):\n    return f'你好, {name}'\n")
    config = SimpleNamespace(code=code(task), layers=[SimpleNamespace(code=code(layer))],
                             runtime="python3.12", timeout=timeout, memory_size=256,
                             handler="app.handler")
    return SimpleNamespace(config=config, id=SimpleNamespace(qualifier="$LATEST"))


@pytest.fixture
def executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("YIWANG_LAMBDA_PYTHON312", python312())
    running = HostProcessRuntimeExecutor("env-1", function(tmp_path, APP, timeout=2))
    running.start({"_HANDLER": "app.handler", "AWS_LAMBDA_FUNCTION_NAME": "greeter"})
    yield running
    running.stop()


def invoke(executor: Any, event: dict[str, Any], request_id: str = "req-1") -> Any:
    return executor.invoke({"invoke-id": request_id, "payload": json.dumps(event),
                            "invoked-function-arn": "arn:aws:lambda:us-east-1:0:function:greeter",
                            "trace-id": ""})


def test_a_result_and_the_functions_output_as_its_log(executor: Any) -> None:
    result = invoke(executor, {"name": "张三"})
    assert not result.is_error
    assert json.loads(result.payload) == {"greeting": "你好, 张三", "left": True}
    lines = result.logs.splitlines()
    assert lines[0] == "START RequestId: req-1 Version: $LATEST"
    assert "handling 张三 req-1" in lines
    assert lines[-2] == "END RequestId: req-1" and lines[-1].startswith("REPORT RequestId: req-1")


def test_an_error_is_answered_with_its_class_name(executor: Any) -> None:
    result = invoke(executor, {"name": "x", "fail": True})
    assert result.is_error
    error = json.loads(result.payload)
    assert (error["errorType"], error["errorMessage"]) == ("LookupError", "no such thing")
    assert "LookupError" in result.logs
    assert not invoke(executor, {"name": "y"}, "req-2").is_error  # the process lives on


def test_a_timeout_ends_the_process_and_the_next_invocation_starts_afresh(executor: Any) -> None:
    first = executor._process
    result = invoke(executor, {"name": "slow", "sleep": 30})
    assert result.is_error and json.loads(result.payload)["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in result.logs
    assert first.poll() is not None
    again = invoke(executor, {"name": "again"}, "req-2")
    assert not again.is_error and executor._process is not first


def test_a_module_that_cannot_be_imported_answers_import_module_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIWANG_LAMBDA_PYTHON312", python312())
    broken = HostProcessRuntimeExecutor("env-2", function(tmp_path, "import not_there\n"))
    broken.start({"_HANDLER": "app.handler"})
    try:
        result = invoke(broken, {})
    finally:
        broken.stop()
    assert result.is_error
    assert json.loads(result.payload)["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'not_there'" in result.logs
