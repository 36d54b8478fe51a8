"""电子监察 timeout check: the scheduled sweep over the clocks that are due.

"Now" is the scheduled event's `time`, so a test moves time by sending an event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yiwang.clocks import due_clocks
from yiwang.observability import MetricUnit, lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: an EventBridge scheduled event. Returns how many clocks were due."""
    now = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    due = list(due_clocks(now))
    logger.info("timeout check", extra={"now": now.isoformat(), "due": len(due)})
    metrics.add_metric(name="ClocksDue", unit=MetricUnit.Count, value=len(due))
    return {"now": now.isoformat(), "due": len(due)}
