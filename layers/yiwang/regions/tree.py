"""The region tree (行政区划), read once from `data/regions.json` and checked.

A region has a code (GB/T 2260 for province, city and county; the statistical division codes
for township and village), a name, a level (`LEVELS`, from the top) and its parent. The levels'
display names are the tree's data (`levelNames`): 省/市/区/街道/社区 here, 盟/旗/苏木/嘎查 for a
league. `within(code, scope)` answers the one question access control asks: is this region the
scope or below it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yiwang.platform import validation
from yiwang.platform.errors import NotFound

LEVELS = ("PROVINCE", "CITY", "COUNTY", "TOWNSHIP", "VILLAGE")
"""The levels from the top (省级、市级、县级、乡镇级、村级)."""
TREE_FILE = Path(__file__).parents[1] / "data" / "regions.json"
CODE_PATTERN = r"^[0-9]{6}([0-9]{3}([0-9]{3})?)?$"

_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "行政区划 (the region tree)",
    "type": "object",
    "required": ["default", "levelNames", "regions"],
    "properties": {
        "description": {"type": "string"},
        "default": {"type": "string", "pattern": CODE_PATTERN},
        "levelNames": {"type": "object", "required": list(LEVELS),
                       "additionalProperties": False,
                       "properties": {level: {"type": "string", "minLength": 1, "maxLength": 16}
                                      for level in LEVELS}},
        "regions": {
            "type": "array", "minItems": 1, "maxItems": 100000,
            "items": {
                "type": "object", "required": ["code", "name", "level", "parent"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "pattern": CODE_PATTERN},
                    "name": {"type": "string", "minLength": 1, "maxLength": 64},
                    "level": {"enum": list(LEVELS)},
                    "parent": {"type": ["string", "null"], "pattern": CODE_PATTERN},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Region:
    """One region of the tree."""

    code: str
    name: str
    level: str
    parent: str | None
    level_name: str

    def to_api(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "level": self.level,
                "levelName": self.level_name, "parent": self.parent}


@dataclass(frozen=True)
class Tree:
    """The whole tree: regions by code, and the default region."""

    regions: dict[str, Region]
    default: str


class InvalidTree(ValueError):
    """The tree file breaks its own rules (a programming or data error, found at start)."""


@functools.cache
def tree() -> Tree:
    """The tree, read and checked once: every parent exists and sits one level or more up,
    exactly one root, the default region exists."""
    document = json.loads(TREE_FILE.read_text(encoding="utf-8"))
    errors = validation.errors(_SCHEMA, document)
    if errors:
        raise InvalidTree(f"{TREE_FILE.name}: {errors[0].path}: {errors[0].message}")
    names = document["levelNames"]
    regions = {r["code"]: Region(r["code"], r["name"], r["level"], r["parent"], names[r["level"]])
               for r in document["regions"]}
    _check(regions, document["default"])
    return Tree(regions=regions, default=document["default"])


def _check(regions: dict[str, Region], default: str) -> None:
    roots = [r for r in regions.values() if r.parent is None]
    if len(roots) != 1:
        raise InvalidTree(f"the tree has {len(roots)} roots, not one")
    for region in regions.values():
        parent = regions.get(region.parent) if region.parent else None
        if region.parent and parent is None:
            raise InvalidTree(f"{region.code}: no parent {region.parent}")
        if parent and LEVELS.index(parent.level) >= LEVELS.index(region.level):
            raise InvalidTree(f"{region.code}: its parent is not above it")
    if default not in regions:
        raise InvalidTree(f"no default region {default}")


def default_region() -> str:
    """Where records made before regions existed are placed (the platform's own level)."""
    return tree().default


def known(code: str | None) -> bool:
    """Whether `code` is a region of the tree."""
    return code is not None and code in tree().regions


def get(code: str) -> Region:
    """Region `code`; `NotFound` if the tree has none."""
    region = tree().regions.get(code)
    if region is None:
        raise NotFound(f"no region {code}")
    return region


def ancestors(code: str) -> list[Region]:
    """The regions above `code`, nearest first (its parent, then the parent's parent ...)."""
    found: list[Region] = []
    parent = get(code).parent
    while parent is not None:
        region = get(parent)
        found.append(region)
        parent = region.parent
    return found


def within(code: str | None, scope: str | None) -> bool:
    """Whether region `code` is `scope` or below it. An unknown region is within nothing."""
    if not known(code) or not known(scope):
        return False
    return code == scope or any(region.code == scope for region in ancestors(code))


def descendants(code: str) -> list[Region]:
    """`code` and every region below it, the region first."""
    get(code)
    children: dict[str | None, list[Region]] = {}
    for region in tree().regions.values():
        children.setdefault(region.parent, []).append(region)
    found, queue = [], [code]
    while queue:
        current = queue.pop(0)
        found.append(get(current))
        queue += sorted(r.code for r in children.get(current, []))
    return found


def ancestor_at(code: str, level: str) -> Region:
    """The region at `level` that `code` lies in (itself, if it is at that level);
    `NotFound` if `code` lies at a level above `level`."""
    for region in [get(code), *ancestors(code)]:
        if region.level == level:
            return region
    raise NotFound(f"region {code} lies in no {level} region")
