"""Files each notice from the notices queue (SNS → SQS) in its recipient's inbox (站内信)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from yiwang.people.notices import Notice, file_in_inbox
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


def file_record(record: SQSRecord) -> None:
    """One SQS message: an SNS envelope whose `Message` is the notice."""
    envelope = json.loads(record.body)
    notice = Notice.from_json(envelope["Message"] if "Message" in envelope else record.body)
    filed = file_in_inbox(notice)
    logger.info("notice filed" if filed else "notice already filed",
                extra={"noticeId": notice.notice_id, "kind": notice.kind})
    if filed:
        metrics.add_metric(name="NoticesFiled", unit=MetricUnit.Count, value=1)


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: an SQS batch. Failed messages are reported back for redelivery."""
    return process_partial_response(event=event, record_handler=file_record,
                                    processor=processor, context=context)
