"""Partition heat: each DynamoDB request counted on the partition it reads or writes, on the
table and on each GSI as DynamoDB would write the index (entering, moving, leaving)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.localcloud.heat import HEAT, SCAN, TABLE, record_partition_heat, report
from tests.support.network import free_port


def test_report_gives_each_target_its_hottest_share_and_top_keys() -> None:
    counts = Counter({("t", TABLE, "A"): 6, ("t", TABLE, "B"): 3, ("t", TABLE, "C"): 1,
                      ("t", "Due", "CLOCK"): 4})
    due, table = report(counts, top=2)
    assert (due.target, due.total, due.hottest_share, due.top) == ("Due", 4, 1.0, [("CLOCK", 4)])
    assert (table.total, table.hottest_share, table.top) == (10, 0.6, [("A", 6), ("B", 3)])


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from infra.localcloud.server import TABLE_WRITES

    record_partition_heat(TABLE_WRITES)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}",
                          region_name="us-east-1", aws_access_key_id="heat",
                          aws_secret_access_key="heat")
    names = ("pk", "sk", "part", "at")
    client.create_table(
        TableName="heat", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in names],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "Due", "KeySchema": [
            {"AttributeName": "part", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "ALL"}}])
    yield client
    server.stop()


def _item(pk: str, part: str | None = None) -> dict[str, Any]:
    item = {"pk": {"S": pk}, "sk": {"S": "1"}}
    return item | ({"part": {"S": part}, "at": {"S": "2026"}} if part else {})


def _counted(kind: str) -> Counter[tuple[str, str, str]]:
    """This test table's `kind` ("reads" or "writes") counts. The counter is the process's,
    and a cloud an earlier test file started in this process may still be at work meanwhile
    (its stream's functions writing to its own table)."""
    return Counter({key: n for key, n in HEAT.snapshot()[kind].items() if key[0] == "heat"})


def test_writes_count_on_the_table_and_on_the_index_partitions_they_touch(dynamodb: Any) -> None:
    key = {"pk": {"S": "A"}, "sk": {"S": "1"}}
    HEAT.reset()
    dynamodb.put_item(TableName="heat", Item=_item("A", "X"))  # enters X
    dynamodb.update_item(TableName="heat", Key=key, UpdateExpression="SET part = :p",
                         ExpressionAttributeValues={":p": {"S": "Y"}})  # leaves X, enters Y
    dynamodb.update_item(TableName="heat", Key=key, UpdateExpression="SET note = :o",
                         ExpressionAttributeValues={":o": {"S": "o"}})  # changes in Y
    dynamodb.update_item(TableName="heat", Key=key, UpdateExpression="REMOVE part")  # leaves Y
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "heat", "Item": _item("B", "X")}},
        {"ConditionCheck": {"TableName": "heat", "Key": key,
                            "ConditionExpression": "attribute_exists(pk)"}}])
    dynamodb.batch_write_item(RequestItems={"heat": [{"PutRequest": {"Item": _item("C")}}]})
    writes = _counted("writes")
    assert writes == Counter({("heat", TABLE, "A"): 5, ("heat", TABLE, "B"): 1,
                              ("heat", TABLE, "C"): 1, ("heat", "Due", "X"): 3,
                              ("heat", "Due", "Y"): 3})


def test_reads_count_on_the_partition_they_name(dynamodb: Any) -> None:
    dynamodb.put_item(TableName="heat", Item=_item("D", "Z"))
    HEAT.reset()
    dynamodb.query(TableName="heat", IndexName="Due",
                   KeyConditionExpression="#p = :p AND #a <= :a",
                   ExpressionAttributeNames={"#p": "part", "#a": "at"},
                   ExpressionAttributeValues={":p": {"S": "Z"}, ":a": {"S": "2027"}})
    dynamodb.query(TableName="heat", KeyConditionExpression="pk = :pk",
                   ExpressionAttributeValues={":pk": {"S": "D"}})
    dynamodb.get_item(TableName="heat", Key={"pk": {"S": "D"}, "sk": {"S": "1"}})
    dynamodb.batch_get_item(RequestItems={"heat": {"Keys": [
        {"pk": {"S": "D"}, "sk": {"S": "1"}}, {"pk": {"S": "E"}, "sk": {"S": "1"}}]}})
    dynamodb.scan(TableName="heat")
    assert _counted("reads") == Counter({
        ("heat", "Due", "Z"): 1, ("heat", TABLE, "D"): 3, ("heat", TABLE, "E"): 1,
        ("heat", TABLE, SCAN): 1})
    assert _counted("writes") == Counter()
