"""Fakes of the clients tests stand in for, one per kind."""

from __future__ import annotations

import threading
from typing import Any


class FakeStepFunctions:
    """A Step Functions client that records what the domain asks of it.

    On its own it starts nothing (`started` holds the `start_execution` calls, each answered
    with an execution ARN) and completes nothing (`completed` holds the `send_task_success`
    calls). Given a real client (`FakeStepFunctions(cloud.client("stepfunctions"))`) it passes
    task successes on to it, and raises its exceptions, still recording each one delivered.
    `failures=N` makes the first N task successes fail as an engine outage would
    (`ServiceUnavailable`), delivering nothing.
    """

    class exceptions:  # noqa: N801 - boto3's spelling
        ExecutionAlreadyExists = type("ExecutionAlreadyExists", (Exception,), {})

    def __init__(self, real: Any = None, failures: int = 0) -> None:
        self.real = real
        self.failures = failures
        if real is not None:
            self.exceptions = real.exceptions
        self.started: list[dict[str, Any]] = []
        self.completed: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The task successes delivered (another name for `completed`)."""
        return self.completed

    def start_execution(self, **call: Any) -> dict[str, str]:
        with self._lock:
            self.started.append(call)
        return {"executionArn": f"arn:aws:states:us-east-1:000000000000:execution:c:{call['name']}"}

    def send_task_success(self, **call: Any) -> Any:
        with self._lock:
            failing, self.failures = self.failures > 0, max(0, self.failures - 1)
        if failing:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ServiceUnavailable",
                                         "Message": "the engine is down"}}, "SendTaskSuccess")
        answer = self.real.send_task_success(**call) if self.real is not None else None
        with self._lock:
            self.completed.append(call)
        return answer
