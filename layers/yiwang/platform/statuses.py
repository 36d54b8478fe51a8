"""A table of status moves, the one shape every record with a status machine uses (an
application, a complaint, a rating): which status may follow which, and the refusal of any
other move as a `Conflict` that names both states."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from yiwang.platform.errors import Conflict

S = TypeVar("S", bound=StrEnum)


class Moves(Generic[S]):
    """The allowed moves of one kind of record: status → the statuses it may move to."""

    def __init__(self, subject: str, table: Mapping[S, frozenset[S]], initial: Iterable[S]):
        self.subject = subject
        """How a refusal names the record: "an application", "a complaint"..."""
        self.table = dict(table)
        self.initial = frozenset(initial)
        """The statuses a record is created in."""
        self._kind = type(next(iter(self.table)))

    def may_move(self, from_: str, to: str) -> bool:
        """Whether the table allows the move `from_` → `to`."""
        return from_ in self.table and to in self.table[self._kind(from_)]

    def check_move(self, from_: str, to: str) -> S:
        """`to` as a status if the table allows `from_` → `to`; otherwise `Conflict` naming
        both states (nothing is written)."""
        if not self.may_move(from_, to):
            raise Conflict(f"{self.subject} cannot move from {from_} to {to}")
        return self._kind(to)

    def sources(self, to: str) -> frozenset[S]:
        """The statuses that may move to `to`."""
        return frozenset(status for status, exits in self.table.items() if to in exits)

    @property
    def terminal(self) -> frozenset[S]:
        """Statuses a record never leaves."""
        return frozenset(status for status, exits in self.table.items() if not exits)

    def reachable(self, start: Iterable[S] | None = None) -> frozenset[S]:
        """Every status some sequence of moves reaches from `start` (the initial statuses by
        default), `start` included."""
        starts = self.initial if start is None else frozenset(start)
        seen, todo = set(starts), list(starts)
        while todo:
            for following in self.table[todo.pop()]:
                if following not in seen:
                    seen.add(following)
                    todo.append(following)
        return frozenset(seen)
