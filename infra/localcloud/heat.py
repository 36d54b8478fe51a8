"""Partition heat: every DynamoDB request the local cloud serves, by table or index and by
partition key value.

DynamoDB spreads a table and each global secondary index over partitions by the hash of the
partition key; one partition serves at most about 1,000 write units and 3,000 read units a
second, and a GSI partition that cannot keep up throttles the writes to the table itself. On
one machine nothing throttles, so the heat is counted instead: `record_partition_heat` wraps
moto's DynamoDB request handler (one patch, registered like the others), and for each request

- reads: GetItem, BatchGetItem and TransactGetItems count one read per key on the table;
  Query one read on the partition it names (the table's or the index's); Scan one on `*scan*`;
- writes: PutItem, UpdateItem, DeleteItem, BatchWriteItem and TransactWriteItems count one
  write per item on the table's partition (a ConditionCheck too: it consumes write capacity),
  and for each GSI what DynamoDB writes to it: the item's index keys are read before and after
  the request (under the lock that serialises table writes, so no other write slips between),
  and an item entering, changing in or leaving the index is one write on its partition (two
  when its index partition key changes: a delete from the old partition, a put in the new).

`HEAT` holds the counts of the process (reset between runs); `report` turns a snapshot into
each target's hottest key share and top keys.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from infra.localcloud.patches import replace

SCAN = "*scan*"
TABLE = "table"
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_READS = {"GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan"}

Target = tuple[str, str]
"""(table name, `table` or the index name)."""


@dataclass
class Heat:
    """Reads and writes per (table, table-or-index, partition key value)."""

    reads: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    writes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, entries: list[tuple[str, str, str]]) -> None:
        """Add one request's reads or writes."""
        with self._lock:
            (self.reads if kind == "read" else self.writes).update(entries)

    def reset(self) -> None:
        """Forget every count (a bench's run starts from nothing)."""
        with self._lock:
            self.reads.clear()
            self.writes.clear()

    def snapshot(self) -> dict[str, Counter[tuple[str, str, str]]]:
        """A copy of the counts: {"reads": ..., "writes": ...}."""
        with self._lock:
            return {"reads": Counter(self.reads), "writes": Counter(self.writes)}


HEAT = Heat()


@dataclass(frozen=True)
class TargetHeat:
    """One table or index: its total, the hottest key's share of it, the top keys."""

    table: str
    target: str
    total: int
    hottest_share: float
    top: list[tuple[str, int]]


def report(counts: Counter[tuple[str, str, str]], top: int = 5) -> list[TargetHeat]:
    """Per table and index (sorted), the hottest key's share and the `top` keys."""
    by_target: dict[Target, Counter[str]] = {}
    for (table, target, key), n in counts.items():
        by_target.setdefault((table, target), Counter())[key] += n
    rows = []
    for (table, target), keys in sorted(by_target.items()):
        total = sum(keys.values())
        ranked = keys.most_common(top)
        rows.append(TargetHeat(table, target, total,
                               ranked[0][1] / total if total else 0.0, ranked))
    return rows


# --- the request hook ---------------------------------------------------------------------------

def _plain(value: dict[str, Any] | None) -> str:
    """A typed DynamoDB value ({"S": "APP#1"}) as the key text shown in the report."""
    if not value:
        return "?"
    return str(next(iter(value.values())))


def _key_of(table: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _written_keys(action: str, body: dict[str, Any], backend: Any) -> list[tuple[str, dict]]:
    """(table name, item key) of each item the write request touches; ConditionChecks too."""
    touched: list[tuple[str, dict]] = []
    if action in {"UpdateItem", "DeleteItem"}:
        touched.append((body["TableName"], body["Key"]))
    elif action == "PutItem":
        table = backend.get_table(body["TableName"])
        touched.append((body["TableName"], _key_of(table, body["Item"])))
    elif action == "BatchWriteItem":
        for name, requests in body.get("RequestItems", {}).items():
            table = backend.get_table(name)
            for request in requests:
                if "PutRequest" in request:
                    touched.append((name, _key_of(table, request["PutRequest"]["Item"])))
                elif "DeleteRequest" in request:
                    touched.append((name, request["DeleteRequest"]["Key"]))
    elif action == "TransactWriteItems":
        for entry in body.get("TransactItems", []):
            (kind, op), = entry.items()
            if kind == "Put":
                table = backend.get_table(op["TableName"])
                touched.append((op["TableName"], _key_of(table, op["Item"])))
            else:
                touched.append((op["TableName"], op["Key"]))
    return touched


def _index_places(backend: Any, name: str, key: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """For each GSI of the table: (its partition key value, the item's attributes) where the
    item sits in it now, or (None, None) when it is not in the index (sparse, or no item)."""
    table = backend.get_table(name)
    try:
        item = backend.get_item(name, key)
    except Exception:  # noqa: BLE001 - a malformed key: the request itself will say so
        item = None
    places: dict[str, tuple[Any, Any]] = {}
    for index in table.global_indexes:
        keys = {k["KeyType"]: k["AttributeName"] for k in index.schema}
        attrs = item.to_json()["Attributes"] if item is not None else {}
        inside = all(keys[t] in attrs for t in keys)
        places[index.name] = (_plain(attrs[keys["HASH"]]), attrs) if inside else (None, None)
    return places


def _index_writes(name: str, before: dict[str, tuple[Any, Any]],
                  after: dict[str, tuple[Any, Any]]) -> list[tuple[str, str, str]]:
    writes = []
    for index, (old_key, old_attrs) in before.items():
        new_key, new_attrs = after.get(index, (None, None))
        if old_key == new_key:
            if new_key is not None and old_attrs != new_attrs:
                writes.append((name, index, new_key))  # changed in place (projection ALL)
            continue
        writes += [(name, index, key) for key in (old_key, new_key) if key is not None]
    return writes


def _reads(action: str, body: dict[str, Any], backend: Any) -> list[tuple[str, str, str]]:
    if action == "GetItem":
        table = backend.get_table(body["TableName"])
        return [(body["TableName"], TABLE, _plain(body["Key"].get(table.hash_key_attr)))]
    if action == "BatchGetItem":
        reads = []
        for name, request in body.get("RequestItems", {}).items():
            table = backend.get_table(name)
            reads += [(name, TABLE, _plain(key.get(table.hash_key_attr)))
                      for key in request.get("Keys", [])]
        return reads
    if action == "TransactGetItems":
        reads = []
        for entry in body.get("TransactItems", []):
            op = entry["Get"]
            table = backend.get_table(op["TableName"])
            reads.append((op["TableName"], TABLE, _plain(op["Key"].get(table.hash_key_attr))))
        return reads
    target = body.get("IndexName") or TABLE
    if action == "Scan":
        return [(body["TableName"], target, SCAN)]
    return [(body["TableName"], target, _queried_partition(body, backend))]


def _queried_partition(body: dict[str, Any], backend: Any) -> str:
    from moto.dynamodb.parsing.key_condition_expression import parse_expression

    try:
        schema = backend.get_schema(table_name=body["TableName"],
                                    index_name=body.get("IndexName"))
        hash_conditions, _, _ = parse_expression(
            key_condition_expression=body.get("KeyConditionExpression"),
            expression_attribute_names=body.get("ExpressionAttributeNames", {}),
            expression_attribute_values=body.get("ExpressionAttributeValues", {}),
            schema=schema)
        return _plain(hash_conditions[0][1]) if hash_conditions else "?"
    except Exception:  # noqa: BLE001 - an invalid query: moto answers it with its error
        return "?"


def record_partition_heat(write_lock: Any, heat: Heat = HEAT) -> None:
    """Wrap moto's DynamoDB request handler so every request adds to `heat`; `write_lock` is
    the lock every table write holds (index keys are read around the write under it)."""
    from moto.dynamodb.responses import DynamoHandler

    def make(call_action: Any) -> Any:
        def counted(self: Any) -> Any:
            action = self._get_action()
            if action not in _READS and action not in _WRITES:
                return call_action(self)
            body = getattr(self, "params", None) or {}
            backend = self.dynamodb_backend
            try:
                if action in _READS:
                    heat.count("read", _reads(action, body, backend))
                    return call_action(self)
                return _counted_write(self, action, body, backend)
            except KeyError:  # a request missing its table or key: moto's answer says why
                return call_action(self)

        def _counted_write(self: Any, action: str, body: dict[str, Any], backend: Any) -> Any:
            touched = _written_keys(action, body, backend)
            with write_lock:
                before = [_index_places(backend, name, key) for name, key in touched]
                answer = call_action(self)
                after = [_index_places(backend, name, key) for name, key in touched]
            writes = []
            for (name, key), old, new in zip(touched, before, after, strict=True):
                table = backend.get_table(name)
                writes.append((name, TABLE, _plain(key.get(table.hash_key_attr))))
                writes += _index_writes(name, old, new)
            heat.count("write", writes)
            return answer

        return counted

    replace(DynamoHandler, "call_action", make)
