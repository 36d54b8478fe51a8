"""并联审批 outcome: every department has decided; any rejection rejects, all must approve."""

from __future__ import annotations

from typing import Any

from yiwang.applications.tasks import review_outcome
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics

OUTCOME_METRICS = {"APPROVED": "Approved", "REJECTED": "Rejected",
                   "SUPPLEMENT": "ReviewSupplementRequested"}


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"applicationId","decisions":[{"taskId","department","decision"}]}`."""
    logger.set_correlation_id(event["applicationId"])
    outcome = review_outcome(event["applicationId"], event["decisions"])
    metrics.add_metric(name=OUTCOME_METRICS[outcome["outcome"]], unit=MetricUnit.Count, value=1)
    return outcome
