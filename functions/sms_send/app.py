"""短信: the scheduled sweep that sends the SMS that are due: held by quiet hours or a rate
limit, or to be tried again after the provider did not answer (`yiwang.messaging.sms`)."""

from __future__ import annotations

from typing import Any

from yiwang.messaging import sms
from yiwang.platform.observability import lambda_entry, logger


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Event: the schedule's (its time is not needed: due is due now). What became of the
    messages, by outcome."""
    outcomes = sms.send_due_quietly()
    if outcomes:
        logger.info("sms sweep", extra={"outcomes": outcomes})
    return outcomes
