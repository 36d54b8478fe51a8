"""A cancelled TransactWriteItems (moto's backend, through `transactions`) leaves every item and
the stream as they were, in the same table object; a successful one applies every write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.exceptions import TransactionCanceledException

from yiwang_localstack import transactions


@pytest.fixture
def backend() -> Iterator[Any]:
    with mock_aws():
        from moto.dynamodb.models import dynamodb_backends

        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        for pk, n in (("a", "1"), ("b", "2"), ("c", "3")):
            backend.put_item("t", {"pk": {"S": pk}, "sk": {"S": "A"}, "n": {"N": n}})
        yield backend


def key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def state(backend: Any) -> tuple[list[dict[str, Any]], int]:
    table = backend.tables["t"]
    items = sorted((item.to_json() for item in table.all_items()), key=str)
    return items, len(table.stream_shard.items)


def test_a_cancelled_transaction_puts_back_every_item_and_the_stream(backend: Any) -> None:
    before, table = state(backend), backend.tables["t"]
    with pytest.raises(TransactionCanceledException):
        transactions.transact_write_items(backend, [
            {"Update": {"TableName": "t", "Key": key("a"), "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "10"}}}},
            {"Put": {"TableName": "t", "Item": {**key("new"), "n": {"N": "4"}}}},
            {"Put": {"TableName": "t", "Item": {**key("a", "B"), "n": {"N": "5"}}}},
            {"Delete": {"TableName": "t", "Key": key("b")}},
            {"ConditionCheck": {"TableName": "t", "Key": key("c"),
                                "ConditionExpression": "attribute_exists(absent)"}}])
    assert state(backend) == before
    assert backend.tables["t"] is table


def test_a_transaction_naming_an_item_twice_is_refused_and_changes_nothing(backend: Any) -> None:
    from moto.dynamodb.exceptions import MultipleTransactionsException

    before = state(backend)
    with pytest.raises(MultipleTransactionsException):
        transactions.transact_write_items(backend, [
            {"Delete": {"TableName": "t", "Key": key("a")}},
            {"Delete": {"TableName": "t", "Key": key("a")}}])
    assert state(backend) == before


def test_a_transaction_that_succeeds_applies_every_write(backend: Any) -> None:
    transactions.transact_write_items(backend, [
        {"Put": {"TableName": "t", "Item": {**key("d"), "n": {"N": "4"}}}},
        {"Delete": {"TableName": "t", "Key": key("b")}},
        {"ConditionCheck": {"TableName": "t", "Key": key("c"),
                            "ConditionExpression": "attribute_exists(pk)"}}])
    items, records = state(backend)
    assert {item["Attributes"]["pk"]["S"] for item in items} == {"a", "c", "d"}
    assert records == 3 + 2
