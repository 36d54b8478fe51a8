"""短信: the SMS outbox. A notice for the SMS channel is queued once (on its notice id), then
sent through the provider (`yiwang.messaging.sms_provider`) when the rules allow:

- quiet hours (免打扰): nothing is sent 22:00-08:00 Beijing time; a message queued then is held
  and sent from 08:00;
- a rate limit per mobile number: at most `RATE_PER_HOUR` messages in one clock hour; more
  wait for the next hour;
- a provider that does not answer is tried again (backoff) up to `MAX_ATTEMPTS` times; a
  message it refuses (unregistered template, missing variable) fails at once. Failed messages
  are listed for operators (`GET /sms/failed`) and counted (`SmsFailed` metric);
- the provider's delivery receipt (signed callback, `POST /webhooks/sms`) records DELIVERED or
  FAILED.

Two senders (the notices function right after queueing, the scheduled sweep) may reach the
same message: each claims it first (a conditional update), so it is sent once.

Access patterns:
- a message by notice id (receipts carry it as their reference): pk=`SMS#<id>`, sk=`META`;
- messages due, oldest first (the sweep): ListIndex gsi1pk=`SMS#QUEUED`, gsi1sk=`<due>#<id>`;
- failed messages, newest first (operators): ListIndex gsi1pk=`SMS#FAILED`, gsi1sk=`<at>#<id>`;
- a number's count in one hour: pk=`SMSRATE#<phone>`, sk=`<yyyymmddHH>` (expires by TTL).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from itertools import islice
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from yiwang.calendar.workdays import SHANGHAI, local_time
from yiwang.messaging.sms_provider import (
    SmsProvider,
    SmsRefused,
    SmsUnavailable,
    provider_from_settings,
)
from yiwang.people import policy
from yiwang.people.access import Caller
from yiwang.platform.config import ConfigurationError
from yiwang.platform.errors import NotFound
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.table.records import ListIndex, TableMeta
from yiwang.table.writes import write_if

QUIET_FROM, QUIET_UNTIL = time(22, 0), time(8, 0)
"""免打扰: Beijing time; a message is never sent in between."""
RATE_PER_HOUR = 5
"""Messages to one mobile number in one clock hour, at most."""
MAX_ATTEMPTS = 5
"""Tries before a message the provider would not take is given up (and shown to operators)."""
RETRY_BASE = timedelta(minutes=1)
CLAIM = timedelta(minutes=2)
"""How long a sender holds a message it is sending (a crashed sender's claim then lapses)."""
QUEUED_PARTITION, FAILED_PARTITION = "SMS#QUEUED", "SMS#FAILED"


class SmsStatus(StrEnum):
    QUEUED = "QUEUED"
    """Waiting to be sent (held by quiet hours or the rate limit, or to be tried again)."""
    SENDING = "SENDING"
    SENT = "SENT"
    """The provider took it; its receipt is awaited."""
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class SmsRecord(Model):
    """One SMS: to whom, which template with which values, and how sending it went."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    notice_id = UnicodeAttribute(attr_name="noticeId")
    kind = UnicodeAttribute()
    phone = UnicodeAttribute()
    template = UnicodeAttribute()
    variables = JSONAttribute()
    application_id = UnicodeAttribute(attr_name="applicationId", null=True)
    region = UnicodeAttribute(null=True)
    """属地 of the record the message is about (None: made before regions, the default)."""
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    send_after = UnicodeAttribute(attr_name="sendAfter")
    claimed_until = UnicodeAttribute(attr_name="claimedUntil", null=True)
    message_id = UnicodeAttribute(attr_name="messageId", null=True)
    error = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_list = ListIndex()

    @staticmethod
    def key(notice_id: str) -> str:
        return f"SMS#{notice_id}"

    def to_api(self) -> dict[str, Any]:
        """A message as operators see it (the number masked but for its last four digits)."""
        return {"noticeId": self.notice_id, "kind": self.kind,
                "phone": "*******" + self.phone[-4:], "template": self.template,
                "applicationId": self.application_id, "region": self.region,
                "status": self.status,
                "attempts": int(self.attempts or 0), "error": self.error,
                "createdAt": self.created_at, "updatedAt": self.updated_at}


class SmsRate(Model):
    """How many messages one number was sent in one clock hour."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    sent = NumberAttribute(default=0)
    expires_at = NumberAttribute(attr_name="expiresAt")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def quiet(moment: datetime) -> bool:
    """Whether `moment` falls in quiet hours (Beijing time)."""
    clock = moment.astimezone(SHANGHAI).time()
    return clock >= QUIET_FROM or clock < QUIET_UNTIL


def next_allowed(moment: datetime) -> datetime:
    """`moment`, or the end of the quiet hours it falls in (08:00 Beijing time)."""
    if not quiet(moment):
        return moment
    local = moment.astimezone(SHANGHAI)
    day = local.date() + timedelta(days=1) if local.time() >= QUIET_FROM else local.date()
    return datetime.combine(day, QUIET_UNTIL, tzinfo=SHANGHAI).astimezone(UTC)


def enqueue(delivery: Any, now: datetime | None = None) -> bool:
    """Queue one SMS delivery (`yiwang.messaging.derive.Delivery`); False if it was queued
    before (a redelivered stream record)."""
    now = now or datetime.now(UTC)
    due = _iso(next_allowed(now))
    notice = delivery.notice
    record = SmsRecord(
        SmsRecord.key(notice.notice_id), "META", notice_id=notice.notice_id, kind=notice.kind,
        phone=delivery.phone, template=delivery.sms_template, variables=delivery.sms_variables,
        application_id=notice.application_id, region=delivery.region,
        status=SmsStatus.QUEUED.value, attempts=0,
        send_after=due, created_at=_iso(now), updated_at=_iso(now),
        gsi1pk=QUEUED_PARTITION, gsi1sk=f"{due}#{notice.notice_id}")
    queued = write_if(lambda: record.save(condition=SmsRecord.pk.does_not_exist()))
    if queued and due != _iso(now):
        logger.info("sms held for quiet hours", extra={"noticeId": notice.notice_id,
                                                       "sendAfter": local_time(
                                                           datetime.fromisoformat(due))})
    return queued


def due(now: datetime, limit: int = 50) -> list[SmsRecord]:
    """Queued messages whose time has come, oldest first."""
    return list(SmsRecord.by_list.query(QUEUED_PARTITION,
                                        SmsRecord.gsi1sk <= f"{_iso(now)}#~", limit=limit))


def send_due(provider: SmsProvider, now: datetime | None = None, limit: int = 50) -> dict:
    """Send every message that is due (quiet hours and rate limits permitting); what became
    of them, by outcome."""
    now = now or datetime.now(UTC)
    outcomes: dict[str, int] = {}
    for record in due(now, limit):
        outcome = attempt(record, provider, now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def send_due_quietly(now: datetime | None = None) -> dict:
    """`send_due` with the configured provider; without one, messages stay queued (logged)."""
    try:
        provider = provider_from_settings()
    except ConfigurationError as missing:
        logger.error("sms not sent: no provider", extra={"error": str(missing)})
        return {}
    return send_due(provider, now)


def attempt(record: SmsRecord, provider: SmsProvider, now: datetime) -> str:
    """Try to send one queued message: HELD (quiet hours), CLAIMED_ELSEWHERE, RATE_LIMITED,
    SENT, RETRY or FAILED."""
    if quiet(now):
        # Read from the list index, which may lag: only a message still queued is moved on
        # (one another sender has just sent must not be queued again).
        _requeue(record, next_allowed(now), now, attempts=int(record.attempts or 0),
                 condition=SmsRecord.status == SmsStatus.QUEUED.value)
        return "HELD"
    if not _claim(record, now):
        return "CLAIMED_ELSEWHERE"
    if not _take_slot(record.phone, now):
        hour = now.astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0)
        _requeue(record, next_allowed(hour + timedelta(hours=1)), now,
                 attempts=int(record.attempts or 0))
        metrics.add_metric(name="SmsRateLimited", unit=MetricUnit.Count, value=1)
        return "RATE_LIMITED"
    attempts = int(record.attempts or 0) + 1
    try:
        message_id = provider.send(record.notice_id, record.phone, record.template,
                                   dict(record.variables or {}))
    except SmsRefused as refused:
        _fail(record, now, attempts, str(refused))
        return "FAILED"
    except SmsUnavailable as unavailable:
        if attempts >= MAX_ATTEMPTS:
            _fail(record, now, attempts, str(unavailable))
            return "FAILED"
        _requeue(record, next_allowed(now + RETRY_BASE * 2 ** (attempts - 1)), now,
                 attempts=attempts, error=str(unavailable))
        return "RETRY"
    _set(record, now, [SmsRecord.status.set(SmsStatus.SENT.value),
                       SmsRecord.attempts.set(attempts), SmsRecord.message_id.set(message_id),
                       SmsRecord.gsi1pk.set(f"SMS#{SmsStatus.SENT.value}"),
                       SmsRecord.gsi1sk.set(f"{_iso(now)}#{record.notice_id}"),
                       SmsRecord.claimed_until.remove()])
    metrics.add_metric(name="SmsSent", unit=MetricUnit.Count, value=1)
    return "SENT"


def _claim(record: SmsRecord, now: datetime) -> bool:
    """The message is this sender's for `CLAIM`: only if it is queued, or claimed by a sender
    whose claim has lapsed."""
    lapsed = (SmsRecord.status == SmsStatus.SENDING.value) & (SmsRecord.claimed_until < _iso(now))
    return write_if(lambda: record.update(
        actions=[SmsRecord.status.set(SmsStatus.SENDING.value),
                 SmsRecord.claimed_until.set(_iso(now + CLAIM)),
                 SmsRecord.gsi1sk.set(f"{_iso(now + CLAIM)}#{record.notice_id}")],
        condition=(SmsRecord.status == SmsStatus.QUEUED.value) | lapsed))


def _take_slot(phone: str, now: datetime) -> bool:
    """One of the number's messages this hour, if it has one left (atomic: concurrent senders
    never exceed the limit)."""
    hour = now.astimezone(SHANGHAI)
    slot = SmsRate(f"SMSRATE#{phone}", f"{hour:%Y%m%d%H}")
    expires = int((now + timedelta(days=2)).timestamp())
    return write_if(lambda: slot.update(
        actions=[SmsRate.sent.add(1), SmsRate.expires_at.set(expires)],
        condition=SmsRate.sent.does_not_exist() | (SmsRate.sent < RATE_PER_HOUR)))


def _requeue(record: SmsRecord, when: datetime, now: datetime, *, attempts: int,
             error: str | None = None, condition: Any = None) -> None:
    actions = [SmsRecord.status.set(SmsStatus.QUEUED.value), SmsRecord.attempts.set(attempts),
               SmsRecord.send_after.set(_iso(when)), SmsRecord.gsi1pk.set(QUEUED_PARTITION),
               SmsRecord.gsi1sk.set(f"{_iso(when)}#{record.notice_id}"),
               SmsRecord.claimed_until.remove()]
    if error:
        actions.append(SmsRecord.error.set(error[:500]))
    _set(record, now, actions, condition)


def _fail(record: SmsRecord, now: datetime, attempts: int, error: str) -> None:
    _set(record, now, [SmsRecord.status.set(SmsStatus.FAILED.value),
                       SmsRecord.attempts.set(attempts), SmsRecord.error.set(error[:500]),
                       SmsRecord.gsi1pk.set(FAILED_PARTITION),
                       SmsRecord.gsi1sk.set(f"{_iso(now)}#{record.notice_id}"),
                       SmsRecord.claimed_until.remove()])
    metrics.add_metric(name="SmsFailed", unit=MetricUnit.Count, value=1)
    logger.error("sms failed", extra={"noticeId": record.notice_id, "error": error})


def _set(record: SmsRecord, now: datetime, actions: list[Any], condition: Any = None) -> bool:
    """Update the message; False if `condition` no longer held (nothing changed)."""
    return write_if(lambda: record.update(
        actions=[*actions, SmsRecord.updated_at.set(_iso(now))], condition=condition))


def load(notice_id: str) -> SmsRecord:
    try:
        return SmsRecord.get(SmsRecord.key(notice_id), "META", consistent_read=True)
    except SmsRecord.DoesNotExist as missing:
        raise NotFound(f"no message {notice_id}") from missing


RECEIPT_STATUSES = {"DELIVERED": SmsStatus.DELIVERED, "FAILED": SmsStatus.FAILED}
_RECEIPT = {"type": "object", "required": ["reference", "messageId", "status"],
            "maxProperties": 8,
            "properties": {"reference": {"type": "string", "minLength": 1, "maxLength": 128},
                           "messageId": {"type": "string", "minLength": 1, "maxLength": 128},
                           "status": {"enum": sorted(RECEIPT_STATUSES)},
                           "error": {"type": "string", "maxLength": 500},
                           "at": {"type": "string", "maxLength": 64}}}


def receipt(payload: Any, now: datetime | None = None) -> SmsRecord:
    """A verified delivery receipt: the message (by its reference, the notice id) becomes
    DELIVERED or FAILED. A receipt for another message id, or for a message already settled
    by a receipt, changes nothing (receipts are delivered at least once)."""
    from yiwang.platform.errors import ValidationFailed
    from yiwang.platform.validation import errors

    problems = errors(_RECEIPT, payload)
    if problems:
        raise ValidationFailed(problems)
    now = now or datetime.now(UTC)
    record = load(payload["reference"])
    target = RECEIPT_STATUSES[payload["status"]]
    if record.message_id != payload["messageId"] or record.status != SmsStatus.SENT.value:
        return record
    actions = [SmsRecord.status.set(target.value)]
    if target == SmsStatus.FAILED:
        actions += [SmsRecord.error.set(str(payload.get("error") or "undelivered")[:500]),
                    SmsRecord.gsi1pk.set(FAILED_PARTITION),
                    SmsRecord.gsi1sk.set(f"{_iso(now)}#{record.notice_id}")]
        metrics.add_metric(name="SmsFailed", unit=MetricUnit.Count, value=1)
    else:
        actions += [SmsRecord.gsi1pk.set(f"SMS#{target.value}")]
    write_if(lambda: record.update(
        actions=[*actions, SmsRecord.updated_at.set(_iso(now))],
        condition=SmsRecord.status == SmsStatus.SENT.value))
    return load(payload["reference"])


def failed(limit: int = 50, caller: Caller | None = None) -> list[SmsRecord]:
    """Failed messages, newest first, for operators to follow up by other means; a
    supervisor's are those about records of their region and below (`policy.in_scope`,
    filtered as the list is read), None for every one."""
    query = SmsRecord.by_list.query(FAILED_PARTITION, scan_index_forward=False,
                                    page_size=limit)
    if caller is not None:
        query = (record for record in query if policy.in_scope(caller, [record.region]))
    return list(islice(query, limit))
