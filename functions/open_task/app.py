"""Opens the human step the execution waits on (受理, 并联审批, 补正) with its task token."""

from __future__ import annotations

from typing import Any

from yiwang.applications.tasks import open_task
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"applicationId","kind","department","round","taskToken","context"?}`."""
    logger.set_correlation_id(event["applicationId"])
    task = open_task(event["applicationId"], event["kind"], event["department"],
                     int(event["round"]), event["taskToken"], event.get("context"))
    metrics.add_metric(name=f"TasksOpened{event['kind'].title().replace('_', '')}",
                       unit=MetricUnit.Count, value=1)
    return {"taskId": task.task_id}
