"""One policy for conditional writes (optimistic locking), the same for every record.

A write that carries a condition (a status it expects, a version, "not there yet") ends one of
three ways besides success:
- the condition failed: someone else changed the record first. The caller gets `Conflict`
  with its reason (`write_or_conflict`), or `False` where losing the race is an expected
  outcome (`write_if`, e.g. a webhook delivered twice);
- the store was busy (throttling, a concurrent transaction on the same items): the write is
  retried a few times with a jittered backoff, then answered `Unavailable` (503, Retry-After);
- anything else propagates. Nothing is swallowed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from pynamodb.exceptions import PynamoDBException, TransactWriteError

from yiwang.platform.errors import Conflict, Unavailable

T = TypeVar("T")

CONDITION_FAILED = frozenset({"ConditionalCheckFailed", "ConditionalCheckFailedException"})
BUSY = frozenset({
    "TransactionConflict", "TransactionConflictException", "TransactionInProgressException",
    "ProvisionedThroughputExceeded", "ProvisionedThroughputExceededException",
    "ThrottlingError", "ThrottlingException", "RequestLimitExceeded",
})
ATTEMPTS = 4
BASE_DELAY_SECONDS = 0.05
RETRY_AFTER_SECONDS = 1


def reasons(error: PynamoDBException) -> set[str]:
    """The codes that explain a failed write: the cause's, and each cancelled transaction
    item's."""
    codes = {error.cause_response_code} if error.cause_response_code else set()
    if isinstance(error, TransactWriteError) and \
            error.cause_response_code == "TransactionCanceledException":
        codes |= {r.code for r in error.cancellation_reasons if r is not None and r.code}
    return codes


def condition_failed(error: PynamoDBException) -> bool:
    """Whether the write was refused because a condition did not hold."""
    return bool(reasons(error) & CONDITION_FAILED)


def busy(error: PynamoDBException) -> bool:
    """Whether the store refused for now (throttled, transaction conflict): worth retrying."""
    return not condition_failed(error) and bool(reasons(error) & BUSY)


def write_or_conflict(write: Callable[[], T], conflict: str) -> T:
    """Run one conditional write; a failed condition is `Conflict(conflict)`."""
    try:
        return _retrying(write)
    except PynamoDBException as error:
        if condition_failed(error):
            raise Conflict(conflict) from error
        raise


def write_if(write: Callable[[], object]) -> bool:
    """Run one conditional write; `False` if its condition failed (the expected loser of a
    race), `True` if it was written."""
    try:
        _retrying(write)
    except PynamoDBException as error:
        if condition_failed(error):
            return False
        raise
    return True


def _retrying(write: Callable[[], T]) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return write()
        except PynamoDBException as error:
            if not busy(error):
                raise
            if attempt == ATTEMPTS:
                raise Unavailable("the records are busy; nothing was changed",
                                  retry_after=RETRY_AFTER_SECONDS) from error
            time.sleep(BASE_DELAY_SECONDS * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")
