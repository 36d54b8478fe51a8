"""Index queries that cost what DynamoDB's do: proportional to the items they return.

moto answers a Query on a global secondary index by walking every item of the table, sorting
every item the index holds (comparing its own typed values, a Python call per comparison) and
only then applying the sort-key condition. With 10,000 open clocks in DueIndex, a sweep that
returns 10 spends seconds sorting 10,000: the local cloud's timing would say the timeout check
grows with the open clocks when on AWS it does not. Two patches keep moto's answers and make
its cost follow the answer:

- while a GSI Query with a sort-key condition runs, the table's items are narrowed to those
  whose index keys match (native values, one comparison function resolved once), so moto's own
  loop, sort and filter see only the matching items;
- sorting (moto sorts the whole table for every Query and Scan) compares the attributes'
  native values (strings, numbers, bytes), which order as DynamoDB orders them, instead of
  moto's typed wrappers.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from infra.localcloud.patches import replace

_narrowing: contextvars.ContextVar[Callable[[Any], bool] | None] = contextvars.ContextVar(
    "yiwang_index_narrowing", default=None)


def _index_keys(table: Any, index_name: str) -> tuple[str | None, str | None]:
    for index in table.all_indexes():
        if index.name == index_name:
            keys = {key["KeyType"]: key["AttributeName"] for key in index.schema}
            return keys.get("HASH"), keys.get("RANGE")
    return None, None


def _matcher(table: Any, index_name: str, hash_key: Any, range_comparison: str,
             range_objs: list[Any]) -> Callable[[Any], bool] | None:
    from moto.dynamodb.comparisons import get_comparison_func

    hash_attr, range_attr = _index_keys(table, index_name)
    if hash_attr is None or range_attr is None or hash_key is None:
        return None
    compare = get_comparison_func(range_comparison)
    bounds = [obj.cast_value for obj in range_objs]

    def matches(item: Any) -> bool:
        hashed, ranged = item.attrs.get(hash_attr), item.attrs.get(range_attr)
        return (hashed is not None and ranged is not None and hashed == hash_key
                and ranged.type == range_objs[0].type
                and compare(ranged.cast_value, *bounds))

    return matches


def query_indexes_by_their_keys() -> None:
    """Patch moto's Table so GSI queries and sorts cost what the answer holds."""
    from moto.dynamodb.models.table import Table

    all_items, query, sorted_items = Table.all_items, Table.query, Table.sorted_items

    def narrowed_items(self: Any) -> list[Any]:
        keep = _narrowing.get()
        # Copies first (one C-level step each): a write in another thread may add an item
        # meanwhile, and iterating the live dicts would fail ("changed size during iteration").
        items = [item for stored in list(self.items.values())
                 for item in (list(stored.values()) if self.range_key_attr else [stored])]
        if keep is not None:
            return [item for item in items if keep(item)]  # the query sorts them itself
        try:
            items.sort(key=lambda item: (item.hash_key.cast_value,
                                         item.range_key.cast_value if item.range_key else ""))
        except TypeError:
            return all_items(self)
        return items

    def narrowed_query(self: Any, hash_key: Any, range_comparison: str | None,
                       range_objs: list[Any], *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes (limit, start key, forward, projection, index name, ...).
        index_name = args[4] if len(args) > 4 else kwargs.get("index_name")
        single_keys = (len(kwargs.get("hash_key_conditions") or []) <= 1
                       and len(kwargs.get("range_key_conditions") or []) <= 1)
        keep = None
        if index_name and range_comparison and range_objs and single_keys:
            keep = _matcher(self, index_name, hash_key, range_comparison, range_objs)
        token = _narrowing.set(keep)
        try:
            return query(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        finally:
            _narrowing.reset(token)

    def natively_sorted(self: Any, hash_key_attrs: list[str],
                        range_key_attrs: list[str | None], items: list[Any]) -> list[Any]:
        attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        try:
            items.sort(key=lambda item: tuple(item.attrs[a].cast_value for a in attrs))
        except (KeyError, TypeError):
            return sorted_items(self, hash_key_attrs, range_key_attrs, items)
        return items

    replace(Table, "all_items", lambda original: narrowed_items)
    replace(Table, "query", lambda original: narrowed_query)
    replace(Table, "sorted_items", lambda original: natively_sorted)
