"""并联审批 outcome: every department has decided; any rejection rejects, all must approve."""

from __future__ import annotations

from typing import Any

from yiwang.applications.tasks import on_the_spot_outcome, review_outcome
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics

OUTCOME_METRICS = {"APPROVED": "Approved", "REJECTED": "Rejected",
                   "SUPPLEMENT": "ReviewSupplementRequested"}


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"applicationId","decisions":[{"taskId","department","decision"}]}`, or
    `{"applicationId","onTheSpot":true}` after the window decided a 即办件 on the spot."""
    logger.set_correlation_id(event["applicationId"])
    if event.get("onTheSpot"):
        outcome = on_the_spot_outcome(event["applicationId"])
    else:
        outcome = review_outcome(event["applicationId"], event["decisions"])
    metrics.add_metric(name=OUTCOME_METRICS[outcome["outcome"]], unit=MetricUnit.Count, value=1)
    return outcome
