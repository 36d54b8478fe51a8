"""The region tree: read from data, checked, and the one question access asks (`within`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yiwang.platform.errors import NotFound
from yiwang.regions import tree


def test_a_village_lies_within_its_township_county_city_and_province() -> None:
    above = [r.code for r in tree.ancestors("440106001001")]
    assert above == ["440106001", "440106", "440100", "440000"]
    assert all(tree.within("440106001001", scope) for scope in above)


def test_a_county_is_not_within_its_neighbour_nor_below_its_own_village() -> None:
    assert not tree.within("440104003001", "440106")
    assert not tree.within("440106", "440106001001")
    assert not tree.within("440106", None)
    assert not tree.within("999999", "440000")


def test_descendants_start_with_the_region_and_hold_everything_below() -> None:
    below = [r.code for r in tree.descendants("440106")]
    assert below[0] == "440106"
    assert {"440106001", "440106001001", "440106005", "440106005002"} <= set(below)
    assert "440104" not in below


def test_ancestor_at_a_level_and_level_names_are_the_trees_data() -> None:
    assert tree.ancestor_at("440106005002", "CITY").name == "广州市"
    assert tree.get("440106005").level_name == "街道"
    with pytest.raises(NotFound):
        tree.ancestor_at("440100", "COUNTY")


def test_a_tree_with_a_parent_below_its_child_is_refused(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    document = json.loads(tree.TREE_FILE.read_text(encoding="utf-8"))
    document["regions"].append(
        {"code": "440106009", "name": "错", "level": "TOWNSHIP", "parent": "440106001001"})
    broken = tmp_path / "regions.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setattr(tree, "TREE_FILE", broken)
    tree.tree.cache_clear()
    try:
        with pytest.raises(tree.InvalidTree, match="not above"):
            tree.tree()
    finally:
        monkeypatch.undo()
        tree.tree.cache_clear()
