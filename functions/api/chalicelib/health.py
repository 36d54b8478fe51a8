"""Health probe: can this deployment reach its table, bucket and state machines?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from yiwang.platform.config import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _probe(name: str, call: Callable[[], Any]) -> Check:
    try:
        call()
    except (ClientError, BotoCoreError) as error:
        return Check(name, False, str(error))
    return Check(name, True, "reachable")


def health(settings: Settings, clients: Callable[[str], Any]) -> dict[str, Any]:
    """One check per resource the API depends on, and whether all pass."""
    checks = [_probe("table", lambda: clients("dynamodb").describe_table(
        TableName=settings.table_name))]
    if settings.bucket_name:
        checks.append(_probe("bucket", lambda: clients("s3").head_bucket(
            Bucket=settings.bucket_name)))
    if settings.lifecycle_state_machine_arn:
        checks.append(_probe("stateMachine:lifecycle", lambda: clients(
            "stepfunctions").describe_state_machine(
                stateMachineArn=settings.lifecycle_state_machine_arn)))
    return {
        "status": "healthy" if all(c.ok for c in checks) else "unhealthy",
        "stage": settings.stage,
        "checks": [asdict(c) for c in checks],
    }
