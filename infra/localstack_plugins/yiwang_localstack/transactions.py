"""A cancelled DynamoDB transaction puts back only what it touched (moto's TransactWriteItems).

moto makes every TransactWriteItems deep-copy each table it names, before running it, and, when
it is cancelled, puts those copies in the tables' place. With a few thousand items that copy is
most of the local cloud's CPU under a busy suite (a cancelled transaction is an ordinary answer
here: a conditional write that lost a race), and the table object readers hold (the stream
poller's shard, LocalStack's stream reader) is no longer the table: records written after the
cancellation never reach them.

`transact_write_items` here does what moto's does, step for step, but snapshots only the items
the transaction names (a deep copy each: moto updates items in place) and the length of each
named table's stream, and on cancellation puts those items back (or removes the ones it
created) and drops the stream records it added, in the same table object. Nothing outside the
transaction's own items changes, as on DynamoDB, where a transaction's writes are isolated.

Only moto is imported: the embedded cloud (infra/localcloud) and the LocalStack DynamoDB
provider (this package) share it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})


@dataclass
class _Saved:
    """One named item as it was before the transaction (`item` None: it did not exist)."""

    table: Any
    hash_value: Any
    range_value: Any
    item: Any


@dataclass
class Snapshot:
    """What a transaction may change: its named items and its tables' stream lengths."""

    items: list[_Saved]
    streams: list[tuple[Any, int]]

    def restore(self) -> None:
        """Put every named item back as it was and forget the stream records added since."""
        for saved in reversed(self.items):
            _put_back(saved)
        for shard, length in self.streams:
            del shard.items[length:]


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type == "Put":
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> Snapshot:
    """The items `transact_items` names (deep copies) and its tables' stream lengths.

    An operation that cannot name an item (unknown table, missing key attribute) changes
    nothing, and moto reports it as the transaction's error; it is left out here.
    """
    from moto.dynamodb.models.dynamo_type import DynamoType

    items: list[_Saved] = []
    streams: dict[int, tuple[Any, int]] = {}
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None or op_type not in _OPERATIONS:
                continue
            try:
                key = _key_of(table, op_type, op)
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = (DynamoType(key[table.range_key_attr])
                               if table.range_key_attr is not None else None)
            except (KeyError, TypeError, AttributeError):
                continue
            current = _current(table, hash_value, range_value)
            items.append(_Saved(table, hash_value, range_value, copy.deepcopy(current)))
            shard = table.stream_shard
            if shard is not None and id(shard) not in streams:
                streams[id(shard)] = (shard, len(shard.items))
    return Snapshot(items, list(streams.values()))


def _current(table: Any, hash_value: Any, range_value: Any) -> Any:
    stored = table.items.get(hash_value)
    if range_value is None:
        return stored
    return stored.get(range_value) if stored is not None else None


def _put_back(saved: _Saved) -> None:
    table, hash_value, range_value = saved.table, saved.hash_value, saved.range_value
    if range_value is None:
        if saved.item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = saved.item
        return
    if saved.item is not None:
        table.items[hash_value][range_value] = saved.item
        return
    partition = table.items.get(hash_value)
    if partition is not None:
        partition.pop(range_value, None)
        if not partition:
            del table.items[hash_value]


def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's `DynamoDBBackend.transact_write_items`, cancelled by `Snapshot.restore`."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    saved = snapshot(backend, transact_items)
    target_items: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in _OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            key = (_key_of(backend.get_table(table_name), op_type, op) if op_type == "Put"
                   else op["Key"])
            unique = (str(table_name), str(dict(sorted(key.items()))))
            if unique in target_items:
                raise MultipleTransactionsException()
            target_items.add(unique)
            current = backend.get_item(table_name, key)
            if condition_expression is not None:
                condition = get_filter_expression(condition_expression, names, values)
                if not condition.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            _apply(backend, op_type, op, table_name, key)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            saved.restore()
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), original_item))
        except Exception as error:  # noqa: BLE001 - moto reports any other failure per item
            errors.append((type(error).__name__, str(error), original_item))
    if any(code is not None for code, _, _ in errors):
        saved.restore()
        raise TransactionCanceledException(errors)


def _apply(backend: Any, op_type: str, op: dict[str, Any], table_name: str,
           key: dict[str, Any]) -> None:
    arguments = {"condition_expression": op.get("ConditionExpression"),
                 "expression_attribute_names": op.get("ExpressionAttributeNames"),
                 "expression_attribute_values": op.get("ExpressionAttributeValues")}
    if op_type == "Put":
        backend.put_item(table_name, op["Item"], **arguments)
    elif op_type == "Delete":
        backend.delete_item(table_name, key, **arguments)
    elif op_type == "Update":
        backend.update_item(table_name, key, update_expression=op["UpdateExpression"],
                            **arguments)
