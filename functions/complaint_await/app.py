"""投诉建议: the step a complaint lifecycle execution waits at (签收/退回, 改派, 办理, 回访,
督办结论).

Keeps the step's task token until someone moves the complaint on (or completes it at once when
someone already has), and tells whoever must act (站内信).
"""

from __future__ import annotations

from typing import Any

from yiwang.complaints import steps
from yiwang.people import notices
from yiwang.platform.clients import client
from yiwang.platform.config import settings
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"complaintId","step","round","taskToken"}`, `step` one of ACCEPTANCE, REROUTE,
    HANDLING, REVISIT, CONCLUSION. Returns whether the execution now waits there."""
    logger.set_correlation_id(event["complaintId"])
    opened = steps.open_step(event["complaintId"], event["step"], int(event["round"]),
                             event["taskToken"], client("stepfunctions"))
    if opened.notices:
        topic = settings().require("notices_topic_arn")
        for notice in opened.notices:
            notices.publish(client("sns"), topic, notice)
    metrics.add_metric(name="ComplaintStepsOpened", unit=MetricUnit.Count, value=1)
    return {"step": opened.step, "waiting": opened.waiting, "notices": len(opened.notices)}
