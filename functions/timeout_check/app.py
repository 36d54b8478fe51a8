"""电子监察 timeout check: the scheduled sweep over the clocks that are due.

"Now" is the scheduled event's `time`, so a test moves time by sending an event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yiwang.platform.clients import client
from yiwang.platform.config import settings
from yiwang.platform.observability import lambda_entry
from yiwang.supervision import rules


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: an EventBridge scheduled event. Returns what the sweep did (counts and names)."""
    now = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    report = rules.timeout_check(now, client("stepfunctions"), client("sns"),
                                       settings().require("notices_topic_arn"))
    return {"now": now.isoformat(), **report.to_dict()}
