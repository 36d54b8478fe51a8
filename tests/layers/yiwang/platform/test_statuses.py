"""The one shape of a status machine (no cloud needed)."""

from __future__ import annotations

from enum import StrEnum

import pytest

from yiwang.platform.errors import Conflict
from yiwang.platform.statuses import Moves


class Light(StrEnum):
    RED = "RED"
    GREEN = "GREEN"
    AMBER = "AMBER"
    BROKEN = "BROKEN"


MOVES = Moves("a light", {
    Light.RED: frozenset({Light.GREEN, Light.BROKEN}),
    Light.GREEN: frozenset({Light.AMBER}),
    Light.AMBER: frozenset({Light.RED}),
    Light.BROKEN: frozenset(),
}, initial={Light.RED})


def test_an_allowed_move_answers_the_target_as_a_status() -> None:
    assert MOVES.check_move("RED", "GREEN") is Light.GREEN
    assert MOVES.may_move(Light.AMBER, "RED")


@pytest.mark.parametrize(("from_", "to"), [("RED", "AMBER"), ("BROKEN", "RED"),
                                           ("GREEN", "BLUE"), ("BLUE", "RED")])
def test_any_other_move_is_a_conflict_naming_both_states(from_: str, to: str) -> None:
    with pytest.raises(Conflict, match=f"a light cannot move from {from_} to {to}"):
        MOVES.check_move(from_, to)


def test_sources_terminal_and_reachable_are_read_from_the_table() -> None:
    assert MOVES.sources("RED") == {Light.AMBER}
    assert MOVES.terminal == {Light.BROKEN}
    assert MOVES.reachable() == set(Light)
    assert MOVES.reachable([Light.BROKEN]) == {Light.BROKEN}
