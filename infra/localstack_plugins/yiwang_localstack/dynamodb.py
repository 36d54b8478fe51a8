"""DynamoDB and DynamoDB Streams for LocalStack, served by moto (LocalStack's own `moto-ext`).

LocalStack's DynamoDB provider runs DynamoDB Local, a Java program it downloads with a JDK at
first use: neither can be fetched on a machine that reaches only package registries, and
DynamoDB Local is under its vendor's own terms, not an open-source licence. moto implements the
same API in Python and is already one of LocalStack's dependencies. These providers are chosen
with `PROVIDER_OVERRIDE_DYNAMODB=yiwang` and `PROVIDER_OVERRIDE_DYNAMODBSTREAMS=yiwang`.

- Every call runs under one lock (`CALLS`): moto's DynamoDB is not thread-safe, and LocalStack
  serves requests on many threads (a scan racing a write fails with "dictionary changed size
  during iteration"), while DynamoDB applies each item's writes atomically.
- A cancelled TransactWriteItems puts back only the items it names (`transactions`), in the
  same table: moto's own rollback deep-copies each named table and swaps the copy in, which
  both costs most of LocalStack's CPU under a busy suite and leaves the streams provider reading
  a table object no longer written to. The replacement is installed on moto's backend class
  when LocalStack creates the provider, not at import.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.aws.skeleton import DispatchTable
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, aws_provider

from yiwang_localstack import transactions

CALLS = threading.RLock()
"""Held by every DynamoDB and DynamoDB Streams call served by moto."""


class MotoDynamoDBProvider(DynamodbApi):
    """Every DynamoDB operation falls through to moto (the provider implements none itself)."""

    def __init__(self) -> None:
        cancel_transactions_in_place()


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
    """Every DynamoDB Streams operation falls through to moto, which reads the shards moto's
    tables record."""


def cancel_transactions_in_place() -> None:
    """Make moto's backend run TransactWriteItems through `transactions` (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    current = DynamoDBBackend.transact_write_items
    if getattr(current, "yiwang_in_place", False):
        return

    @functools.wraps(current)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        transactions.transact_write_items(self, transact_items)

    transact_write_items.yiwang_in_place = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items


def locked(table: DispatchTable) -> DispatchTable:
    """The same dispatch table, each handler run under `CALLS`."""

    def one_at_a_time(handler: Any) -> Any:
        def handle(context: Any, request: Any) -> Any:
            with CALLS:
                return handler(context, request)

        return handle

    return {operation: one_at_a_time(handler) for operation, handler in table.items()}


def _moto_locked(provider: object) -> DispatchTable:
    return locked(MotoFallbackDispatcher(provider))


@aws_provider(api="dynamodb", name="yiwang")
def dynamodb_yiwang() -> Service:
    """`PROVIDER_OVERRIDE_DYNAMODB=yiwang`."""
    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=_moto_locked)


@aws_provider(api="dynamodbstreams", name="yiwang")
def dynamodbstreams_yiwang() -> Service:
    """`PROVIDER_OVERRIDE_DYNAMODBSTREAMS=yiwang`."""
    return Service.for_provider(MotoDynamoDBStreamsProvider(),
                                dispatch_table_factory=_moto_locked)
