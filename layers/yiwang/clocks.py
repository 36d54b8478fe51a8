"""Clocks (电子监察): every running period is a record indexed by its due time.

Access pattern: the timeout check asks DueIndex for duePartition=`CLOCK` and dueAt <= now, so
it reads only the clocks that are due, however many are open (never a Scan).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from yiwang.records import TableMeta

DUE_PARTITION = "CLOCK"


class DueIndex(GlobalSecondaryIndex["ClockRecord"]):
    class Meta:
        index_name = "DueIndex"
        projection = AllProjection()

    due_partition = UnicodeAttribute(hash_key=True, attr_name="duePartition")
    due_at = UnicodeAttribute(range_key=True, attr_name="dueAt")


class ClockRecord(Model):
    """One running period: what it times, and when it falls due (ISO 8601, UTC)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    due_partition = UnicodeAttribute(attr_name="duePartition", default=DUE_PARTITION)
    due_at = UnicodeAttribute(attr_name="dueAt")
    by_due = DueIndex()


def due_clocks(now: datetime) -> Iterator[ClockRecord]:
    """The open clocks due at `now` (a timezone-aware time)."""
    cutoff = now.astimezone(UTC).isoformat()
    return ClockRecord.by_due.query(DUE_PARTITION, ClockRecord.due_at <= cutoff)
