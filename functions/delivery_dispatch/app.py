"""物流/送达 step of the application lifecycle: after the certificate is issued, dispatch it by
courier or make it ready for pickup, and leave the execution waiting on its task token.

The state machine calls this as a `lambda:invoke.waitForTaskToken` Task; the execution resumes
when the courier's webhook reports DELIVERED, or when window staff record the collection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from yiwang.applications.records import ApplicationRecord
from yiwang.applications.status import Status
from yiwang.fulfilment import couriers, delivery
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"applicationId","taskToken"}`. Returns `{"applicationId","method","status",
    "waybillNo"?}` (the execution's output comes later, with the task token)."""
    application_id = event["applicationId"]
    logger.set_correlation_id(application_id)
    now = datetime.now(UTC)
    method = (ApplicationRecord.load(application_id).delivery or {}).get("method")
    if method == delivery.COURIER:
        shipment = delivery.dispatch(application_id, event["taskToken"],
                                     couriers.courier_from_settings(), now)
        metrics.add_metric(name="Dispatched", unit=MetricUnit.Count, value=1)
        return {"applicationId": application_id, "method": method, "status": Status.DISPATCHED,
                "waybillNo": shipment.waybill_no}
    delivery.ready_for_pickup(application_id, event["taskToken"], now)
    metrics.add_metric(name="ReadyForPickup", unit=MetricUnit.Count, value=1)
    return {"applicationId": application_id, "method": method, "status": Status.READY_FOR_PICKUP}
