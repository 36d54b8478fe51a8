"""Fires EventBridge schedule rules at their targets, as EventBridge does on AWS.

moto stores rules and targets but never fires them. This reads them through the EventBridge
API of the cloud it serves, works out when each `rate()` or `cron()` rule is next due, and
delivers the scheduled event to each target: Lambda functions (asynchronous Invoke) and
state machines (StartExecution).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleExpressionError(ValueError):
    """A schedule expression EventBridge would refuse."""


def next_fire(expression: str, after: datetime) -> datetime:
    """The first time strictly after `after` (UTC) at which the expression fires."""
    rate = _RATE.match(expression)
    if rate:
        seconds = int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")]
        if seconds <= 0:
            raise ScheduleExpressionError(f"rate must be positive: {expression}")
        return after + timedelta(seconds=seconds)
    cron = _CRON.match(expression)
    if cron:
        return croniter(_standard_cron(cron.group(1)), after).get_next(datetime)
    raise ScheduleExpressionError(f"not a rate() or cron() expression: {expression}")


def _standard_cron(aws_fields: str) -> str:
    # EventBridge: minutes hours day-of-month month day-of-week year, with `?` for "any".
    fields = aws_fields.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(f"cron() takes 6 fields, got {len(fields)}: {aws_fields}")
    minute, hour, dom, month, dow, _year = (f.replace("?", "*") for f in fields)
    return f"{minute} {hour} {dom} {month} {dow}"


def scheduled_event(rule_arn: str, account: str, region: str, at: datetime) -> dict[str, Any]:
    """The event EventBridge sends for a scheduled rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass
class _Due:
    expression: str
    at: datetime


class Scheduler:
    """Polls the rules and fires those that are due; `tick()` is one pass, for tests too."""

    def __init__(self, clients: Callable[[str], Any], clock: Callable[[], datetime] | None = None,
                 interval: float = 1.0) -> None:
        self._events = clients("events")
        self._lambda = clients("lambda")
        self._states = clients("stepfunctions")
        self._clock = clock or (lambda: datetime.now(UTC))
        self._interval = interval
        self._due: dict[str, _Due] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired: list[tuple[str, str, datetime]] = []

    def tick(self) -> list[str]:
        """Fire every rule due now; return the ARNs of the rules fired."""
        now = self._clock()
        fired = []
        for rule in self._schedule_rules():
            arn, expression = rule["Arn"], rule["ScheduleExpression"]
            due = self._due.get(arn)
            if due is None or due.expression != expression:
                self._due[arn] = _Due(expression, next_fire(expression, now))
                continue
            if due.at <= now:
                self._deliver(rule, due.at)
                self._due[arn] = _Due(expression, next_fire(expression, now))
                fired.append(arn)
        return fired

    def _schedule_rules(self) -> list[dict[str, Any]]:
        rules = self._events.list_rules()["Rules"]
        return [r for r in rules if r.get("ScheduleExpression") and r.get("State") == "ENABLED"]

    def _deliver(self, rule: dict[str, Any], at: datetime) -> None:
        arn = rule["Arn"]
        _, _, _, region, account, _ = arn.split(":", 5)
        for target in self._events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            event = json.loads(target["Input"]) if target.get("Input") else scheduled_event(
                arn, account, region, at)
            payload = json.dumps(event)
            if ":lambda:" in target["Arn"]:
                self._lambda.invoke(FunctionName=target["Arn"], InvocationType="Event",
                                    Payload=payload.encode())
            elif ":states:" in target["Arn"]:
                # EventBridge names each execution it starts uniquely (moto would name it
                # "None", and the second schedule would collide with the first).
                self._states.start_execution(stateMachineArn=target["Arn"], input=payload,
                                             name=event.get("id") or str(uuid.uuid4()))
            self.fired.append((arn, target["Arn"], at))

    def start(self) -> None:
        """Poll in a background thread until `stop()`."""
        def loop() -> None:
            while not self._stop.wait(self._interval):
                self.tick()

        self._thread = threading.Thread(target=loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
