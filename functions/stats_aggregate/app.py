"""统计: keeps the application statistics up to date from the table's stream.

The event source mapping delivers only new audit records (its filter), in order per
partition. Each is applied exactly once (`yiwang.stats.aggregates.apply_stream_record`); at
the first failure the handler stops and reports that record, so Lambda retries from it and
nothing after it is applied out of order (ReportBatchItemFailures).
"""

from __future__ import annotations

from typing import Any

from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics
from yiwang.stats import aggregates


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: a batch of DynamoDB stream records. Returns the batch item failures (at most
    the first record that failed)."""
    applied = 0
    try:
        for record in event.get("Records", []):
            try:
                applied += aggregates.apply_stream_record(record)
            except Exception:
                logger.exception("statistics: record not applied", extra={
                    "sequenceNumber": record["dynamodb"]["SequenceNumber"]})
                return {"batchItemFailures": [
                    {"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
    finally:
        metrics.add_metric(name="StatsEventsApplied", unit=MetricUnit.Count, value=applied)
    return {"batchItemFailures": []}
