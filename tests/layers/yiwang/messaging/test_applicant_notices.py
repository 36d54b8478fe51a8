"""Notices derived from the audit trail, on the local cloud's table: one notice per event
however often the stream delivers it, the supplement list in full, and the SMS outbox's rules
(quiet hours, rate limit, retries, failures for operators, receipts).

The applications here are records written straight to the table in an applicant's name of
the test's own, so no other test's notices are in its inbox. The stream also brings the
audit records to the stack's notices function: that is one more delivery of the same record.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.data import PERMIT
from tests.support.polling import eventually
from yiwang.calendar.workdays import SHANGHAI

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=SHANGHAI)  # not quiet hours
MIDNIGHT = datetime(2026, 12, 2, 23, 30, tzinfo=SHANGHAI)


def applicant_code() -> str:
    return f"T{uuid.uuid4().hex[:17].upper()}"


def phone() -> str:
    return f"139{secrets.randbelow(10**8):08d}"


def application(code: str, mobile: str, **applicant: str) -> str:
    """A submitted construction-permit application in the name of `code`."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item

    identifier = f"YWTEST{uuid.uuid4().hex[:12].upper()}"
    now = datetime.now(UTC)
    ApplicationRecord(ApplicationRecord.key(identifier), "META", application_id=identifier,
                      status="NEEDS_SUPPLEMENT", item_code=PERMIT,
                      item_version=get_item(PERMIT).version, owner_sub="citizen-notices",
                      applicant={"kind": "PERSON", "name": "张三", "idNumber": code,
                                 "phone": mobile, **applicant},
                      submitted_at=now, created_at=now, gsi1pk=f"APPLICANT#{code}",
                      gsi1sk=now.isoformat()).save()
    return identifier


def stream_record(audit: Any) -> dict[str, Any]:
    """The stream's INSERT record of an audit record, as Lambda receives it."""
    image = audit.serialize()
    return {"eventName": "INSERT", "dynamodb": {
        "Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image,
        "SequenceNumber": "1"}}


MISSING = [{"materialId": "site-plan", "problem": "MISSING"},
           {"materialId": "fire-design", "reason": "图纸未加盖设计单位公章"},
           "land-documents"]


def test_a_redelivered_audit_record_sends_each_notice_once(table: None) -> None:
    from yiwang.applications.records import new_audit
    from yiwang.messaging import dispatch
    from yiwang.messaging.sms import SmsRecord
    from yiwang.people.inbox import unread_count
    from yiwang.people.notices import inbox

    code, mobile = applicant_code(), phone()
    identifier = application(code, mobile)
    audit = new_audit(identifier, "window-1", "PRE_REVIEW_SUPPLEMENT", "SUBMITTED",
                      "NEEDS_SUPPLEMENT", {"decision": "SUPPLEMENT", "opinion": "材料不全",
                                           "missing": MISSING})
    audit.save()  # the stream delivers it to the notices function as well
    first = dispatch.apply_stream_record(stream_record(audit))
    again = dispatch.apply_stream_record(stream_record(audit))
    assert (again.filed, again.queued) == (0, 0) and again.repeated == 2
    assert first.filed + first.queued <= 2

    notices = eventually(lambda: (found := inbox(f"APPLICANT#{code}")) and found)
    assert len(notices) == 1
    assert unread_count([f"APPLICANT#{code}"]) == 1
    notice = notices[0]
    assert (notice.kind, notice.application_id) == ("APPLICATION_SUPPLEMENT", identifier)
    # 一次性告知: every missing material, by name, with its reason, in the one notice.
    for name in ("建设工程设计方案总平面图", "消防设计文件", "图纸未加盖设计单位公章", "MISSING"):
        assert name in notice.body, (name, notice.body)
    assert "土地" in notice.body
    outbox = list(SmsRecord.scan((SmsRecord.phone == mobile) & SmsRecord.pk.startswith("SMS#")))
    assert len(outbox) == 1 and outbox[0].template == "SMS_APPLICATION_SUPPLEMENT"
    assert outbox[0].notice_id == notice.notice_id


def test_a_retried_step_sends_nothing_twice(table: None) -> None:
    """The step runs twice (a Lambda retry): the second move is a no-op that writes no audit
    record, so the stream brings one record and the applicant gets one notice."""
    from yiwang.applications import lifecycle
    from yiwang.applications.records import ApplicationRecord
    from yiwang.applications.status import Status
    from yiwang.people.notices import inbox

    code = applicant_code()
    identifier = application(code, phone())
    # Set, not moved through the status table (the steps are skipped); its list shard with it.
    ApplicationRecord.load(identifier).update(
        actions=ApplicationRecord.moved_to(Status.CERTIFICATE_ISSUED, identifier))
    for _ in range(2):
        lifecycle.transition(identifier, Status.READY_FOR_PICKUP, "system", "READY_FOR_PICKUP")
    filed = eventually(lambda: (found := inbox(f"APPLICANT#{code}")) and found)
    time.sleep(2)  # were a second notice coming, the stream would have brought it by now
    filed = inbox(f"APPLICANT#{code}")
    assert [n.kind for n in filed] == ["APPLICATION_READY_FOR_PICKUP"]


def test_an_agent_named_by_the_application_is_told_as_well(table: None) -> None:
    from yiwang.applications.records import new_audit
    from yiwang.messaging import derive

    code, agent = applicant_code(), applicant_code()
    identifier = application(code, phone(), agentIdNumber=agent, agentPhone="13700137000")
    audit = new_audit(identifier, "window-1", "PRE_REVIEW_NOT_ACCEPTED", "SUBMITTED",
                      "NOT_ACCEPTED", {"opinion": "不属于本机关职权范围"})
    deliveries = derive.deliveries_for(audit)
    assert {(d.channel, d.notice.recipient) for d in deliveries} == {
        ("inbox", f"APPLICANT#{code}"), ("sms", f"APPLICANT#{code}"),
        ("inbox", f"APPLICANT#{agent}"), ("sms", f"APPLICANT#{agent}")}
    assert all("不属于本机关职权范围" in d.notice.body for d in deliveries)
    assert len({d.notice.notice_id for d in deliveries if d.channel == "inbox"}) == 2
    # An event the catalogue does not name tells no one.
    quiet = new_audit(identifier, "system", "ATTACHMENT_COMPLETED", None, None)
    assert derive.deliveries_for(quiet) == []


# --- the SMS outbox -------------------------------------------------------------------------


class Provider:
    """A provider that answers as told: a message id, a refusal, or no answer."""

    def __init__(self, answer: Exception | None = None) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str, str]] = []

    def send(self, reference: str, number: str, template: str,
             variables: dict[str, str]) -> str:
        if self.answer:
            raise self.answer
        self.sent.append((reference, number, template))
        return f"M-{reference}"


def queued(number: str, now: datetime) -> Any:
    from yiwang.messaging import sms
    from yiwang.messaging.derive import Delivery
    from yiwang.people.notices import Notice

    notice = Notice("APPLICANT#X", "APPLICATION_READY_FOR_PICKUP", "t", "b", "YW1",
                    notice_id=uuid.uuid4().hex)
    delivery = Delivery(notice, "sms", number, "SMS_APPLICATION_PICKUP",
                        {"applicationId": "YW1", "itemName": "许可"})
    assert sms.enqueue(delivery, now) is True
    assert sms.enqueue(delivery, now) is False  # once per notice
    return sms.load(notice.notice_id)


def test_quiet_hours_hold_a_message_until_eight(table: None) -> None:
    from yiwang.messaging import sms

    provider = Provider()
    record = queued(phone(), MIDNIGHT)
    assert record.send_after == (MIDNIGHT.replace(hour=8, minute=0) + timedelta(days=1)).astimezone(
        UTC).isoformat()
    assert record.notice_id not in {r.notice_id for r in sms.due(MIDNIGHT, 1000)}
    assert sms.attempt(record, provider, MIDNIGHT) == "HELD" and provider.sent == []
    morning = MIDNIGHT.replace(hour=8, minute=1) + timedelta(days=1)
    assert sms.attempt(sms.load(record.notice_id), provider, morning) == "SENT"
    assert provider.sent == [(record.notice_id, record.phone, "SMS_APPLICATION_PICKUP")]
    assert sms.load(record.notice_id).status == "SENT"


def test_a_number_gets_at_most_five_messages_an_hour(table: None) -> None:
    from yiwang.messaging import sms

    provider, number = Provider(), phone()
    outcomes = [sms.attempt(queued(number, NOON), provider, NOON) for _ in range(6)]
    assert outcomes == ["SENT"] * sms.RATE_PER_HOUR + ["RATE_LIMITED"]
    held = [r for r in sms.due(NOON + timedelta(hours=1), 1000) if r.phone == number]
    assert len(held) == 1 and held[0].send_after == (NOON + timedelta(hours=1)).astimezone(
        UTC).isoformat()
    assert sms.attempt(held[0], provider, NOON + timedelta(hours=1)) == "SENT"


def test_a_stale_copy_of_a_sent_message_never_sends_it_again(table: None) -> None:
    """The sweep reads due messages from the list index, which may lag behind the table."""
    from yiwang.messaging import sms

    provider = Provider()
    record = queued(phone(), NOON)
    stale = sms.load(record.notice_id)
    assert sms.attempt(record, provider, NOON) == "SENT"
    assert sms.attempt(stale, provider, NOON) == "CLAIMED_ELSEWHERE"
    sms.attempt(stale, provider, MIDNIGHT)  # quiet hours: held only if still queued
    assert sms.load(record.notice_id).status == "SENT" and len(provider.sent) == 1


def test_failures_are_retried_then_shown_to_operators(table: None) -> None:
    from yiwang.messaging import sms
    from yiwang.messaging.sms_provider import SmsRefused, SmsUnavailable

    record = queued(phone(), NOON)
    down = Provider(SmsUnavailable("HTTP 503"))
    moment = NOON
    for attempt in range(1, sms.MAX_ATTEMPTS):
        assert sms.attempt(sms.load(record.notice_id), down, moment) == "RETRY"
        assert int(sms.load(record.notice_id).attempts) == attempt
        moment += timedelta(minutes=30)
    assert sms.attempt(sms.load(record.notice_id), down, moment) == "FAILED"
    assert record.notice_id in {r.notice_id for r in sms.failed(1000)}

    refused = queued(phone(), NOON)
    unregistered = Provider(SmsRefused("TEMPLATE_NOT_REGISTERED", "no such template"))
    assert sms.attempt(refused, unregistered, NOON) == "FAILED"  # at once: no retry helps
    failed = sms.load(refused.notice_id)
    assert failed.status == "FAILED" and "TEMPLATE_NOT_REGISTERED" in failed.error


def test_a_receipt_settles_the_message_once(table: None) -> None:
    from yiwang.messaging import sms

    record = queued(phone(), NOON)
    assert sms.attempt(record, Provider(), NOON) == "SENT"
    wrong = {"reference": record.notice_id, "messageId": "M-other", "status": "FAILED"}
    assert sms.receipt(wrong).status == "SENT"  # not this message's id: nothing changes
    good = {"reference": record.notice_id, "messageId": f"M-{record.notice_id}",
            "status": "DELIVERED"}
    assert sms.receipt(good).status == "DELIVERED"
    assert sms.receipt({**good, "status": "FAILED"}).status == "DELIVERED"
    with pytest.raises(Exception, match="no message"):
        sms.receipt({**good, "reference": "nope"})
