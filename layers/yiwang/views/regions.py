"""How the region tree (行政区划) is shown: `GET /regions` and `GET /regions/{code}`."""

from __future__ import annotations

from typing import Any

from yiwang.catalogue import departments
from yiwang.regions import tree


def listing(under: str | None) -> dict[str, Any]:
    """The tree from `under` (the whole tree when None) down, in the tree's order (each region
    before those below it), with the level names and the default region; `NotFound` for an
    unknown `under`."""
    top = under or _root()
    return {"default": tree.default_region(), "levelNames": tree.tree().level_names,
            "under": under, "regions": [region.to_api() for region in tree.descendants(top)]}


def detail(code: str) -> dict[str, Any]:
    """One region: its parent chain (nearest first), the regions right below it, its service
    centres and the departments placed in it; `NotFound` for an unknown code."""
    region = tree.get(code)
    return {**region.to_api(),
            "ancestors": [above.to_api() for above in tree.ancestors(code)],
            "children": [below.to_api() for below in tree.children(code)],
            "centres": [centre.to_api() for centre in tree.centres(code)],
            "departments": [{"code": record.code, "name": record.name,
                             "status": record.status}
                            for record in departments.in_region(code)]}


def _root() -> str:
    return next(code for code, region in tree.tree().regions.items() if region.parent is None)
