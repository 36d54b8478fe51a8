"""`Idempotency-Key` for the API and idempotent effects in functions (Powertools idempotency).

Records live in the platform's single table under pk=`IDEMPOTENCY#<scope>` and expire through
the table's TTL attribute. A repeated key with the same payload returns the first answer; the
same key with a different payload is a conflict.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from yiwang.config import settings
from yiwang.errors import Conflict

ONE_DAY = 24 * 3600


def persistence(scope: str) -> DynamoDBPersistenceLayer:
    """The idempotency store of one scope (an API operation, a webhook provider...)."""
    return _persistence(scope, settings().table_name)


@functools.cache
def _persistence(scope: str, table_name: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=table_name, key_attr="pk", sort_key_attr="sk",
        static_pk_value=f"IDEMPOTENCY#{scope}", expiry_attr="expiresAt",
    )


def once(
    scope: str, key: str, payload: Any, effect: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run `effect` once per `key`; later calls with that key get the first result.

    `payload` is what the caller sent: the same key with another payload is a `Conflict`.
    """
    config = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="payload",
                               expires_after_seconds=ONE_DAY)

    @idempotent_function(data_keyword_argument="request", config=config,
                         persistence_store=persistence(scope))
    def run(request: dict[str, Any]) -> dict[str, Any]:
        return effect()

    try:
        return run(request={"key": key, "payload": payload})
    except IdempotencyValidationError as error:
        raise Conflict("this Idempotency-Key was used with a different request") from error
    except IdempotencyAlreadyInProgressError as error:
        raise Conflict("a request with this Idempotency-Key is still in progress") from error
