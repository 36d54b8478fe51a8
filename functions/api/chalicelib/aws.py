"""AWS clients for the API, one per service for the life of the process, created on first use
(boto3 reads the endpoint from the environment: `AWS_ENDPOINT_URL` when set, AWS's otherwise).

boto3 itself is imported on first use too: most requests (lists, reads) only reach DynamoDB,
through pynamodb, and never need it."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def aws(service: str) -> Any:
    """The process's client for `service`."""
    import boto3

    return boto3.client(service)
