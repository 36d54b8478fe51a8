"""A complaint's statuses and the moves between them (《运行管理办法》 art. 31-34), in one place.

    ROUTED ──accept / deemed accepted──► ACCEPTED ──resolve──► RESOLVED ──revisit──► CLOSED
      │  ▲                                  │   ▲                 │  (satisfied)        ▲
      │  └──reroute── RETURNED ◄──return────┘   └──reopen once────┤  (unsatisfied)      │
      │               (from ROUTED only)    │                     └─► ESCALATED ─conclude┘
      │                                     └─invalid─► INVALID      (unsatisfied again)
      └─ any open status ──refuse──► NOT_ACCEPTED;  ──merge──► MERGED

(art. 32 (六): 无效投诉建议; art. 34: an unsatisfied complainant's problem is handled again, once
by the department, then by the supervisors.) An extension (延期, art. 32 (五)) keeps the
complaint's status; the request has its own small table (`ExtensionStatus`).

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
    """回访 answered (satisfied), or concluded by the supervisors."""
    INVALID = "INVALID"
    """无效投诉建议 (art. 32 (六)): unverifiable, or found untrue on investigation."""
    ESCALATED = "ESCALATED"
    """Unsatisfied again after handling was reopened once: the supervisors conclude it."""


INITIAL = ComplaintStatus.ROUTED
"""Registering routes a complaint at once."""
OPEN = frozenset({ComplaintStatus.ROUTED, ComplaintStatus.RETURNED, ComplaintStatus.ACCEPTED})
"""Statuses in which a supervisor may still refuse or merge a complaint."""
ENDED = frozenset({ComplaintStatus.NOT_ACCEPTED, ComplaintStatus.MERGED, ComplaintStatus.CLOSED,
                   ComplaintStatus.INVALID})
REOPENINGS = 1
"""How many times an unsatisfied revisit sends the complaint back to its department (art. 34);
the next unsatisfied answer goes to the supervisors."""

TRANSITIONS: dict[ComplaintStatus, frozenset[ComplaintStatus]] = {
    ComplaintStatus.ROUTED: frozenset({ComplaintStatus.ACCEPTED, ComplaintStatus.RETURNED,
                                       ComplaintStatus.NOT_ACCEPTED, ComplaintStatus.MERGED}),
    ComplaintStatus.RETURNED: frozenset({ComplaintStatus.ROUTED, ComplaintStatus.NOT_ACCEPTED,
                                         ComplaintStatus.MERGED}),
    ComplaintStatus.ACCEPTED: frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.NOT_ACCEPTED,
                                         ComplaintStatus.MERGED, ComplaintStatus.INVALID}),
    ComplaintStatus.RESOLVED: frozenset({ComplaintStatus.CLOSED, ComplaintStatus.ACCEPTED,
                                         ComplaintStatus.ESCALATED}),
    ComplaintStatus.ESCALATED: frozenset({ComplaintStatus.CLOSED}),
    ComplaintStatus.INVALID: frozenset(),
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


class ExtensionStatus(StrEnum):
    """延期申请 (art. 32 (五)): the handling department applies, a supervisor decides. One
    application in the complaint's life, whatever the answer and whichever department."""

    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REFUSED = "REFUSED"


EXTENSION_TRANSITIONS: dict[ExtensionStatus, frozenset[ExtensionStatus]] = {
    ExtensionStatus.REQUESTED: frozenset({ExtensionStatus.APPROVED, ExtensionStatus.REFUSED}),
    ExtensionStatus.APPROVED: frozenset(),
    ExtensionStatus.REFUSED: frozenset(),
}
EXTENSION_MOVES = Moves("an extension request", EXTENSION_TRANSITIONS,
                        initial={ExtensionStatus.REQUESTED})
check_extension_move = EXTENSION_MOVES.check_move

INVALID_REASONS = {"UNVERIFIABLE": "确实无法调查核实具体内容",
                   "UNFOUNDED": "经调查投诉建议情况不属实"}
"""无效投诉建议 grounds, art. 32 (六)."""
