"""A theme order's callback is checked against the provider's one callback contract
(`yiwang.fulfilment.payments.validated_callback`) before anything is read; the provider's
transaction id leaves room for each share's (`#` and the application id)."""

from __future__ import annotations

from typing import Any

import pytest

from yiwang.fulfilment import payments
from yiwang.platform.errors import ValidationFailed
from yiwang.themes.payments import SHARE_ROOM, settle

PAID = {"orderId": "TH2026120300000001T0a1b2c3d", "transactionId": "T1", "amountFen": 7000,
        "status": "SUCCESS", "paidAt": "2026-12-03T10:00:00+08:00"}


def _errors(event: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationFailed) as refused:
        settle(event, sfn=None)
    return {error.path for error in refused.value.errors}


def test_a_payment_without_its_time_or_with_a_time_without_offset_is_refused() -> None:
    assert _errors({**PAID, "paidAt": None}) == {"paidAt"}
    assert _errors({**PAID, "paidAt": "2026-12-03T10:00:00"}) == {"paidAt"}


def test_a_transaction_id_leaves_room_for_each_share() -> None:
    longest = payments.TRANSACTION_ID_MAX - SHARE_ROOM
    assert _errors({**PAID, "transactionId": "T" * (longest + 1)}) == {"transactionId"}
    assert len(f"{'T' * longest}#YW2026120353943180") <= payments.TRANSACTION_ID_MAX


def test_every_break_of_the_contract_is_listed() -> None:
    assert _errors({"orderId": "", "amountFen": -1, "status": "MAYBE"}) >= {
        "orderId", "amountFen", "status"}
