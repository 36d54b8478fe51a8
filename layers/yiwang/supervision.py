"""电子监察: the timeout check's automatic rules, and the supervisors' view of the cards.

The rules live with the step they act on (`tasks.auto_accept`, `payments.expire`,
complaints' deemed acceptance...); this module names them for the sweep, so a clock only
stores a rule's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yiwang import clocks, notices
from yiwang.access import ADMIN, SUPERVISOR, Caller
from yiwang.errors import FieldError, ValidationFailed
from yiwang.observability import MetricUnit, logger, metrics


def rules(sfn: Any) -> dict[str, clocks.Action]:
    """Every automatic rule by the name a clock stores, bound to the clients it needs."""
    # Imported here: each rule pulls in its step's module, which the sweep needs only when a
    # deadline with that rule has passed.
    from yiwang import complaints, payments, tasks

    return {
        tasks.AUTO_ACCEPT: lambda clock, now: tasks.auto_accept(clock, now, sfn),
        payments.EXPIRE_PAYMENT: lambda clock, now: payments.expire(clock, now, sfn),
        complaints.DEEM_ACCEPTED: lambda clock, now: complaints.deem_accepted(clock, now, sfn),
    }


def timeout_check(now: datetime, sfn: Any, sns: Any, topic_arn: str) -> clocks.SweepReport:
    """One sweep at `now`: cards, urge notices (催办) to the departments and supervisors, and
    the automatic rules of the clocks that are due."""
    report = clocks.sweep(now, rules(sfn))
    for notice in report.notices:
        notices.publish(sns, topic_arn, notice)
    for name, value in (("ClocksDue", report.due), ("YellowCards", len(report.yellow)),
                        ("RedCards", len(report.red)), ("RulesFailed", len(report.failed))):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info("timeout check", extra={"now": now.isoformat(), **report.to_dict()})
    return report


def cards(caller: Caller, level: str | None) -> list[dict[str, Any]]:
    """`GET /supervision/cards`: the open cards (of a level), for supervisors."""
    caller.require(SUPERVISOR, ADMIN)
    if level is not None and level not in (clocks.YELLOW, clocks.RED):
        raise ValidationFailed([FieldError("level", "YELLOW or RED")])
    return [card.to_api() for card in clocks.open_cards(level)]
