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
from yiwang.people import notices, policy
from yiwang.people.access import ADMIN, SUPERVISOR, Caller
from yiwang.platform.errors import FieldError, ValidationFailed
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.regions import placement

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
    return _announced(clocks.sweep(now, rules(sfn)), now, sns, topic_arn)


SWEEP_BATCH = 50
"""Due clocks one invocation of the fanned-out check handles: each costs a few conditional
writes and two urge notices, some 20-50 ms on AWS, so a batch takes a few seconds, far inside
the function's timeout (60 s) even when the 17 shards' batches all run at once on one machine;
the state machine calls again with the batch's cursor while more are due (10,000 due: about
12 batches a shard, all shards in parallel)."""


def timeout_check_batch(now: datetime, partition: str, cursor: dict[str, Any] | None,
                        sfn: Any, sns: Any, topic_arn: str,
                        limit: int = SWEEP_BATCH) -> clocks.SweepReport:
    """One bounded batch of the sweep at `now` over one DueIndex shard (the state machine
    `timeout_check.asl.json` runs every shard's batches in parallel, each shard's in turn)."""
    report = clocks.sweep_batch(now, rules(sfn), partition, limit, cursor)
    return _announced(report, now, sns, topic_arn)


def _announced(report: clocks.SweepReport, now: datetime, sns: Any,
               topic_arn: str) -> clocks.SweepReport:
    for notice in report.notices:
        notices.publish(sns, topic_arn, notice)
    for name, value in (("ClocksDue", report.due), ("YellowCards", len(report.yellow)),
                        ("RedCards", len(report.red)), ("RulesFailed", len(report.failed))):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info("timeout check", extra={"now": now.isoformat(), **report.to_dict()})
    return report


def cards(caller: Caller, level: str | None) -> list[dict[str, Any]]:
    """`GET /supervision/cards`: the open cards (of a level), for administrators all, for a
    supervisor those on the cases of their region (the cases' regions read in one batch)."""
    caller.require(SUPERVISOR, ADMIN)
    if level is not None and level not in (clocks.YELLOW, clocks.RED):
        raise ValidationFailed([FieldError("level", "YELLOW or RED")])
    found = clocks.open_cards(level)
    if policy.scope_of(caller) is not None:
        regions = placement.regions_of(card.pk for card in found)
        found = [card for card in found if policy.in_scope(caller, [regions[card.pk]])]
    return [card.to_api() for card in found]
