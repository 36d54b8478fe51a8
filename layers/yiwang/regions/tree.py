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
from yiwang.platform.errors import NotFound, Unprocessable

LEVELS = ("PROVINCE", "CITY", "COUNTY", "TOWNSHIP", "VILLAGE")
"""The levels from the top (省级、市级、县级、乡镇级、村级)."""
CENTRE_KINDS = ("CENTRE", "STATION")
"""政务服务中心 (a service centre) and 便民服务站 (a village's service station)."""
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
        "centres": {
            "type": "array", "maxItems": 100000,
            "items": {
                "type": "object", "required": ["code", "name", "kind", "region"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "pattern": r"^[A-Z0-9]+(-[A-Z0-9]+)*$",
                             "maxLength": 32},
                    "name": {"type": "string", "minLength": 1, "maxLength": 64},
                    "kind": {"enum": list(CENTRE_KINDS)},
                    "region": {"type": "string", "pattern": CODE_PATTERN},
                },
            },
        },
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
class Centre:
    """A service centre or station (政务服务中心、便民服务站): a place of a region where windows
    sit."""

    code: str
    name: str
    kind: str
    region: str

    def to_api(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "kind": self.kind, "region": self.region}


@dataclass(frozen=True)
class Tree:
    """The whole tree: regions by code, the default region, the service centres by code."""

    regions: dict[str, Region]
    default: str
    centres: dict[str, Centre]
    level_names: dict[str, str]


class UnknownRegion(Unprocessable):
    """A record names a region the tree does not have (422, `UNKNOWN_REGION`)."""

    code = "UNKNOWN_REGION"
    title = "No such region in the region tree"


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
    centres = {c["code"]: Centre(c["code"], c["name"], c["kind"], c["region"])
               for c in document.get("centres", [])}
    for centre in centres.values():
        if centre.region not in regions:
            raise InvalidTree(f"centre {centre.code}: no region {centre.region}")
    return Tree(regions=regions, default=document["default"], centres=centres,
                level_names=dict(names))


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


def placed(code: str | None) -> Region:
    """The region a record is placed in: `code`, or the default region when None;
    `UnknownRegion` (422) for a code the tree does not have."""
    code = default_region() if code is None else code
    if not known(code):
        raise UnknownRegion(f"no region {code} in the region tree")
    return get(code)


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


def children(code: str) -> list[Region]:
    """The regions right below `code`, by code."""
    get(code)
    return sorted((r for r in tree().regions.values() if r.parent == code),
                  key=lambda region: region.code)


def centres(code: str) -> list[Centre]:
    """The service centres and stations of region `code` itself, by code."""
    get(code)
    return sorted((c for c in tree().centres.values() if c.region == code),
                  key=lambda centre: centre.code)


def window_region(code: str) -> str:
    """The region of window staff who sit at a centre of region `code`: `code`, if the tree
    has it and a service centre or station there; otherwise `UnknownRegion` (422)."""
    if not known(code) or not centres(code):
        raise UnknownRegion(f"no service centre or station in region {code}: window staff "
                            "carry the region of the centre where they sit")
    return code


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
