"""`GET /applications` for every role: one page of applications, from Queries, never a Scan.

Access patterns (the key that serves each list):
- applicants, "my applications", newest first: ListIndex gsi1pk=`APPLICANT#<identity number
  or credit code>` (one partition per identifier the token carries, read one after the
  other); `?status=` is a filter on the caller's own partition;
- reviewers, "my department's applications": the department's tasks, ListIndex
  gsi1pk=`DEPT#<department>` (gsi1sk=`<task status>#<time>`: pending tasks first, newest
  first), then one BatchGetItem for the applications they name; `?status=` filters those;
- window staff: the same over the window's queue, ListIndex gsi1pk=`DEPT#WINDOW`;
- supervisors and administrators, all applications in one status, newest first:
  StatusShardIndex statusShard=`<status>#<shard>` (`?status=` is required), every one of the
  status's 16 shards queried newest first (a page of at most `limit` + 1 from each) and
  merged by (createdAt, application key), newest first; the next page's token is the last
  row's position, and each shard then resumes at or before it (a sort-key condition). A
  supervisor's rows are those of their region and below (`policy.in_scope`), filtered as the
  shards are read (no index per region: a county's page may read past other counties' rows).

Pages: `limit` (1 to 100, 20 by default) and an opaque `nextToken`, present only when more
follow; a token names the partition it continues, and one for a partition the caller may not
read is a validation error. A department's list shows an application once per page; one with
tasks in several rounds (after a supplement) may show again on a later page.

Rows are summaries (`yiwang.views.applications.row`), made from the items the list read and
nothing else: a page costs the index Query, and for a department's list one BatchGetItem per
25 tasks read (one for a page of 20 unless many of its tasks are filtered out or repeat an
application). The
attachments, tasks and timeline of an application are its detail (`GET /applications/{id}`,
one Query), never read per row.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from yiwang.applications.records import ApplicationRecord
from yiwang.applications.status import Status
from yiwang.people import policy
from yiwang.people.access import ADMIN, APPLICANT, REVIEWER, SUPERVISOR, WINDOW, Caller
from yiwang.platform.errors import FieldError, Forbidden, ValidationFailed
from yiwang.table.shards import all_shards

if TYPE_CHECKING:
    from yiwang.applications.tasks import TaskRecord
# `yiwang.applications.tasks` (and the clocks, catalogue... it imports) is imported by the
# department lists that read tasks, not by an applicant's or a supervisor's list (the API's
# cold start).

STATUSES = frozenset(status.value for status in Status)
"""The application statuses (`status.Status`), as `?status=` accepts them."""
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
_BATCH = 25
"""Tasks read ahead per BatchGetItem of their applications, at most (fewer for a small page:
never more than one Query page of tasks, so a batch costs one Query)."""
_LIST_KEYS = (("pk", "pk"), ("sk", "sk"), ("gsi1pk", "gsi1pk"), ("gsi1sk", "gsi1sk"))
_STATUS_KEYS = (("pk", "pk"), ("sk", "sk"), ("status", "status"),
                ("statusIndexSk", "status_index_sk"))
"""The key attributes of an item's place in an index: (name in the table, model attribute);
the third is the index's partition key."""

Position = dict[str, str]
"""Where a page ended: the key attributes of the last item read (plain strings)."""


@dataclass(frozen=True)
class Page:
    """One page of a list, and the token of the next if more follow; for a department's list,
    the department's task that listed each application (by application id)."""

    applications: list[ApplicationRecord]
    next_token: str | None
    listed_by: dict[str, TaskRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class ListRequest:
    """The parsed query string of `GET /applications`."""

    status: str | None
    limit: int
    next_token: str | None


def parse_request(params: dict[str, str] | None) -> ListRequest:
    """`status`, `limit` and `nextToken` from the query string, every error listed."""
    params = params or {}
    errors = []
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        errors.append(FieldError("status", f"one of {', '.join(sorted(STATUSES))}"))
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        limit = int(raw_limit) if raw_limit.isdigit() else 0
        if not 1 <= limit <= MAX_LIMIT:
            errors.append(FieldError("limit", f"a whole number from 1 to {MAX_LIMIT}"))
    if errors:
        raise ValidationFailed(errors)
    return ListRequest(status, limit, params.get("nextToken") or None)


def list_applications(caller: Caller, request: ListRequest) -> Page:
    """The page of applications the caller's role lists (see the module's access patterns)."""
    if caller.role == APPLICANT:
        return _applicants_page(caller, request)
    if caller.role in {REVIEWER, WINDOW}:
        from yiwang.applications.tasks import WINDOW_QUEUE

        department = WINDOW_QUEUE if caller.role == WINDOW else caller.dept
        if not department:
            raise Forbidden("a reviewer's token names their department")
        return _department_page(f"DEPT#{department}", request, caller)
    if caller.role in {SUPERVISOR, ADMIN}:
        return _status_page(caller, request)
    raise Forbidden(f"role '{caller.role}' lists no applications")


def _applicants_page(caller: Caller, request: ListRequest) -> Page:
    partitions = [f"APPLICANT#{code}" for code in caller.applicant_codes]
    condition = ApplicationRecord.status == request.status if request.status else None
    found, next_token = partitions_page(ApplicationRecord.by_owner, partitions, request.limit,
                                        request.next_token, condition)
    return Page(found, next_token)


def partitions_page(index: Any, partitions: list[str], limit: int, next_token: str | None,
                    condition: Any = None) -> tuple[list[Any], str | None]:
    """One page, newest first, of the ListIndex `index` over `partitions` read one after the
    other (the caller's own), and the token of the next page if more follow."""
    partition, start = _decode(next_token, partitions, _LIST_KEYS)

    def rows() -> Iterator[tuple[Any, str, Position]]:
        first = partitions.index(partition) if partition else 0
        for position, name in enumerate(partitions[first:], first):
            query = index.query(name, scan_index_forward=False, filter_condition=condition,
                                last_evaluated_key=start if position == first else None,
                                page_size=limit + 1)
            for item in query:
                yield item, name, _position(item, _LIST_KEYS)

    page = _page(rows(), limit)
    return page.applications, page.next_token


def _status_page(caller: Caller, request: ListRequest) -> Page:
    if not request.status:
        raise ValidationFailed([FieldError(
            "status", "supervisors list the applications of one status at a time")])
    if request.status == Status.DRAFT and caller.role != SUPERVISOR:
        # A draft is its applicant's (the access policy's `getApplication`): of the staff who
        # list by status, only supervisors read drafts (masked).
        raise ValidationFailed([FieldError(
            "status", "drafts are their applicants' own; list a status after submission")])
    partition = request.status
    _, start = _decode(request.next_token, [partition], _STATUS_KEYS)
    after = (start["statusIndexSk"]["S"], start["pk"]["S"]) if start else None
    shards = [_newest_in(shard, after, request.limit + 1) for shard in all_shards(partition)]
    merged = heapq.merge(*shards, key=_order, reverse=True)
    rows = ((record, partition, _position(record, _STATUS_KEYS)) for record in merged
            if _in_scope(caller, record))
    return _page(rows, request.limit)


def _in_scope(caller: Caller, record: ApplicationRecord) -> bool:
    """A supervisor lists their region's applications only (filtered within the status
    Queries: a county's page may read past other counties' rows)."""
    from yiwang.applications.escalation import regions_of

    return policy.in_scope(caller, regions_of(record))


def _order(record: ApplicationRecord) -> tuple[str, str]:
    """The status lists' order (newest first, read backwards): createdAt, then the key."""
    return record.status_index_sk or "", record.pk


def _newest_in(shard: str, after: tuple[str, str] | None, page_size: int
               ) -> Iterator[ApplicationRecord]:
    """One shard's applications strictly after `after` in the lists' order (all when None),
    newest first; those of one createdAt (the index leaves their order open) by key."""
    condition = ApplicationRecord.status_index_sk <= after[0] if after else None
    query = ApplicationRecord.by_status.query(shard, condition, scan_index_forward=False,
                                              page_size=page_size)
    tied: list[ApplicationRecord] = []
    for record in query:
        if tied and record.status_index_sk != tied[0].status_index_sk:
            yield from sorted(tied, key=_order, reverse=True)
            tied = []
        if after is None or _order(record) < after:
            tied.append(record)
    yield from sorted(tied, key=_order, reverse=True)


def _department_page(partition: str, request: ListRequest, caller: Caller) -> Page:
    from yiwang.applications.escalation import window_may_see
    from yiwang.applications.tasks import TaskRecord

    _, start = _decode(request.next_token, [partition], _LIST_KEYS)
    page_size = min(MAX_LIMIT, 2 * (request.limit + 1))
    tasks = TaskRecord.by_department.query(partition, scan_index_forward=False,
                                           last_evaluated_key=start, page_size=page_size)
    wanted: Callable[[ApplicationRecord], bool] = (
        (lambda record: record.status == request.status) if request.status
        else (lambda record: True))
    listed_by: dict[str, TaskRecord] = {}

    def rows() -> Iterator[tuple[ApplicationRecord, str, Position]]:
        for record, task in _applications_of(tasks, min(_BATCH, page_size)):
            # 上报件: the window of its accepting region lists it, no other window.
            if wanted(record) and (caller.role != WINDOW
                                   or window_may_see(record, caller.region)):
                listed_by[record.application_id] = task
                yield record, partition, _position(task, _LIST_KEYS)

    page = _page(rows(), request.limit)
    return Page(page.applications, page.next_token,
                {r.application_id: listed_by[r.application_id] for r in page.applications})


def _applications_of(tasks: Iterable[TaskRecord], ahead: int = _BATCH
                     ) -> Iterator[tuple[ApplicationRecord, TaskRecord]]:
    """Each application the tasks name, once, with its first task: read `ahead` tasks ahead
    and fetch their applications with one BatchGetItem."""
    seen: set[str] = set()
    tasks = iter(tasks)
    while batch := list(islice(tasks, ahead)):
        new = list(dict.fromkeys(t.application_id for t in batch if t.application_id not in seen))
        found = {record.application_id: record for record in ApplicationRecord.batch_get(
            [(ApplicationRecord.key(identifier), "META") for identifier in new])} if new else {}
        for task in batch:
            if task.application_id in seen or task.application_id not in found:
                continue
            seen.add(task.application_id)
            yield found[task.application_id], task


def _page(rows: Iterator[tuple[ApplicationRecord, str, Position]], limit: int) -> Page:
    """The first `limit` rows; a token for the rest if one more row exists."""
    taken = list(islice(rows, limit + 1))
    if len(taken) <= limit:
        return Page([record for record, _, _ in taken], None)
    _, partition, position = taken[limit - 1]
    return Page([record for record, _, _ in taken[:limit]], _encode(partition, position))


def _position(item: Any, names: tuple[tuple[str, str], ...]) -> Position:
    return {name: getattr(item, attribute) for name, attribute in names}


def _encode(partition: str, position: Position) -> str:
    raw = json.dumps({"p": partition, "k": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str | None, partitions: list[str], names: tuple[tuple[str, str], ...]
            ) -> tuple[str | None, dict[str, dict[str, str]] | None]:
    """The partition a token continues and the DynamoDB start key, if it is one of ours for
    a partition the caller may read; otherwise `ValidationFailed`."""
    if token is None:
        return None, None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        partition, key = decoded["p"], decoded["k"]
        valid = (partition in partitions and isinstance(key, dict)
                 and set(key) == {name for name, _ in names}
                 and all(isinstance(v, str) for v in key.values())
                 and key[names[2][0]] == partition)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        raise ValidationFailed([FieldError("nextToken", "not a token this list gave you")])
    return partition, {name: {"S": value} for name, value in key.items()}
