"""AWS clients for the functions: one per service for the life of the process, created on first
use (the endpoint comes from the environment: `AWS_ENDPOINT_URL` locally, AWS's otherwise).

They come straight from botocore, which every function has loaded already (pynamodb runs on
it): `boto3.client(service)` makes the very same botocore client, and importing boto3 for it
adds its resources and S3 transfer manager, which no function uses, to every cold start (about
an eighth of `import boto3` on top of botocore; `make bench`).
"""

from __future__ import annotations

import functools
import os
from typing import Any


def client(service: str) -> Any:
    """The process's client for `service` (`"s3"`, `"kms"`, `"stepfunctions"`, `"sns"`...)."""
    return _client(service, os.environ.get("AWS_ENDPOINT_URL"))


@functools.cache
def _client(service: str, endpoint: str | None) -> Any:
    # Keyed on the endpoint too: the local cloud runs functions in its own process, and a
    # second cloud started there (make bench starts two) has another port. botocore reads
    # the endpoint from the environment itself, as it does for boto3.
    return _session().create_client(service)


@functools.cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()
