"""CloudWatch Embedded Metric Format (EMF), as CloudWatch Logs reads it out of a function's output.

On AWS a line a function prints that is an EMF document (a JSON object with an `_aws` key
naming namespace, dimension sets and metrics) becomes metrics without any API call. The local
cloud has no CloudWatch Logs, so it turns each such line into the PutMetricData entries CloudWatch
would record: one entry per metric per dimension set, the values and unit of the document,
at its timestamp.

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, TextIO

MetricData = list[dict[str, Any]]
"""PutMetricData's `MetricData` entries (Timestamp an aware UTC datetime)."""
Publish = Callable[[str, MetricData], None]
"""Records `MetricData` entries under a namespace (the local cloud's CloudWatch)."""

_log = logging.getLogger(__name__)


def documents(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The EMF documents among printed lines; anything else (logs, text) is not one."""
    for line in lines:
        text = line.strip()
        if not (text.startswith("{") and '"_aws"' in text):
            continue
        try:
            document = json.loads(text)
        except ValueError:
            continue
        if isinstance(document, dict) and isinstance(document.get("_aws"), dict):
            yield document


def metric_data(document: dict[str, Any]) -> list[tuple[str, MetricData]]:
    """(namespace, entries) for each metric directive of an EMF document.

    Values may be a number or a list (Powertools prints lists); a metric whose value is
    missing or not numeric is skipped, as CloudWatch skips it.
    """
    meta = document["_aws"]
    timestamp = _timestamp(meta.get("Timestamp"))
    published: list[tuple[str, MetricData]] = []
    for directive in meta.get("CloudWatchMetrics", []):
        entries: MetricData = []
        for dimension_set in directive.get("Dimensions") or [[]]:
            dimensions = [{"Name": name, "Value": str(document[name])}
                          for name in dimension_set if name in document]
            for metric in directive.get("Metrics", []):
                values = _values(document.get(metric.get("Name")))
                if not values:
                    continue
                entry: dict[str, Any] = {"MetricName": metric["Name"], "Values": values,
                                         "Dimensions": dimensions, "Timestamp": timestamp}
                if metric.get("Unit"):
                    entry["Unit"] = metric["Unit"]
                entries.append(entry)
        if entries:
            published.append((directive["Namespace"], entries))
    return published


def publish_lines(lines: Iterable[str], publish: Publish) -> int:
    """Publish every EMF document among `lines`; return how many there were."""
    count = 0
    for document in documents(lines):
        count += 1
        for namespace, entries in metric_data(document):
            publish(namespace, entries)
    return count


def _timestamp(milliseconds: Any) -> datetime:
    if isinstance(milliseconds, (int, float)) and not isinstance(milliseconds, bool):
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    return datetime.now(UTC)


def _values(raw: Any) -> list[float]:
    items = raw if isinstance(raw, list) else [raw]
    return [float(v) for v in items
            if isinstance(v, (int, float)) and not isinstance(v, bool)]


def relay(stream: IO[bytes], publish: Publish, echo: TextIO) -> None:
    """Copy a process's output to `echo` line by line, publishing the EMF documents in it.

    For a function that runs as its own process (the API under `chalice local`): its stdout is
    what CloudWatch Logs would read. Returns when the stream ends.
    """
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        echo.write(line)
        echo.flush()
        try:
            publish_lines([line], publish)
        except Exception:  # noqa: BLE001 - a metric is never worth stopping the output
            _log.warning("an EMF line was not recorded", exc_info=True)
