"""站内信 as its reader sees it: `GET /me/notices` (newest first, paged, with the unread count)
and marking notices read.

A person may have several inboxes: their own subject (`sub`: complaints they filed, ratings
they gave), their identity number or credit code (`APPLICANT#<code>`: applications made in
their name, online or at the window) and, for a department's reviewers, the department's
(`DEPT#<code>`: complaints routed to it, urgings, cards, bad reviews, its items' reviews). A
department's notices are the department's: one reviewer marking one read marks it for all. A
page merges them by time: every inbox's sort key is `NOTICE#<time>#<id>`, so "older than the
last one shown" is the same condition in each.

A notice's public id carries its time (`<Unix microseconds>-<notice id>`), so marking it read
is one conditional update on its key, never a search.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.transactions import TransactWrite

from yiwang.people.access import REVIEWER, Caller
from yiwang.people.notices import InboxCounter, InboxRecord
from yiwang.platform.errors import FieldError, NotFound, ValidationFailed
from yiwang.table.records import connection
from yiwang.table.writes import write_if

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Times in answers are Beijing time with their offset (as everywhere in the API)."""
_PUBLIC_ID = re.compile(r"^(\d{1,17})-([0-9A-Za-z_.:-]{1,128})$")


def inboxes_of(caller: Caller) -> list[str]:
    """The recipients whose notices are the caller's: their subject, the identity number and
    credit code their token names (applications in their name), and a reviewer's department."""
    codes = [f"APPLICANT#{code}" for code in caller.applicant_codes]
    department = [f"DEPT#{caller.dept}"] if caller.role == REVIEWER and caller.dept else []
    return [caller.sub, *codes, *department]


def public_id(record: InboxRecord) -> str:
    """The notice's id in the API: its filing time (microseconds) and its notice id."""
    at = record.at.astimezone(UTC)
    return f"{(at - _EPOCH) // timedelta(microseconds=1)}-{record.notice_id}"


def _sort_key(public: str) -> str:
    match = _PUBLIC_ID.match(public)
    if not match:
        raise NotFound(f"no notice {public}")
    at = _EPOCH + timedelta(microseconds=int(match.group(1)))
    return f"NOTICE#{at.isoformat()}#{match.group(2)}"


@dataclass(frozen=True)
class Page:
    notices: list[InboxRecord]
    unread: int
    next_token: str | None


def page(caller: Caller, limit: Any = None, next_token: str | None = None,
         unread_only: bool = False) -> Page:
    """One page of the caller's notices, newest first, and how many are unread in all."""
    size = _limit(limit)
    before = _decode(next_token) if next_token else None
    recipients = inboxes_of(caller)
    found: list[InboxRecord] = []
    for recipient in recipients:
        # `between` includes the last one shown: one more read, and it is left out below.
        condition = (InboxRecord.sk.between("NOTICE#", before) if before
                     else InboxRecord.sk.startswith("NOTICE#"))
        query = InboxRecord.query(
            f"INBOX#{recipient}", condition, scan_index_forward=False, limit=size + 2,
            filter_condition=InboxRecord.read_at.does_not_exist() if unread_only else None)
        found += [record for record in query if record.sk != before]
    newest = heapq.nlargest(size + 1, found, key=lambda record: record.sk)
    more = len(newest) > size
    shown = newest[:size]
    token = _encode(shown[-1].sk) if more and shown else None
    return Page(shown, unread_count(recipients), token)


def unread_count(recipients: list[str]) -> int:
    """The recipients' unread notices (their counters; one strongly consistent batch read)."""
    keys = [(f"INBOX#{recipient}", InboxCounter.SORT_KEY) for recipient in recipients]
    return sum(max(0, int(counter.unread or 0))
               for counter in InboxCounter.batch_get(keys, consistent_read=True))


def mark_read(caller: Caller, notice_ids: list[str], now: datetime | None = None) -> int:
    """Mark the caller's notices read; how many were unread. A notice that is not the
    caller's is `NotFound` (as one that does not exist); one already read changes nothing."""
    now = now or datetime.now(UTC)
    recipients = inboxes_of(caller)
    changed = 0
    for public in notice_ids:
        sort_key = _sort_key(public)
        record = _find(recipients, sort_key)
        if record is None:
            raise NotFound(f"no notice {public}")
        changed += _read(record, now)
    return changed


def _find(recipients: list[str], sort_key: str) -> InboxRecord | None:
    for recipient in recipients:
        try:
            return InboxRecord.get(f"INBOX#{recipient}", sort_key)
        except InboxRecord.DoesNotExist:
            continue
    return None


def _read(record: InboxRecord, now: datetime) -> int:
    """readAt set and the counter down by one, together, only if it was unread (so two
    concurrent marks count it once)."""
    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(record, actions=[InboxRecord.read_at.set(now)],
                               condition=InboxRecord.read_at.does_not_exist())
            transaction.update(InboxCounter(record.pk, InboxCounter.SORT_KEY),
                               actions=[InboxCounter.unread.add(-1)])

    return 1 if write_if(write) else 0


def _limit(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= MAX_LIMIT:
        raise ValidationFailed([FieldError("limit", f"an integer from 1 to {MAX_LIMIT}")])
    return number


def _encode(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    try:
        sort_key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sort_key = ""
    if not sort_key.startswith("NOTICE#"):
        raise ValidationFailed([FieldError("nextToken", "not a token this list gave")])
    return sort_key


def as_json(record: InboxRecord) -> dict[str, Any]:
    """A notice as `GET /me/notices` answers it."""
    return {"noticeId": public_id(record), "kind": record.kind, "title": record.title,
            "body": record.body, "applicationId": record.application_id,
            "at": record.at.astimezone(_SHANGHAI).isoformat(),
            "read": record.read_at is not None,
            "readAt": record.read_at.astimezone(_SHANGHAI).isoformat() if record.read_at else None}
