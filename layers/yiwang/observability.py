"""Logging, tracing and metrics for every function, in one line.

Powertools objects are module-level, configured by the `POWERTOOLS_*` variables that the
template sets (service name, metrics namespace `Yiwang`, log level), so a handler writes::

    from yiwang.observability import lambda_entry, logger, metrics

    @lambda_entry
    def handler(event, context): ...

and gets JSON logs with the Lambda context, an X-Ray segment and EMF metrics flushed at the end,
including the cold-start metric.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["MetricUnit", "lambda_entry", "logger", "metrics", "tracer"]

Handler = Callable[[Any, Any], Any]


def lambda_entry(handler: Handler) -> Handler:
    """Wrap a Lambda handler with Powertools logger context, tracer and metrics flushing."""

    @functools.wraps(handler)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @logger.inject_lambda_context(clear_state=True)
    def wrapped(event: Any, context: Any) -> Any:
        return handler(event, context)

    return wrapped
