"""事项状态 rules (`yiwang.catalogue.standing`): the standing on a day from the list of changes,
which changes are allowed, and the closing period intake compares today with."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from yiwang.catalogue import standing
from yiwang.platform.errors import Conflict, ValidationFailed

NOW = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # 2026-12-03 01:00 in Shanghai
TODAY = date(2026, 12, 3)


def changes(*steps: tuple[str, str]) -> list[dict]:
    return [standing.entry(kind, date.fromisoformat(day), "理由", "office-1", NOW)
            for kind, day in steps]


def test_today_is_the_shanghai_date() -> None:
    assert standing.today(NOW) == TODAY


def test_a_change_takes_effect_on_its_date_without_any_job() -> None:
    listed = changes(("SUSPEND", "2026-12-10"), ("RESUME", "2026-12-20"))
    assert [standing.standing_on(listed, date(2026, 12, d)) for d in (9, 10, 19, 20)] == [
        "ACTIVE", "SUSPENDED", "SUSPENDED", "ACTIVE"]
    assert standing.standing_on(None, TODAY) == "ACTIVE"


def test_one_scheduled_change_at_a_time() -> None:
    listed = changes(("SUSPEND", "2026-12-10"))
    with pytest.raises(Conflict, match="one scheduled change at a time"):
        standing.check_change(listed, "RESUME", date(2026, 12, 20), TODAY)
    # Once the suspension is in force, its resumption may be scheduled.
    assert standing.check_change(listed, "RESUME", date(2026, 12, 20),
                                 date(2026, 12, 10)) == "SUSPENDED"


@pytest.mark.parametrize(("history", "change", "refused"), [
    ((), "RESUME", "only a suspended item is resumed"),
    ((("SUSPEND", "2026-12-01"),), "SUSPEND", "already suspended"),
    ((("ABOLISH", "2026-12-01"),), "RESUME", "abolished"),
    ((("ABOLISH", "2026-12-01"),), "SUSPEND", "abolished"),
    ((("ABOLISH", "2026-12-01"),), "ABOLISH", "abolished"),
])
def test_changes_the_rules_refuse(history: tuple, change: str, refused: str) -> None:
    with pytest.raises(Conflict, match=refused):
        standing.check_change(changes(*history), change, TODAY, TODAY)


def test_a_suspended_item_may_be_abolished() -> None:
    assert standing.check_change(changes(("SUSPEND", "2026-12-01")), "ABOLISH", TODAY,
                                 TODAY) == "SUSPENDED"


def test_the_closing_period_is_the_last_one() -> None:
    assert standing.closing_period(None) == (None, None)
    assert standing.closing_period(changes(("SUSPEND", "2026-11-01"), ("RESUME", "2026-11-05"),
                                           ("SUSPEND", "2026-12-10"))) == ("2026-12-10", None)
    assert standing.closing_period(changes(("SUSPEND", "2026-12-01"),
                                           ("RESUME", "2026-12-10"))) == (
        "2026-12-01", "2026-12-10")


def test_a_change_request_is_checked_whole() -> None:
    assert standing.parse_change({"change": "SUSPEND", "effectiveDate": "2026-12-03",
                                  "reason": " 系统升级 "}, TODAY) == (
        "SUSPEND", TODAY, "系统升级")
    with pytest.raises(ValidationFailed) as refused:
        standing.parse_change({"change": "PAUSE", "effectiveDate": "2026-12-02", "reason": "",
                               "extra": 1}, TODAY)
    assert {e.path for e in refused.value.errors} == {"extra", "change", "effectiveDate",
                                                      "reason"}
    with pytest.raises(ValidationFailed):
        standing.parse_change({"change": "SUSPEND", "effectiveDate": "2026-13-01",
                               "reason": "x" * 501}, TODAY)


def test_what_intake_is_refused_with() -> None:
    assert standing.refusal("ACTIVE", "X") is None
    assert standing.refusal("SUSPENDED", "X").code == "ITEM_SUSPENDED"
    assert standing.refusal("ABOLISHED", "X").code == "ITEM_ABOLISHED"
