"""Idempotency receipts: whose key it is is part of the receipt's identity (no cloud needed)."""

from __future__ import annotations

from yiwang.table.idempotency import Receipt


def test_keys_that_would_join_alike_are_distinct_receipts() -> None:
    first = Receipt("create-application", "k", {}, owner="w:1")
    second = Receipt("create-application", "1:k", {}, owner="w")
    assert first.sk != second.sk


def test_the_same_owner_and_key_is_the_same_receipt() -> None:
    assert Receipt("s", "k", {"a": 1}, owner="w").sk == Receipt("s", "k", {"a": 2}, owner="w").sk
    assert Receipt("s", "k", {}, owner="w").sk != Receipt("t", "k", {}, owner="w").sk


def test_each_key_has_a_partition_of_its_own() -> None:
    # One partition per scope took every draft's receipt (the hottest key of the heat bench).
    receipts = [Receipt("create-application", f"k{n}", {}, owner="w") for n in range(50)]
    assert len({receipt.pk for receipt in receipts}) == 50
    assert all(r.pk.startswith("IDEMPOTENCY#create-application#") for r in receipts)
    assert Receipt("s", "k", {"a": 1}, owner="w").pk == Receipt("s", "k", {"a": 2}, owner="w").pk
