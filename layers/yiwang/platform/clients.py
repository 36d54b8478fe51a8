"""AWS clients for the functions: one per service for the life of the process, created on first
use (botocore reads the endpoint from the environment: `AWS_ENDPOINT_URL` when set, AWS's
otherwise).

They come straight from botocore, which every function has loaded already (pynamodb runs on
it): `boto3.client(service)` makes the very same botocore client, and importing boto3 for it
adds its resources and S3 transfer manager, which no function uses, to every cold start (about
an eighth of `import boto3` on top of botocore; `make bench`).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def client(service: str) -> Any:
    """The process's client for `service` (`"s3"`, `"kms"`, `"stepfunctions"`, `"sns"`...);
    `client.cache_clear()` forgets them (a process whose environment was changed)."""
    return _session().create_client(service)


@functools.cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()
