"""Service centres in the region tree, the regions right below one, where a record is placed
(`yiwang.regions.tree`), and a broken centre list refused when the tree is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yiwang.regions import tree


def test_centres_and_children_of_a_region() -> None:
    assert [c.name for c in tree.centres("440106")] == ["天河区政务服务中心"]
    assert [c.kind for c in tree.centres("440106001001")] == ["STATION"]
    assert [r.code for r in tree.children("440100")] == ["440104", "440106"]
    assert tree.children("440106001001") == []
    every = [r.code for r in tree.tree().regions.values()]
    assert all(tree.centres(code) for code in every), "every region has a window"


def test_a_record_is_placed_in_a_known_region_or_the_default() -> None:
    assert tree.placed(None).code == "440100"
    assert tree.placed("440106").level == "COUNTY"
    with pytest.raises(tree.UnknownRegion) as refused:
        tree.placed("449999")
    assert refused.value.code == "UNKNOWN_REGION"


def test_window_staff_sit_where_a_centre_is() -> None:
    assert tree.window_region("440106001001") == "440106001001"
    with pytest.raises(tree.UnknownRegion):
        tree.window_region("449999")


def test_a_centre_in_no_region_is_refused(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    document = json.loads(tree.TREE_FILE.read_text(encoding="utf-8"))
    document["centres"].append({"code": "X-ZWFW", "name": "无处中心", "kind": "CENTRE",
                                "region": "449999"})
    broken = tmp_path / "regions.json"
    broken.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(tree, "TREE_FILE", broken)
    tree.tree.cache_clear()
    try:
        with pytest.raises(tree.InvalidTree, match="X-ZWFW"):
            tree.tree()
    finally:
        monkeypatch.undo()
        tree.tree.cache_clear()
