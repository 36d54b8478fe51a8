"""Checks a large uploaded material once S3 has it (ObjectCreated): SHA-256 and file type.

Uploads above the API's inline limit are marked VERIFYING by the complete call before S3 has
the object; this function streams the object once (one chunk in memory, whatever its size) and
marks the attachment STORED or REJECTED. S3 invokes it asynchronously and at least once: a
repeated delivery finds the attachment already checked and changes nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from yiwang.applications.uploads import check_pending_upload
from yiwang.platform.clients import client
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: S3 ObjectCreated notifications. Returns each checked key's attachment status."""
    results = {}
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        status = check_pending_upload(key, client("s3"), bucket)
        logger.info("attachment checked", extra={"key": key, "status": status})
        if status:
            metrics.add_metric(name=f"Attachments{status.title()}", unit=MetricUnit.Count,
                               value=1)
        results[key] = status
    return results
