"""From the table's stream to the people concerned: each new audit record's notices
(`yiwang.messaging.derive`) filed in their inboxes (站内信) and queued for SMS
(`yiwang.messaging.sms`), each once however often the stream delivers the record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yiwang.applications.records import ApplicationRecord
from yiwang.messaging import derive
from yiwang.messaging.catalogue import INBOX, SMS
from yiwang.people.notices import file_in_inbox
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.table.records import AuditRecord


@dataclass
class Tally:
    """What one stream record did: notices filed, SMS queued, and those already done."""

    filed: int = 0
    queued: int = 0
    repeated: int = 0


def audit_of(record: dict[str, Any]) -> AuditRecord | None:
    """The audit record a stream record inserted, else None (the stream's filter passes only
    those, but a record of another kind must change nothing either)."""
    image = (record.get("dynamodb") or {}).get("NewImage")
    if record.get("eventName") != "INSERT" or not image or \
            not str(image.get("sk", {}).get("S", "")).startswith(AuditRecord.SORT_PREFIX):
        return None
    return AuditRecord.from_raw_data(image)


def apply_stream_record(record: dict[str, Any]) -> Tally:
    """File and queue the notices of one stream record. Safe to repeat."""
    tally = Tally()
    audit = audit_of(record)
    if audit is None:
        return tally
    if audit.pk.startswith(ApplicationRecord.PARTITION_PREFIX) and \
            audit.to_status != audit.from_status:
        # 一件事一次办: a move of an application of a theme may be a step of the theme.
        from yiwang.themes import progress

        progress.on_application_audit(audit.pk[len(ApplicationRecord.PARTITION_PREFIX):],
                                      audit.to_status, audit.event)
    for delivery in derive.deliveries_for(audit):
        if delivery.channel == INBOX:
            done = file_in_inbox(delivery.notice)
            tally.filed += done
        elif delivery.channel == SMS:
            from yiwang.messaging import sms

            done = sms.enqueue(delivery)
            tally.queued += done
        else:  # the catalogue's schema allows no other channel
            continue
        tally.repeated += not done
    if tally.filed or tally.queued:
        logger.info("notices sent", extra={"audit": audit.sk, "event": audit.event,
                                           "filed": tally.filed, "queued": tally.queued})
    metrics.add_metric(name="ApplicantNoticesFiled", unit=MetricUnit.Count, value=tally.filed)
    return tally
