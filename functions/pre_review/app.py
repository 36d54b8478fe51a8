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
    "departments": [...], "escalatedFrom": region | null}` (the departments that review it in
    parallel, lead first; for a 上报件, sent up to them after acceptance, the accepting region
    whose window alone accepts it)."""
    logger.set_correlation_id(event["applicationId"])
    application = ApplicationRecord.load(event["applicationId"])
    result = automatic_checks(application)
    metrics.add_metric(name=f"PreReview{result.outcome.title()}", unit=MetricUnit.Count, value=1)
    item = get_item(application.item_code, int(application.item_version))
    return {"outcome": result.outcome, "defects": result.defects,
            "departments": list(item.departments),
            "escalatedFrom": (application.escalation or {}).get("acceptingRegion")}
