"""Domain modules for the routes, imported when a request first uses them (cold starts).

Every blueprint is registered when the app is imported, so a route module must not import the
domain at its top: the API's cold start would pay for every part of the contract (complaints,
ratings, statistics, certificates...) before answering its first request, whichever it is. A
route module names the domain modules it uses instead::

    from chalicelib.lazy import lazy

    applications = lazy("yiwang.applications.drafts")

    @routes.route("/applications/{application_id}", ...)
    def get_application(application_id):
        return applications.load_for(...)  # yiwang.applications.drafts is imported here, once

The name behaves as the module for attribute access; the module itself is imported normally
(into `sys.modules`, by the ordinary import system) on the first attribute read, so whatever
patches or reloads the real module is seen through it. Types in annotations stay strings
(`from __future__ import annotations`) and are never evaluated.

Eager in the API, because every request needs them: `yiwang.platform.errors`,
`yiwang.people.access`, `yiwang.people.policy` (`app.py` refuses a role before the view runs),
`yiwang.platform.config` (through `chalicelib.auth`) and
`yiwang.platform.observability` (the X-Ray patch of botocore must be in place before any AWS
call; `app.py`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


class LazyModule:
    """A module imported on the first attribute read (then looked up in `sys.modules`)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        # Always through the import system: a module another thread is still importing is in
        # `sys.modules` half-initialized, and `import_module` waits for it where a look-up in
        # `sys.modules` would not (concurrent first requests on a threaded server).
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        state = "imported" if self._name in sys.modules else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy(name: str) -> Any:
    """The module `name`, imported when first used (typed `Any`: a stand-in for the module)."""
    return LazyModule(name)
