"""AWS clients for the API, one per service for the life of the process, created on first use
(the endpoint comes from the environment: `AWS_ENDPOINT_URL` locally, AWS's otherwise)."""

from __future__ import annotations

import functools
from typing import Any

import boto3


@functools.cache
def aws(service: str) -> Any:
    """The process's client for `service`."""
    return boto3.client(service)
