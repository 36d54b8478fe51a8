"""The in-process Lambda runtime answers as Lambda would."""

from __future__ import annotations

import os
import textwrap
import threading
from pathlib import Path

import pytest

from infra.localcloud.runtime import FunctionSpec, LocalRuntime


def make_function(tmp_path: Path, source: str, name: str = "fn", **spec: object) -> FunctionSpec:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(source))
    return FunctionSpec(name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                        handler=spec.pop("handler", "app.handler"), code_dir=folder, **spec)


@pytest.fixture(scope="module")
def runtime() -> LocalRuntime:
    return LocalRuntime(endpoint="http://127.0.0.1:1")


def test_result_is_the_handlers_json_answer(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, """
        def handler(event, context):
            return {"doubled": event["n"] * 2, "name": context.function_name}
    """)
    result = runtime.invoke(spec, {"n": 21})
    assert not result.failed
    assert result.json() == {"doubled": 42, "name": "fn"}


def test_exception_class_name_is_the_error_type(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, """
        class PaymentAmountMismatch(Exception):
            pass

        def handler(event, context):
            raise PaymentAmountMismatch("paid 100, owed 200")
    """)
    result = runtime.invoke(spec, {})
    assert result.error_type == "PaymentAmountMismatch"
    assert result.json()["errorType"] == "PaymentAmountMismatch"
    assert result.json()["errorMessage"] == "paid 100, owed 200"
    assert any("raise PaymentAmountMismatch" in line for line in result.json()["stackTrace"])


def test_function_environment_is_applied_and_private(runtime: LocalRuntime, tmp_path: Path) -> None:
    source = """
        import os, time
        SEEN_AT_IMPORT = os.environ["TABLE_NAME"]

        def handler(event, context):
            time.sleep(0.2)  # overlap with the other function's invocation
            return {"import": SEEN_AT_IMPORT, "call": os.getenv("TABLE_NAME"),
                    "fn": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                    "endpoint": os.environ["AWS_ENDPOINT_URL"]}
    """
    first = make_function(tmp_path, source, "first", environment={"TABLE_NAME": "table-a"})
    second = make_function(tmp_path, source, "second", environment={"TABLE_NAME": "table-b"})
    answers: dict[str, dict] = {}
    threads = [threading.Thread(target=lambda s=s: answers.update({s.name: runtime.invoke(
        s, {}).json()})) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers["first"] == {"import": "table-a", "call": "table-a", "fn": "first",
                                "endpoint": "http://127.0.0.1:1"}
    assert answers["second"]["call"] == "table-b"
    assert answers["second"]["import"] == "table-b"
    assert os.environ.get("TABLE_NAME") not in {"table-a", "table-b"}  # nothing leaks out


def test_missing_module_is_reported_as_import_error(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, "import no_such_package\n")
    result = runtime.invoke(spec, {})
    assert result.error_type == "Runtime.ImportModuleError"
    assert "No module named 'no_such_package'" in result.json()["errorMessage"]


def test_syntax_error_is_reported(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, "def handler(event, context) return 1\n")
    result = runtime.invoke(spec, {})
    assert result.error_type == "Runtime.UserCodeSyntaxError"


def test_missing_handler_function_is_reported(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, "def other(event, context):\n    return 1\n")
    result = runtime.invoke(spec, {})
    assert result.error_type == "Runtime.HandlerNotFound"
    assert "handler" in result.json()["errorMessage"]


def test_missing_handler_file_is_reported(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, "", handler="main.handler")
    result = runtime.invoke(spec, {})
    assert result.error_type == "Runtime.ImportModuleError"
    assert "main" in result.json()["errorMessage"]


def test_timeout_is_a_function_error(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, """
        import time
        def handler(event, context):
            time.sleep(2)
    """, timeout_seconds=0.3)
    result = runtime.invoke(spec, {})
    assert result.error_type == "Sandbox.Timedout"
    assert "timed out after 0.30 seconds" in result.json()["errorMessage"]


def test_unserialisable_result_is_a_marshal_error(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, "def handler(event, context):\n    return object()\n")
    assert runtime.invoke(spec, {}).error_type == "Runtime.MarshalError"


def test_context_reports_remaining_time(runtime: LocalRuntime, tmp_path: Path) -> None:
    spec = make_function(tmp_path, """
        def handler(event, context):
            return {"left": context.get_remaining_time_in_millis(),
                    "arn": context.invoked_function_arn, "memory": context.memory_limit_in_mb}
    """, timeout_seconds=5.0, memory_mb=256)
    answer = runtime.invoke(spec, {}).json()
    assert 4000 < answer["left"] <= 5000
    assert answer["arn"].endswith(":function:fn")
    assert answer["memory"] == 256


def test_layer_folders_are_importable(runtime: LocalRuntime, tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "sharedpkg").mkdir(parents=True)
    (layer / "sharedpkg" / "__init__.py").write_text("GREETING = '你好'\n")
    spec = make_function(tmp_path, """
        from sharedpkg import GREETING
        def handler(event, context):
            return GREETING
    """, layer_dirs=(layer,))
    assert runtime.invoke(spec, {}).json() == "你好"
