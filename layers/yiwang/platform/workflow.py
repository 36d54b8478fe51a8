"""The workflow engine (Step Functions) as the domain uses it: start an execution named after
its subject, resume a waiting step (SendTaskSuccess), fail it (SendTaskFailure).

A waiting step's task token can stop waiting before we answer it: the step timed out, another
request completed it, or the execution was stopped. That is one outcome, treated one way: the
call answers `False` (and logs it) instead of raising, and the caller decides what it means
for its own records (a payment flags the order, a delivery counts it as already resumed).
Every other error from the engine propagates.
"""

from __future__ import annotations

import json
from typing import Any

from yiwang.platform.config import ConfigurationError
from yiwang.platform.observability import logger

NO_LONGER_WAITING = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
"""The engine's error codes for a task token that no longer waits for an answer."""


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution `name` of a state machine (executions are named after their
    subject: an application's or a complaint's id)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def start(sfn: Any, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    """Start the execution `name` with `payload` as its input; an execution of that name that
    exists already is the one answered (a repeated request starts nothing new)."""
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=name,
                                   input=json.dumps(payload))["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:
        return execution_arn(state_machine_arn, name)


def resume(sfn: Any, task_token: str, output: dict[str, Any]) -> bool:
    """Answer a waiting step with `output`. `False` when the token no longer waits."""
    return _answer(sfn, task_token, "resume", lambda: sfn.send_task_success(
        taskToken=task_token, output=json.dumps(output)))


def fail(sfn: Any, task_token: str, error: str, cause: dict[str, Any] | str) -> bool:
    """Fail a waiting step with `error` (the name the state machine's Catch matches) and its
    cause. `False` when the token no longer waits."""
    text = cause if isinstance(cause, str) else json.dumps(cause)
    return _answer(sfn, task_token, "fail", lambda: sfn.send_task_failure(
        taskToken=task_token, error=error, cause=text))


def no_longer_waiting(error: Exception) -> bool:
    """Whether an engine error says the task token no longer waits."""
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") in NO_LONGER_WAITING


def _answer(sfn: Any, task_token: str, what: str, call: Any) -> bool:
    if sfn is None:
        raise ConfigurationError("a Step Functions client is needed to answer a waiting step")
    try:
        call()
    except Exception as error:
        if not no_longer_waiting(error):
            raise
        logger.info("task token no longer waits", extra={
            "action": what, "code": error.response["Error"]["Code"]})  # type: ignore[attr-defined]
        return False
    return True
