"""证照有效期: an item may give its certificates' validity in years; without one they are valid
for the default five years."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from yiwang.catalogue.items import ItemVersion, validate_item_payload
from yiwang.fulfilment import certificates
from yiwang.platform.errors import ValidationFailed

SAMPLE = Path(__file__).resolve().parents[4] / "layers" / "yiwang" / "data" / "items.json"


def permit_document() -> dict:
    items = json.loads(SAMPLE.read_text(encoding="utf-8"))["items"]
    return next(i for i in items if i["code"].endswith("XK-0007"))


def test_an_items_validity_sets_its_certificates_and_survives_the_round_trip() -> None:
    document = {**permit_document(), "validityYears": 3}
    item = ItemVersion.from_document(document, 1, "PUBLISHED")
    assert item.document()["validityYears"] == 3
    assert certificates._validity_years(item) == 3
    assert certificates._years_later(date(2026, 3, 2), 3) == date(2029, 3, 1)
    without = ItemVersion.from_document(permit_document(), 1, "PUBLISHED")
    assert certificates._validity_years(without) == certificates.DEFAULT_VALIDITY_YEARS
    assert "validityYears" not in without.document()


def test_a_validity_out_of_bounds_is_refused() -> None:
    validate_item_payload({**permit_document(), "validityYears": 4})
    with pytest.raises(ValidationFailed) as refused:
        validate_item_payload({**permit_document(), "validityYears": 0})
    assert any(e.path.startswith("validityYears") for e in refused.value.errors)
