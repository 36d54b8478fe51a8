"""The single table: which table a model lives in, the audit record (全程留痕), the list index
that several records share, and the one-partition query.

Every model's `Meta` derives from `TableMeta`, so the table is the one this process is configured
for, read when used. Key strings belong to the model that owns them (each model's `key`,
`sort_key` and prefix constants); this module knows only the audit trail's `AUDIT#` sort keys.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from yiwang.platform.config import settings


class _TableName(type):
    @property
    def table_name(cls) -> str:
        return settings().table_name


class TableMeta(metaclass=_TableName):
    """`Meta` base of every model: the table is the one this process is configured for, read
    when used (not when the module is imported), so configuration stays in one place."""


class ListIndex(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "ListIndex"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class AuditRecord(Model):
    """全程留痕: an append-only record of one state change (who, when, from, to, why)."""

    class Meta(TableMeta):
        pass

    SORT_PREFIX = "AUDIT#"
    """Every audit record's sort key begins with this (then the time, so the trail sorts)."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    at = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    event = UnicodeAttribute()
    from_status = UnicodeAttribute(attr_name="fromStatus", null=True)
    to_status = UnicodeAttribute(attr_name="toStatus", null=True)
    detail = MapAttribute(null=True)


def new_audit_for(pk: str, actor: str, event: str, from_status: str | None,
                  to_status: str | None, detail: dict | None = None,
                  at: datetime | None = None) -> AuditRecord:
    """An audit record in any record's partition (`APP#<id>`, `ITEM#<code>`...), keyed
    `AUDIT#<time>#<random>` so the trail sorts by time. `at` (default now) orders records
    written in one transaction, where the clock may not tick between them."""
    at = at or datetime.now(UTC)
    return AuditRecord(
        pk, f"{AuditRecord.SORT_PREFIX}{at.isoformat()}#{uuid.uuid4().hex[:8]}",
        at=at, actor=actor, event=event, from_status=from_status, to_status=to_status,
        detail=detail,
    )


def partition_items(pk: str, consistent: bool = True) -> list[dict[str, Any]]:
    """Every item under one partition key, in sort-key order, as DynamoDB returns them: one
    Query (another only for each further 1 MB of the partition)."""
    connection = AuditRecord._get_connection()
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page = connection.query(pk, consistent_read=consistent, exclusive_start_key=start)
        items.extend(page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def connection() -> Connection:
    """The table's connection, for transactions (`TransactWrite(connection=connection())`,
    `TransactGet`): the models' own, so a transaction goes where the models do."""
    return AuditRecord._get_connection().connection
