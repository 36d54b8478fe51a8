"""A rating's statuses: one transitions table, consistent, and illegal moves are 409."""

from __future__ import annotations

import pytest

from yiwang.platform.errors import Conflict
from yiwang.ratings.status import MOVES, TRANSITIONS, RatingStatus, check_move


def test_every_status_has_its_moves_and_is_reachable_from_rating() -> None:
    assert set(TRANSITIONS) == set(RatingStatus)
    assert MOVES.reachable() == set(RatingStatus)


def test_terminal_statuses_have_no_exits() -> None:
    terminal = {status for status, moves in TRANSITIONS.items() if not moves}
    assert terminal == {RatingStatus.RECORDED, RatingStatus.INVALID, RatingStatus.CLOSED}


def test_an_unsatisfied_revisit_reopens_the_rectification() -> None:
    assert check_move("RECTIFIED", "RECTIFYING") is RatingStatus.RECTIFYING


@pytest.mark.parametrize(("from_", "to"), [
    ("CLOSED", "RECTIFYING"), ("INVALID", "RECTIFYING"), ("RECORDED", "VERIFYING"),
    ("VERIFYING", "INVALID"), ("VERIFYING", "CLOSED"), ("RECTIFYING", "RECTIFYING"),
])
def test_an_illegal_move_is_a_conflict_naming_both_statuses(from_: str, to: str) -> None:
    with pytest.raises(Conflict) as refused:
        check_move(from_, to)
    assert str(refused.value) == f"a rating cannot move from {from_} to {to}"
    assert refused.value.code == "CONFLICT"  # 409 (chalicelib.problems)
