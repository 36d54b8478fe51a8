"""The one-off migration that places records made before the region tree in the default region
(`infra.migrations.default_region`): every kind of region-less record is placed, with its
audit record, page after page; a region already set is never overwritten; nothing else of a
record changes; a second run places nothing. The placing is tested on a table keyed like the
deployed one and holding only the test's records (a Scan of small pages over the whole session's
table would read it thousands of times over); the command runs on the deployed table."""

from __future__ import annotations

import uuid
from typing import Any

from infra.migrations import default_region
from tests.support.environment import environment

KINDS = ("DEPT", "APP", "COMPLAINT", "RATING", "URGING")


def _items(dynamodb: Any, table: str, pk: str) -> list[dict[str, Any]]:
    return dynamodb.query(TableName=table, KeyConditionExpression="pk = :pk",
                          ExpressionAttributeValues={":pk": {"S": pk}},
                          ConsistentRead=True)["Items"]


def _meta(dynamodb: Any, table: str, pk: str) -> dict[str, Any]:
    return dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "META"}},
                             ConsistentRead=True)["Item"]


def _audits(dynamodb: Any, table: str, pk: str) -> list[dict[str, Any]]:
    return [item for item in _items(dynamodb, table, pk)
            if item["sk"]["S"].startswith("AUDIT#")]


def _table_like(dynamodb: Any, deployed: str) -> str:
    """A new, empty table with the deployed table's keys; its name."""
    described = dynamodb.describe_table(TableName=deployed)["Table"]
    keys = described["KeySchema"]
    named = {key["AttributeName"] for key in keys}
    name = f"migration-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name, KeySchema=keys, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[a for a in described["AttributeDefinitions"]
                              if a["AttributeName"] in named])
    return name


def test_region_less_records_move_to_the_default_region_once(
        cloud_env: dict[str, str], clients: Any) -> None:
    dynamodb = clients("dynamodb")
    table = _table_like(dynamodb, cloud_env["TABLE_NAME"])
    tag = uuid.uuid4().hex[:8].upper()
    old = {f"{kind}#MIG{tag}{n}": {"pk": {"S": f"{kind}#MIG{tag}{n}"}, "sk": {"S": "META"},
                                   "status": {"S": "SUBMITTED"}, "note": {"S": f"旧记录 {n}"},
                                   "version": {"N": "3"}}
           for kind in KINDS for n in range(2)}
    placed_before = {"pk": {"S": f"APP#MIG{tag}SET"}, "sk": {"S": "META"},
                     "status": {"S": "SUBMITTED"}, "region": {"S": "440106"}}
    trail = {"pk": {"S": f"APP#MIG{tag}0#CLOCKS"}, "sk": {"S": "META"}, "x": {"S": "trail"}}
    for item in [*old.values(), placed_before, trail]:
        dynamodb.put_item(TableName=table, Item=item)
    printed: list[str] = []

    with environment({**cloud_env, "TABLE_NAME": table}):
        first = default_region.run(page_size=3, progress=printed.append)
        second = default_region.run(page_size=3, progress=printed.append)

    assert first.placed == {name: 2 for name in default_region.KINDS.values()}, first
    assert sum(second.placed.values()) == 0, second
    assert first.region == "440100"
    for pk, before in old.items():
        after = _meta(dynamodb, table, pk)
        expected = {**before, "region": {"S": "440100"}}
        if pk.startswith("DEPT#"):
            expected["level"] = {"S": "CITY"}
        assert after == expected
        [audit] = _audits(dynamodb, table, pk)  # once: the second run wrote nothing
        assert (audit["event"]["S"], audit["actor"]["S"]) == (
            "REGION_PLACED", default_region.ACTOR)
    assert _meta(dynamodb, table, f"APP#MIG{tag}SET") == placed_before
    assert _audits(dynamodb, table, f"APP#MIG{tag}SET") == []
    assert _items(dynamodb, table, f"APP#MIG{tag}0#CLOCKS") == [trail]


def test_the_command_prints_what_it_placed(cloud_env: dict[str, str], seeded: None) -> None:
    from infra.localcloud.runtime import printed_in_this_context

    # The local cloud runs the stream's functions in this process, printing their logs and
    # metrics to the same stdout: read what this thread printed.
    with environment(cloud_env), printed_in_this_context() as lines:
        assert default_region.main(["--table", cloud_env["TABLE_NAME"],
                                    "--endpoint", cloud_env["AWS_ENDPOINT_URL"]]) == 0
    assert [line.split(":")[0] for line in lines] == list(default_region.KINDS.values())
    assert all("placed in 440100" in line for line in lines)
