"""Sharded statistics cells: the events of applications of one day, department, item and status
spread over the shards (each application's in its own), and the table sums them all, cells
written before the shards included. Applications submitted on a day of their own (2025)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from tests.support.data import PERMIT
from tests.support.polling import eventually
from yiwang.calendar.workdays import SHANGHAI

DAY = datetime(2025, 6, 10, 9, 0, tzinfo=SHANGHAI)


def submitted_application() -> str:
    """An application record and its submission's audit record (the stream does the rest)."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item
    from yiwang.table.records import AuditRecord

    identifier = f"YWTEST{uuid.uuid4().hex[:12].upper()}"
    ApplicationRecord(ApplicationRecord.key(identifier), "META", application_id=identifier,
                      status="SUBMITTED", item_code=PERMIT,
                      item_version=get_item(PERMIT).version, owner_sub="citizen-shards",
                      submitted_at=DAY, created_at=DAY, gsi1pk="APPLICANT#shards",
                      gsi1sk=DAY.isoformat()).save()
    AuditRecord(f"APP#{identifier}", f"AUDIT#{DAY.isoformat()}#{uuid.uuid4().hex[:8]}", at=DAY,
                actor="test", event="SUBMITTED", from_status="DRAFT",
                to_status="SUBMITTED").save()
    return identifier


def total(day: date) -> int:
    from yiwang.stats.aggregates import Query, summary

    return int(summary(Query("status", day, day))["total"]["count"])


def test_cells_spread_over_shards_and_the_table_sums_them(table: None) -> None:
    from yiwang.stats.aggregates import STATS_SHARDS, StatsCell
    from yiwang.table.shards import all_shards

    identifiers = [submitted_application() for _ in range(12)]
    eventually(lambda: total(DAY.date()) == 12, timeout=60)
    month = StatsCell.month_partition(DAY.date().isoformat())
    holding = [pk for pk in all_shards(month, STATS_SHARDS)
               if list(StatsCell.query(pk, StatsCell.sk.startswith(f"{DAY.date()}#")))]
    assert len(holding) > 3  # 12 applications, one hot cell no more
    expected = {StatsCell.key(DAY.date().isoformat(), "GZ-ZRZY", PERMIT, "SUBMITTED",
                              f"APP#{i}")[0] for i in identifiers}
    assert set(holding) == expected

    # A cell written before the shards (the month's unsharded partition) is still counted.
    StatsCell(month, f"{DAY.date()}#GZ-ZRZY#{PERMIT}#SUBMITTED", day=DAY.date().isoformat(),
              department="GZ-ZRZY", item_code=PERMIT, status="SUBMITTED", count=5).save()
    assert total(DAY.date()) == 17
