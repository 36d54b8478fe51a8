"""上报件 (`yiwang.applications.escalation`) without the cloud: where a draft may be made, the
regions a case lies in (for region-scoped supervision), which windows serve it, and which
level's step each clock times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.data import DISABILITY_CARD
from yiwang.applications import escalation
from yiwang.applications.records import ApplicationRecord
from yiwang.catalogue.items import ItemVersion, sample_items
from yiwang.platform.errors import ValidationFailed

VILLAGE, OTHER_VILLAGE, TOWNSHIP, COUNTY, CITY = (
    "440106001001", "440106005002", "440106001", "440106", "440100")


def item() -> ItemVersion:
    document = next(i for i in sample_items() if i["code"] == DISABILITY_CARD)
    return ItemVersion.from_document(document, 1, "PUBLISHED")


def record(region: str, hops: list[dict] | None = None) -> ApplicationRecord:
    plan = escalation.plan(item(), region)
    assert plan is not None
    return ApplicationRecord(ApplicationRecord.key("A1"), "META", application_id="A1",
                             status="IN_REVIEW", item_code=DISABILITY_CARD, item_version=1,
                             owner_sub="citizen", created_at=datetime.now(UTC), gsi1pk="x",
                             gsi1sk="y", region=region,
                             escalation={**plan, "hops": hops or []})


def test_a_draft_is_made_at_an_accepting_level_and_handled_by_the_ancestor_above() -> None:
    assert escalation.plan(item(), VILLAGE) == {
        "acceptingRegion": VILLAGE, "handledRegion": CITY,
        "acceptedAt": ["TOWNSHIP", "VILLAGE"], "handledAt": "CITY", "hops": []}
    assert escalation.plan(item(), TOWNSHIP)["handledRegion"] == CITY
    for refused in (COUNTY, CITY):
        with pytest.raises(ValidationFailed) as error:
            escalation.plan(item(), refused)
        assert [e.path for e in error.value.errors] == ["region"]


def test_a_case_lies_in_its_accepting_region_and_once_gone_up_in_the_handling_one() -> None:
    before = record(VILLAGE)
    assert escalation.regions_of(before) == {VILLAGE}
    assert not escalation.gone_up(before)
    assert escalation.where(before) == escalation.ACCEPTING
    up = {"event": escalation.UP, "round": 1, "from": VILLAGE, "to": CITY,
          "at": datetime.now(UTC).isoformat(), "attachments": []}
    above = record(VILLAGE, [up])
    assert escalation.regions_of(above) == {VILLAGE, CITY}
    assert escalation.where(above) == escalation.HANDLING
    down = {**up, "event": escalation.DOWN, "from": CITY, "to": VILLAGE}
    assert escalation.where(record(VILLAGE, [up, down])) == escalation.ACCEPTING


def test_only_the_windows_of_the_accepting_region_or_above_serve_it() -> None:
    case = record(VILLAGE)
    assert escalation.window_may_see(case, VILLAGE)
    assert escalation.window_may_see(case, TOWNSHIP)  # the 街道 centre above it
    assert escalation.window_may_see(case, None)  # no region: the default region (the city)
    assert not escalation.window_may_see(case, OTHER_VILLAGE)
    assert not escalation.window_may_see(case, "440304")  # 福田区, another city
    assert escalation.window_serves(None, OTHER_VILLAGE)  # any case but a 上报件


def test_each_clock_is_one_levels_step_and_the_promise_is_the_whole_cases() -> None:
    assert [escalation.side_of(name) for name in (
        "ACCEPTANCE", "ESCALATION_UP", "REVIEW#GZ-CL", "CERTIFICATE", "DELIVERY_DOWN",
        "PROMISE")] == ["ACCEPTING", "ACCEPTING", "HANDLING", "HANDLING", "ACCEPTING", None]
