"""告知: tells applicants, agents, complainants and raters of every step that concerns them,
from the table's stream.

The event source mapping delivers only new audit records (its filter), in order per
partition. Each record's notices are filed and queued once (`yiwang.messaging.dispatch`: the
notice ids come from the audit record, so a redelivered record sends nothing again). At the
first failure the handler stops and reports that record, so Lambda retries from it
(ReportBatchItemFailures); then the SMS queued are sent (`yiwang.messaging.sms.send_due`:
quiet hours and rate limits hold some for later; the scheduled sweep sends those).
"""

from __future__ import annotations

from typing import Any

from yiwang.messaging import dispatch
from yiwang.platform.observability import lambda_entry, logger


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: a batch of DynamoDB stream records. Returns the batch item failures (at most
    the first record that failed)."""
    queued = 0
    for record in event.get("Records", []):
        try:
            queued += dispatch.apply_stream_record(record).queued
        except Exception:
            logger.exception("notices: record not applied", extra={
                "sequenceNumber": record["dynamodb"]["SequenceNumber"]})
            return {"batchItemFailures": [
                {"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
    if queued:
        _send_now()
    return {"batchItemFailures": []}


def _send_now() -> None:
    """Send what was just queued (and anything else due). The notices are already filed and
    queued: a failure here is the sweep's to make good, never a reason to replay the batch."""
    from yiwang.messaging import sms

    try:
        sms.send_due_quietly()
    except Exception:
        logger.exception("sms: sending after queueing failed; the sweep sends them")
