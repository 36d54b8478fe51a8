"""A complaint's statuses: one transitions table, consistent, and illegal moves are 409."""

from __future__ import annotations

import pytest

from yiwang.complaints.status import (
    ENDED,
    MOVES,
    OPEN,
    TRANSITIONS,
    ComplaintStatus,
    ExtensionStatus,
    check_extension_move,
    check_move,
)
from yiwang.platform.errors import Conflict


def test_every_status_has_its_moves_and_is_reachable_from_routing() -> None:
    assert set(TRANSITIONS) == set(ComplaintStatus)
    assert MOVES.reachable() == set(ComplaintStatus)


def test_ended_statuses_have_no_exits_and_every_other_has_one() -> None:
    terminal = {status for status, moves in TRANSITIONS.items() if not moves}
    assert terminal == ENDED
    assert OPEN.isdisjoint(ENDED)


def test_open_complaints_may_be_refused_or_merged() -> None:
    for status in OPEN:
        assert check_move(status, "NOT_ACCEPTED") is ComplaintStatus.NOT_ACCEPTED
        assert check_move(status, "MERGED") is ComplaintStatus.MERGED


@pytest.mark.parametrize(("from_", "to"), [
    ("CLOSED", "ACCEPTED"), ("ACCEPTED", "ACCEPTED"), ("ROUTED", "RESOLVED"),
    ("RESOLVED", "MERGED"), ("NOT_ACCEPTED", "ROUTED"), ("ACCEPTED", "RETURNED"),
])
def test_an_illegal_move_is_a_conflict_naming_both_statuses(from_: str, to: str) -> None:
    with pytest.raises(Conflict) as refused:
        check_move(from_, to)
    assert str(refused.value) == f"a complaint cannot move from {from_} to {to}"
    assert refused.value.code == "CONFLICT"  # 409 (chalicelib.problems)


def test_a_revisit_reopens_or_escalates_and_only_accepted_complaints_are_found_invalid() -> None:
    assert check_move("RESOLVED", "ACCEPTED") is ComplaintStatus.ACCEPTED
    assert check_move("RESOLVED", "ESCALATED") is ComplaintStatus.ESCALATED
    assert check_move("ESCALATED", "CLOSED") is ComplaintStatus.CLOSED
    assert check_move("ACCEPTED", "INVALID") is ComplaintStatus.INVALID
    for from_ in ("ROUTED", "RETURNED", "RESOLVED", "ESCALATED"):
        with pytest.raises(Conflict):
            check_move(from_, "INVALID")


def test_an_extension_request_is_decided_once() -> None:
    assert check_extension_move("REQUESTED", "APPROVED") is ExtensionStatus.APPROVED
    for decided in ("APPROVED", "REFUSED"):
        with pytest.raises(Conflict):
            check_extension_move(decided, "APPROVED")
