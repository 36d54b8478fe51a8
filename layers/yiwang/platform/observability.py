"""Logging, tracing and metrics for every function, in one line.

Powertools objects are module-level, configured by the `POWERTOOLS_*` variables that the
template sets (service name, metrics namespace `Yiwang`, log level), so a handler writes::

    from yiwang.platform.observability import lambda_entry, logger, metrics

    @lambda_entry
    def handler(event, context): ...

and gets JSON logs with the Lambda context, an X-Ray segment and EMF metrics flushed at the end,
including the cold-start metric.

No log line carries a full identity number, credit code or mobile number: the logger's
formatter passes every value of a record (the message, `extra=` values, appended keys, the
exception text) through `yiwang.platform.identity.redact` before it is written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from yiwang.platform.identity import redact

__all__ = ["MetricUnit", "RedactingFormatter", "flush_pending_metrics", "lambda_entry", "logger",
           "metrics", "tracer"]


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log formatter, with identity numbers, credit codes and mobile numbers
    masked (`yiwang.platform.identity.redact`) in every value and key of the record, nested or
    not."""

    def serialize(self, log: dict[str, Any]) -> str:
        return super().serialize(self._redacted(log))

    def _redacted(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, dict):
            return {self._redacted(k): self._redacted(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self._redacted(v) for v in value]
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            text = str(value)  # an identity number logged as a number
            return value if redact(text) == text else redact(text)
        # Anything else is written as its str() (the formatter's json_default); redact that.
        return redact(str(self.json_default(value)))


logger = Logger(logger_formatter=RedactingFormatter())
# X-Ray subsegments for what the platform calls: AWS (boto3, and pynamodb through botocore) and
# plain HTTP (urllib: the JWKS, the providers). Powertools' default patches every library X-Ray
# knows, importing each (requests, sqlite3...) at every cold start to patch it: about a quarter
# of `import boto3` (make bench) for libraries this code never calls.
tracer = Tracer(patch_modules=("botocore", "httplib"))
metrics = Metrics()

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


def flush_pending_metrics() -> None:
    """Publish the metrics added so far (one EMF line on stdout), if any.

    For code with no `lambda_entry` around it (the API's views): Powertools warns on an empty
    flush, and most requests add no metric.
    """
    if metrics.metric_set:
        metrics.flush_metrics()
