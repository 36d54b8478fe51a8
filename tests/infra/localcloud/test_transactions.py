"""A cancelled TransactWriteItems leaves every item, and the table's stream, as they were: the
local cloud puts back only the items the transaction names (`cancel_transactions_in_place`)
instead of swapping in a copy of the whole table."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


def _table(cloud: Any) -> str:
    name = f"rollback-{uuid.uuid4().hex[:8]}"
    cloud.client("dynamodb").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return name


def _items(cloud: Any, table: str) -> list[dict[str, Any]]:
    items = cloud.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def _stream_records(cloud: Any, table: str) -> list[dict[str, Any]]:
    arn = cloud.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = cloud.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]


def _key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _cancelled(cloud: Any, table: str, names: tuple[str, ...] = ("a", "b", "c")) -> Any:
    a, b, c = names
    with pytest.raises(cloud.client("dynamodb").exceptions.TransactionCanceledException) as info:
        cloud.client("dynamodb").transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": _key(a), "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "10"}}}},
            {"Put": {"TableName": table, "Item": {**_key("new"), "n": {"N": "4"}}}},
            {"Put": {"TableName": table, "Item": {**_key(a, "B"), "n": {"N": "5"}}}},
            {"Delete": {"TableName": table, "Key": _key(b)}},
            {"ConditionCheck": {"TableName": table, "Key": _key(c),
                                "ConditionExpression": "attribute_exists(absent)"}},
        ])
    return info.value


def test_a_cancelled_transaction_leaves_every_item_and_the_stream_as_they_were(
        cloud: Any) -> None:
    table = _table(cloud)
    dynamodb = cloud.client("dynamodb")
    for pk, n in (("a", "1"), ("b", "2"), ("c", "3"), ("untouched", "9")):
        dynamodb.put_item(TableName=table, Item={**_key(pk), "n": {"N": n}})
    items, records = _items(cloud, table), _stream_records(cloud, table)
    assert len(records) == 4

    error = _cancelled(cloud, table)

    codes = [reason["Code"] for reason in error.response["CancellationReasons"]]
    assert codes == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert _items(cloud, table) == items
    assert _stream_records(cloud, table) == records
    # The table still takes writes, and its stream still records them after the cancellation.
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {**_key("d"), "n": {"N": "6"}}}},
        {"Delete": {"TableName": table, "Key": _key("b")}}])
    assert [r["eventName"] for r in _stream_records(cloud, table)[4:]] == ["INSERT", "REMOVE"]
    assert {item["pk"]["S"] for item in _items(cloud, table)} == {"a", "c", "d", "untouched"}


@pytest.mark.embedded_only("reads moto's table object, which only the embedded cloud has")
def test_a_cancelled_transaction_keeps_the_table_object_readers_hold(cloud: Any) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table = _table(cloud)
    cloud.client("dynamodb").put_item(TableName=table, Item={**_key("a"), "n": {"N": "1"}})
    held = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[table]
    _cancelled(cloud, table, ("a", "b", "x"))
    assert dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[table] is held
    assert len(held.stream_shard.items) == 1
