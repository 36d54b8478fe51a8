"""电子监察: the timeout check's automatic rules, and the supervisors' view of the cards.

The rules live with the step they act on (`tasks.auto_accept`, `payments.expire`,
complaints' deemed acceptance...); this module names them for the sweep, so a clock only
stores a rule's name.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from yiwang.deadlines import clocks
from yiwang.people import notices
from yiwang.people.access import ADMIN, SUPERVISOR, Caller
from yiwang.platform.errors import FieldError, ValidationFailed
from yiwang.platform.observability import MetricUnit, logger, metrics

RULES = {
    "AUTO_ACCEPT": ("yiwang.applications.tasks", "auto_accept"),  # tasks.AUTO_ACCEPT
    "EXPIRE_PAYMENT": ("yiwang.fulfilment.payments", "expire"),  # payments.EXPIRE_PAYMENT
    # complaints.steps.DEEM_ACCEPTED
    "DEEM_COMPLAINT_ACCEPTED": ("yiwang.complaints.steps", "deem_accepted"),
    # commitments.EXPIRE_COMMITMENT: a 容缺 commitment ran out, the case is suspended
    "EXPIRE_COMMITMENT": ("yiwang.applications.commitments", "expire"),
}
"""Each automatic rule by the name a clock stores: the step's module and function that run it
(`function(clock, now, sfn)`)."""


def rules(sfn: Any) -> dict[str, clocks.Action]:
    """Every automatic rule by the name a clock stores, bound to the clients it needs."""
    # A rule's module is imported when the rule first runs: each pulls in its step (tasks,
    # payments, complaints, and the catalogue...), which a sweep needs only when a deadline
    # with that rule has passed.
    def bound(module: str, function: str) -> clocks.Action:
        return lambda clock, now: getattr(importlib.import_module(module), function)(
            clock, now, sfn)

    return {name: bound(module, function) for name, (module, function) in RULES.items()}


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
