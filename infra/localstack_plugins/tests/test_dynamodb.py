"""The DynamoDB providers are LocalStack plugins (found by its plugin manager), serve every
call under one lock, and install the in-place rollback on moto's backend when created."""

from __future__ import annotations

import threading
from typing import Any

from plux import PluginManager

from yiwang_localstack import dynamodb


def test_localstack_finds_the_providers_and_the_executor() -> None:
    providers = PluginManager("localstack.aws.provider").list_names()
    assert {"dynamodb:yiwang", "dynamodbstreams:yiwang"} <= set(providers)
    executors = PluginManager("localstack.lambda.runtime_executor").list_names()
    assert "yiwang-host" in executors


def test_creating_the_provider_makes_moto_cancel_transactions_in_place() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    dynamodb.MotoDynamoDBProvider()
    dynamodb.MotoDynamoDBProvider()  # a second provider wraps nothing twice
    assert DynamoDBBackend.transact_write_items.yiwang_in_place
    assert not getattr(DynamoDBBackend.transact_write_items.__wrapped__, "yiwang_in_place", False)


def test_every_call_runs_under_the_one_lock() -> None:
    inside: list[bool] = []

    def handler(context: Any, request: Any) -> str:
        inside.append(dynamodb.CALLS._is_owned())  # type: ignore[attr-defined]
        return "answer"

    table = dynamodb.locked({"Scan": handler, "PutItem": handler})
    assert table["Scan"](None, {}) == "answer" and table["PutItem"](None, {}) == "answer"
    assert inside == [True, True]
    blocked = threading.Event()
    with dynamodb.CALLS:
        worker = threading.Thread(target=lambda: (table["Scan"](None, {}), blocked.set()))
        worker.start()
        assert not blocked.wait(0.2)  # waits for the lock
    assert blocked.wait(5)
