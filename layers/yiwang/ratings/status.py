"""A rating's statuses and the moves between them (《运行管理办法》 art. 35-37), in one place.

A rating of 3-5 is RECORDED and stays so; a bad review (1-2) starts VERIFYING and goes through
its rectification:

    VERIFYING ──valid──► RECTIFYING ──rectify──► RECTIFIED ──satisfied──► CLOSED
        │                  ▲  │ (anonymous: CLOSED)   │ not satisfied: RECTIFYING
        └─invalid─► INVALIDATION_REQUESTED ─refused─┘
                           └─approved─► INVALID

Every status change goes through `check_move`: an illegal move is `Conflict` (409) naming
both statuses. A change that keeps the status (an extension) is not a move.
"""

from __future__ import annotations

from enum import StrEnum

from yiwang.platform.statuses import Moves


class RatingStatus(StrEnum):
    """Where a rating, and the rectification of a bad one, stands (stored as these strings)."""

    RECORDED = "RECORDED"
    """A rating of 3-5: nothing more to do."""
    VERIFYING = "VERIFYING"
    """调查核实 by the handling department."""
    INVALIDATION_REQUESTED = "INVALIDATION_REQUESTED"
    """Proposed invalid; the rating administrators review it (复核)."""
    INVALID = "INVALID"
    """无效差评: not counted."""
    RECTIFYING = "RECTIFYING"
    """整改 under way, timed by the rectification clock."""
    RECTIFIED = "RECTIFIED"
    """整改反馈 given; a real-name rater's revisit (回访) is awaited."""
    CLOSED = "CLOSED"


INITIAL = frozenset({RatingStatus.RECORDED, RatingStatus.VERIFYING})
"""A good rating is recorded; a bad one is verified first."""

TRANSITIONS: dict[RatingStatus, frozenset[RatingStatus]] = {
    RatingStatus.RECORDED: frozenset(),
    RatingStatus.VERIFYING: frozenset({RatingStatus.RECTIFYING,
                                       RatingStatus.INVALIDATION_REQUESTED}),
    RatingStatus.INVALIDATION_REQUESTED: frozenset({RatingStatus.INVALID,
                                                    RatingStatus.RECTIFYING}),
    RatingStatus.INVALID: frozenset(),
    RatingStatus.RECTIFYING: frozenset({RatingStatus.RECTIFIED, RatingStatus.CLOSED}),
    RatingStatus.RECTIFIED: frozenset({RatingStatus.CLOSED, RatingStatus.RECTIFYING}),
    RatingStatus.CLOSED: frozenset(),
}
"""Each status and the statuses a rating may move to from it."""


MOVES = Moves("a rating", TRANSITIONS, initial=INITIAL)
check_move = MOVES.check_move
