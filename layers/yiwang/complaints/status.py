"""A complaint's statuses and the moves between them (《运行管理办法》 art. 31-34), in one place.

    ROUTED ──accept / deemed accepted──► ACCEPTED ──resolve──► RESOLVED ──revisit──► CLOSED
      │  ▲                                  │
      │  └──reroute── RETURNED ◄──return────┘ (from ROUTED only)
      └─ any open status ──refuse──► NOT_ACCEPTED;  ──merge──► MERGED

Every status change goes through `check_move`: an illegal move is `Conflict` (409) naming
both statuses.
"""

from __future__ import annotations

from enum import StrEnum

from yiwang.platform.statuses import Moves


class ComplaintStatus(StrEnum):
    """Where a complaint stands (stored as these strings)."""

    ROUTED = "ROUTED"
    """转办: routed to a department, which signs for it or returns it."""
    RETURNED = "RETURNED"
    """退回: the department says it is not its business; a supervisor reroutes it."""
    ACCEPTED = "ACCEPTED"
    """签收 (or deemed accepted): the department handles it."""
    NOT_ACCEPTED = "NOT_ACCEPTED"
    """不予受理 (art. 31)."""
    RESOLVED = "RESOLVED"
    """办结: the result is given; the complainant's revisit is awaited."""
    MERGED = "MERGED"
    """合并 into another complaint on the same matter."""
    CLOSED = "CLOSED"
    """回访 answered."""


INITIAL = ComplaintStatus.ROUTED
"""Registering routes a complaint at once."""
OPEN = frozenset({ComplaintStatus.ROUTED, ComplaintStatus.RETURNED, ComplaintStatus.ACCEPTED})
"""Statuses in which a supervisor may still refuse or merge a complaint."""
ENDED = frozenset({ComplaintStatus.NOT_ACCEPTED, ComplaintStatus.MERGED, ComplaintStatus.CLOSED})

TRANSITIONS: dict[ComplaintStatus, frozenset[ComplaintStatus]] = {
    ComplaintStatus.ROUTED: frozenset({ComplaintStatus.ACCEPTED, ComplaintStatus.RETURNED,
                                       ComplaintStatus.NOT_ACCEPTED, ComplaintStatus.MERGED}),
    ComplaintStatus.RETURNED: frozenset({ComplaintStatus.ROUTED, ComplaintStatus.NOT_ACCEPTED,
                                         ComplaintStatus.MERGED}),
    ComplaintStatus.ACCEPTED: frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.NOT_ACCEPTED,
                                         ComplaintStatus.MERGED}),
    ComplaintStatus.RESOLVED: frozenset({ComplaintStatus.CLOSED}),
    ComplaintStatus.NOT_ACCEPTED: frozenset(),
    ComplaintStatus.MERGED: frozenset(),
    ComplaintStatus.CLOSED: frozenset(),
}
"""Each status and the statuses a complaint may move to from it."""


class StepStatus(StrEnum):
    """A waiting step of the complaint's execution: its token waits, then is completed once."""

    WAITING = "WAITING"
    DONE = "DONE"


MOVES = Moves("a complaint", TRANSITIONS, initial={INITIAL})
check_move = MOVES.check_move
