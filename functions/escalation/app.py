"""上报/下发 steps of the application lifecycle for a 上报件: send the accepted case up to the
higher level's departments, and bring their result back down to the accepting level."""

from __future__ import annotations

from typing import Any

from yiwang.applications import escalation
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics

HOP_METRICS = {"UP": "EscalatedUp", "DOWN": "ReturnedDown"}


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"applicationId","direction":"UP","round"}` after the window's acceptance, or
    `{"applicationId","direction":"DOWN","certificateNumber"?}` after the higher level's
    certificate (or refusal). Returns `{"escalated", "at"?, "hops"?}`."""
    application_id = event["applicationId"]
    logger.set_correlation_id(application_id)
    if event["direction"] == "UP":
        answer = escalation.send_up(application_id, int(event.get("round") or 1))
    else:
        answer = escalation.send_down(application_id, event.get("certificateNumber"))
    metrics.add_metric(name=HOP_METRICS[event["direction"]], unit=MetricUnit.Count, value=1)
    return answer
