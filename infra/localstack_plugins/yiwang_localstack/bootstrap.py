"""The runtime loop of one execution environment (run as a script by `lambda_executor`).

Started as `python bootstrap.py`, with the function's code and its layers on `PYTHONPATH` and
the function's environment. It imports the handler once (`_HANDLER`, `module.function`), then
for each line on standard input (a JSON request: `request_id`, `function_arn`, `payload`,
`deadline_ms`) runs the handler and writes one JSON line to the answer pipe (file descriptor
`YIWANG_ANSWER_FD`): `{"ok": true, "payload": ...}` or `{"ok": false, "error": {...}}` shaped
as Lambda's error payload. The function's own output (print, logging) goes to stdout/stderr,
which the executor reads as the invocation's log; `END_MARK` ends each invocation's share.

Only the standard library: this runs under the functions' interpreter, not LocalStack's.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

END_MARK = "\x1eyiwang-invocation-end "


class Context:
    """What Lambda's Python runtime passes as `context`."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id = request["request_id"]
        self.invoked_function_arn = request["function_arn"]
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(request["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error_payload(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """Lambda's error payload: the exception's class name as `errorType`."""
    return {"errorMessage": str(error), "errorType": error_type or type(error).__name__,
            "stackTrace": traceback.format_tb(error.__traceback__)}


def load_handler() -> tuple[Any, dict[str, Any] | None]:
    """The handler, or the error each invocation answers when it cannot be imported."""
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - reported as Lambda reports it, per invocation
        traceback.print_exc()
        return None, {**error_payload(error, "Runtime.ImportModuleError"),
                      "errorMessage": f"Unable to import module '{module_name}': {error}"}
    handler = getattr(module, function_name, None)
    if handler is None:
        return None, {"errorMessage": f"Handler '{function_name}' missing on module "
                                      f"'{module_name}'", "errorType": "Runtime.HandlerNotFound"}
    return handler, None


def main() -> None:
    answers = os.fdopen(int(os.environ.pop("YIWANG_ANSWER_FD")), "w", encoding="utf-8")
    handler, failure = load_handler()
    for line in sys.stdin:
        request = json.loads(line)
        if failure is not None:
            answer: dict[str, Any] = {"ok": False, "error": failure}
        else:
            try:
                result = handler(json.loads(request["payload"] or "null"), Context(request))
                answer = {"ok": True, "payload": json.dumps(result)}
            except Exception as error:  # noqa: BLE001 - the function's error is its answer
                traceback.print_exc()
                answer = {"ok": False, "error": error_payload(error)}
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"{END_MARK}{request['request_id']}", flush=True)
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
