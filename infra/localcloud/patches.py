"""Every change the local cloud makes to a library's code (moto's, chalice's test client), in
one registry, each applied once per process.

A patch names what it replaces (a class's or module's attribute) and builds the replacement
from the original; `replace` refuses clearly when the attribute is gone (a moto upgrade
renamed or removed it) instead of adding a stray attribute nothing calls, and a second call (a
second cloud started in the same process, as `make bench` does) leaves the first in place, so
nothing is wrapped twice. `applied()` lists them for tests/infra/localcloud/test_patches.py,
which checks each original's signature, so an upgrade that changes one fails there first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MISSING: Any = object()
"""The `original` of a patch that adds an attribute the library lacks."""


class PatchOutdated(RuntimeError):
    """What a patch replaces is not (or, for an addition, is now) in the library."""


@dataclass(frozen=True)
class Patch:
    """One replaced (or added) attribute."""

    owner: Any
    name: str
    original: Any
    replacement: Any

    @property
    def qualname(self) -> str:
        """`LambdaFunction.invoke`, `moto.s3.notifications.send_event`."""
        return f"{getattr(self.owner, '__qualname__', self.owner.__name__)}.{self.name}"

    def in_effect(self) -> bool:
        """Whether the owner holds the replacement now."""
        return vars(self.owner).get(self.name) is self.replacement


_APPLIED: dict[tuple[int, str], Patch] = {}
_LOCK = threading.Lock()


def replace(owner: Any, name: str, make: Callable[[Any], Any], *, adds: bool = False) -> Patch:
    """Set `owner.name` to `make(original)`, once per process; `adds` for an attribute the
    library does not have. `PatchOutdated` when the library no longer matches."""
    with _LOCK:
        key = (id(owner), name)
        if key in _APPLIED:
            return _APPLIED[key]
        label = f"{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"
        if adds:
            if hasattr(owner, name):
                raise PatchOutdated(f"{label} exists now; review the patch that adds it")
            original = MISSING
        else:
            if not hasattr(owner, name):
                raise PatchOutdated(f"{label} is gone (renamed or removed by an upgrade); "
                                    "the local cloud's patch of it must follow")
            original = getattr(owner, name)
        patch = Patch(owner, name, original, make(original))
        setattr(owner, name, patch.replacement)
        _APPLIED[key] = patch
        return patch


def applied() -> list[Patch]:
    """Every patch applied in this process, in the order applied."""
    return list(_APPLIED.values())
