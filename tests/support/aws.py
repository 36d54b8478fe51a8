"""Helpers on the AWS side: counting the calls a request makes, and invoking the deployed
timeout check at a chosen time."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from unittest import mock

import botocore.client


@contextlib.contextmanager
def calls() -> Iterator[list[str]]:
    """The AWS operations this thread makes meanwhile (`service.Operation`), in order."""
    made: list[str] = []
    me = threading.get_ident()
    original = botocore.client.BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if threading.get_ident() == me:
            made.append(f"{client.meta.service_model.service_name}.{operation}")
        return original(client, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counted):
        yield made


def timeout_check(cloud: Any, now: datetime) -> dict[str, Any]:
    """Invoke the deployed function with the event EventBridge would send at `now`."""
    event = {"version": "0", "id": "sweep", "detail-type": "Scheduled Event",
             "source": "aws.events", "time": now.astimezone().isoformat(timespec="seconds"),
             "resources": [], "detail": {}}
    answer = cloud.client("lambda").invoke(
        FunctionName=cloud.outputs["TimeoutCheckFunctionName"], Payload=json.dumps(event))
    assert "FunctionError" not in answer, answer["Payload"].read()
    return json.loads(answer["Payload"].read())
