"""办件状态: every status an application can have, and the one table of the moves between them.

Every status change of an application goes through `check_move` (`lifecycle.transition` and
`lifecycle.transition_in` call it), so a move the table does not hold is refused with a
`Conflict` naming both states, whoever asks for it. The conditional writes that make a move
still guard concurrency (the status read is the status written over).

The lifecycle (行政许可法: 受理 art. 32, 审查 art. 34, 决定 art. 38, 送达 art. 44)::

    DRAFT → SUBMITTED → ACCEPTED → IN_REVIEW → AWAITING_PAYMENT → PAID → CERTIFICATE_ISSUED
    SUBMITTED → NEEDS_SUPPLEMENT | NOT_ACCEPTED;  IN_REVIEW → NEEDS_SUPPLEMENT | REJECTED
    NEEDS_SUPPLEMENT → SUBMITTED;  IN_REVIEW → CERTIFICATE_ISSUED (an item without a fee)
    AWAITING_PAYMENT → CANCELLED (the order expired unpaid)
    CERTIFICATE_ISSUED → DISPATCHED → DELIVERED → COMPLETED (courier)
    CERTIFICATE_ISSUED → READY_FOR_PICKUP → COMPLETED (collected at the window)
"""

from __future__ import annotations

from enum import StrEnum

from yiwang.platform.statuses import Moves


class Status(StrEnum):
    """An application's status; the stored value is the name (a StrEnum equals its string)."""

    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    NEEDS_SUPPLEMENT = "NEEDS_SUPPLEMENT"
    """补正: the applicant must supply what is missing (一次性告知)."""
    NOT_ACCEPTED = "NOT_ACCEPTED"
    """不予受理."""
    ACCEPTED = "ACCEPTED"
    IN_REVIEW = "IN_REVIEW"
    REJECTED = "REJECTED"
    """不予许可."""
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAID = "PAID"
    CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"
    DISPATCHED = "DISPATCHED"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    """办结."""
    CANCELLED = "CANCELLED"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.SUBMITTED}),
    Status.SUBMITTED: frozenset({Status.ACCEPTED, Status.NEEDS_SUPPLEMENT, Status.NOT_ACCEPTED}),
    Status.NEEDS_SUPPLEMENT: frozenset({Status.SUBMITTED}),
    Status.NOT_ACCEPTED: frozenset(),
    Status.ACCEPTED: frozenset({Status.IN_REVIEW}),
    Status.IN_REVIEW: frozenset({Status.REJECTED, Status.NEEDS_SUPPLEMENT,
                                 Status.AWAITING_PAYMENT, Status.CERTIFICATE_ISSUED}),
    Status.REJECTED: frozenset(),
    Status.AWAITING_PAYMENT: frozenset({Status.PAID, Status.CANCELLED}),
    Status.PAID: frozenset({Status.CERTIFICATE_ISSUED}),
    Status.CERTIFICATE_ISSUED: frozenset({Status.DISPATCHED, Status.READY_FOR_PICKUP}),
    Status.DISPATCHED: frozenset({Status.DELIVERED}),
    Status.READY_FOR_PICKUP: frozenset({Status.COMPLETED}),
    Status.DELIVERED: frozenset({Status.COMPLETED}),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
}
"""Every allowed move: status → the statuses it may move to."""

MOVES = Moves("an application", TRANSITIONS, initial={Status.DRAFT})
TERMINAL = MOVES.terminal
"""Statuses an application never leaves (办结, 不予受理, 不予许可, cancelled)."""
sources = MOVES.sources
may_move = MOVES.may_move
check_move = MOVES.check_move
