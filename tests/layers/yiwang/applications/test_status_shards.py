"""The supervisors' list of one status over the sharded StatusShardIndex: every shard read and
merged newest first, page by page without a repeat or a gap, a transition moving the
application to its new status's shard, and no status written outside `moved_to`.

The applications here are created in 2099, newer than any other test's, so they head the
list of their status (READY_FOR_PICKUP) in a known order."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from yiwang.people.access import Caller

SUPERVISOR = Caller("supervisor-shards", "supervisor")
LAYER = Path(__file__).resolve().parents[4] / "layers" / "yiwang"


def make(created: datetime, status: str = "READY_FOR_PICKUP") -> str:
    from yiwang.applications.records import ApplicationRecord

    identifier = f"YWTEST{uuid.uuid4().hex[:12].upper()}"
    ApplicationRecord(ApplicationRecord.key(identifier), "META", application_id=identifier,
                      status=status, item_code="ITEM", owner_sub="citizen-shards",
                      created_at=created, gsi1pk="APPLICANT#shards",
                      gsi1sk=created.isoformat()).save()
    return identifier


def pages(limit: int, wanted: int) -> list[list[str]]:
    """Pages of the list until `wanted` rows were read (or the list ends)."""
    from yiwang.applications.listing import ListRequest, list_applications

    read: list[list[str]] = []
    token = None
    while sum(map(len, read)) < wanted:
        page = list_applications(SUPERVISOR, ListRequest("READY_FOR_PICKUP", limit, token))
        read.append([record.application_id for record in page.applications])
        if not (token := page.next_token):
            break
    return read


@pytest.fixture
def newest(table: None) -> list[str]:
    """40 applications, newest first (newer than any before); three share one createdAt."""
    base = datetime(2099, 1, 1, tzinfo=UTC) + timedelta(seconds=time.time())
    times = [base - timedelta(minutes=n) for n in range(37)] + [base - timedelta(hours=2)] * 3
    made = [(created, make(created)) for created in times]
    from yiwang.applications.records import ApplicationRecord

    return [identifier for _, identifier in sorted(
        made, key=lambda pair: (pair[0].isoformat(), ApplicationRecord.key(pair[1])),
        reverse=True)]


def test_pages_merge_the_shards_newest_first_without_repeat_or_gap(newest: list[str]) -> None:
    from yiwang.applications.records import ApplicationRecord

    shards = {ApplicationRecord.load(i).status_shard for i in newest}
    assert len(shards) > 8 and all(s.startswith("READY_FOR_PICKUP#") for s in shards)
    for limit in (1, 7, 40):
        read = [i for page in pages(limit, len(newest)) for i in page]
        assert read[:len(newest)] == newest, limit
        assert len(read) == len(set(read)), limit


def test_a_transition_moves_the_application_to_its_new_status_shard(table: None) -> None:
    from pynamodb.transactions import TransactWrite

    from yiwang.applications import lifecycle
    from yiwang.applications.listing import ListRequest, list_applications
    from yiwang.applications.records import ApplicationRecord, status_shard
    from yiwang.table.records import connection

    identifier = make(datetime(2099, 12, 31, tzinfo=UTC), status="DELIVERED")
    with TransactWrite(connection=connection()) as transaction:
        lifecycle.transition_in(transaction, identifier, "DELIVERED", "COMPLETED", "test",
                                "COMPLETED")
    moved = ApplicationRecord.load(identifier)
    assert moved.status_shard == status_shard("COMPLETED", identifier)
    completed = list_applications(SUPERVISOR, ListRequest("COMPLETED", 100, None))
    assert identifier in [record.application_id for record in completed.applications]


def test_the_status_is_set_only_with_its_shard() -> None:
    # An update that set `status` alone would leave the application in its old status's list.
    bare = re.compile(r"ApplicationRecord\.status\.set\(")
    offenders = [str(path.relative_to(LAYER)) for path in LAYER.rglob("*.py")
                 if path.name != "records.py" and bare.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
