"""Notices (通知): urge notices (催办), supplement notices (补正告知), payment reminders...

A notice is published once to the notices topic; the notify function files it in the
recipient's inbox (站内信). SNS and SQS deliver at least once, so filing is idempotent on the
notice id.

Access pattern: a recipient's inbox, newest last: pk=`INBOX#<recipient>`, sk begins `NOTICE#`;
its unread count: pk=`INBOX#<recipient>`, sk=`UNREAD` (`yiwang.people.inbox`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.table.records import TableMeta, connection
from yiwang.table.writes import write_if


@dataclass(frozen=True)
class Notice:
    """One message to one recipient (a user's `sub`, or `DEPT#<code>` for a department)."""

    recipient: str
    kind: str
    title: str
    body: str
    application_id: str | None = None
    notice_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Notice:
        return cls(**json.loads(text))


class InboxRecord(Model):
    """站内信: a notice as filed in its recipient's inbox."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    notice_id = UnicodeAttribute(attr_name="noticeId")
    kind = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    application_id = UnicodeAttribute(attr_name="applicationId", null=True)
    at = UTCDateTimeAttribute()
    read_at = UTCDateTimeAttribute(attr_name="readAt", null=True)


class InboxCounter(Model):
    """A recipient's unread notices, kept with atomic ADDs as notices are filed and read."""

    class Meta(TableMeta):
        pass

    SORT_KEY = "UNREAD"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=SORT_KEY)
    unread = NumberAttribute(default=0)


def publish(sns: Any, topic_arn: str, notice: Notice) -> None:
    """Send a notice to the notices topic."""
    sns.publish(TopicArn=topic_arn, Message=notice.to_json(),
                MessageAttributes={"kind": {"DataType": "String", "StringValue": notice.kind}})


def file_in_inbox(notice: Notice) -> bool:
    """File the notice and count it unread, in one transaction; False when it was already
    filed (a repeated delivery: nothing is counted twice)."""
    record = InboxRecord(
        f"INBOX#{notice.recipient}", f"NOTICE#{notice.at}#{notice.notice_id}",
        notice_id=notice.notice_id, kind=notice.kind, title=notice.title, body=notice.body,
        application_id=notice.application_id, at=datetime.fromisoformat(notice.at),
    )
    counter = InboxCounter(record.pk, InboxCounter.SORT_KEY)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=InboxRecord.pk.does_not_exist())
            transaction.update(counter, actions=[InboxCounter.unread.add(1)])

    return write_if(write)


def inbox(recipient: str) -> list[InboxRecord]:
    """A recipient's notices, oldest first."""
    return list(InboxRecord.query(f"INBOX#{recipient}", InboxRecord.sk.startswith("NOTICE#")))
