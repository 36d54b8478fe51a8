"""预审 step of the application lifecycle: run the automatic checks on one application."""

from __future__ import annotations

from typing import Any

from yiwang.applications.prereview import automatic_checks
from yiwang.applications.records import ApplicationRecord
from yiwang.catalogue.items import get_item
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"applicationId"}`. Returns `{"outcome": "PASSED"|"DEFECTS", "defects": [...],
    "departments": [...], "escalated": bool}` (the departments that review it in parallel,
    lead first; whether it is a 上报件, sent up to them after acceptance)."""
    logger.set_correlation_id(event["applicationId"])
    application = ApplicationRecord.load(event["applicationId"])
    result = automatic_checks(application)
    metrics.add_metric(name=f"PreReview{result.outcome.title()}", unit=MetricUnit.Count, value=1)
    item = get_item(application.item_code, int(application.item_version))
    return {"outcome": result.outcome, "defects": result.defects,
            "departments": list(item.departments),
            "escalated": bool(application.escalation)}
