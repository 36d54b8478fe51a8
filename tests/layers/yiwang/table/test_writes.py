"""The one conditional-write policy, on the errors pynamodb raises (no cloud needed)."""

from __future__ import annotations

import pytest
from pynamodb.connection.base import VerboseClientError
from pynamodb.exceptions import CancellationReason, PutError, TransactWriteError

from yiwang.platform.errors import Conflict, Unavailable
from yiwang.table import writes


def put_error(code: str) -> PutError:
    return PutError("put failed", cause=VerboseClientError(
        {"Error": {"Code": code, "Message": code}}, "PutItem", {}))


def cancelled(*codes: str | None) -> TransactWriteError:
    reasons = [CancellationReason(code=c) if c else None for c in codes]
    cause = VerboseClientError({"Error": {"Code": "TransactionCanceledException",
                                          "Message": "cancelled"}}, "TransactWriteItems", {},
                               cancellation_reasons=reasons)
    return TransactWriteError("transaction failed", cause=cause)


def failing(*errors: Exception, then: object = "written"):
    pending = list(errors)
    calls = []

    def write() -> object:
        calls.append(1)
        if pending:
            raise pending.pop(0)
        return then
    write.calls = calls  # type: ignore[attr-defined]
    return write


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writes.time, "sleep", lambda _: None)


def test_a_failed_condition_is_a_conflict_with_the_reason() -> None:
    with pytest.raises(Conflict, match="task t-1 was decided already"):
        writes.write_or_conflict(failing(put_error("ConditionalCheckFailedException")),
                                 "task t-1 was decided already")


def test_a_failed_condition_inside_a_transaction_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        writes.write_or_conflict(failing(cancelled(None, "ConditionalCheckFailed")), "x")


def test_an_expected_loser_gets_false_and_a_winner_true() -> None:
    assert writes.write_if(failing(put_error("ConditionalCheckFailedException"))) is False
    assert writes.write_if(failing()) is True


def test_throttling_is_retried_then_written() -> None:
    write = failing(put_error("ProvisionedThroughputExceededException"),
                    cancelled("TransactionConflict"))
    assert writes.write_or_conflict(write, "x") == "written"
    assert len(write.calls) == 3


def test_a_store_that_stays_busy_is_unavailable_with_retry_after() -> None:
    write = failing(*[put_error("ThrottlingException")] * writes.ATTEMPTS)
    with pytest.raises(Unavailable) as refused:
        writes.write_or_conflict(write, "x")
    assert refused.value.retry_after >= 1
    assert len(write.calls) == writes.ATTEMPTS


def test_other_failures_are_never_swallowed() -> None:
    with pytest.raises(PutError):
        writes.write_if(failing(put_error("ValidationException")))
    with pytest.raises(TransactWriteError):
        writes.write_or_conflict(failing(cancelled("ValidationError")), "x")
