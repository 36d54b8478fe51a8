"""主题定义: the merged form's check against each item's form schema, and the de-duplicated
material list, on the sample catalogue's documents (no cloud needed)."""

from __future__ import annotations

import copy
from typing import Any

from yiwang.catalogue.items import ItemVersion, sample_items
from yiwang.themes.definitions import (
    incompatibility,
    mapping_errors,
    merged_materials,
    sample_themes,
)

ITEMS = {i["code"]: ItemVersion.from_document(i, 1, "PUBLISHED") for i in sample_items()}
THEME = sample_themes()[0]


def items_of(theme: dict[str, Any]) -> dict[str, ItemVersion]:
    return {code: ITEMS[code] for code in theme["items"]}


def test_the_sample_theme_fits_its_items() -> None:
    assert mapping_errors(THEME, items_of(THEME)) == []


def test_a_merged_field_must_give_values_the_item_field_takes() -> None:
    assert incompatibility({"type": "integer"}, {"type": "number"}) is None
    assert incompatibility({"type": "string"}, {"type": "integer"}) is not None
    assert incompatibility({}, {"type": "string"}) is not None  # untyped gives anything
    enum = {"enum": ["餐饮服务经营者", "单位食堂"]}
    assert incompatibility({"enum": ["单位食堂"]}, enum) is None
    assert "食品销售" in str(incompatibility({"enum": ["食品销售"]}, enum))
    assert incompatibility({"type": "string"}, enum) is not None


def test_every_break_is_reported_at_its_path() -> None:
    theme = copy.deepcopy(THEME)
    theme["fields"].append({"name": "phone", "schema": {"type": "string"},
                            "maps": [{"itemCode": "NOT-IN-THEME", "field": "phone"}]})
    theme["fields"][4]["maps"].append(dict(theme["fields"][4]["maps"][0]))  # mapped twice
    theme["extraFields"][THEME["items"][2]].append("colour")
    paths = {e.path for e in mapping_errors(theme, items_of(theme))}
    assert paths == {"fields[5].name", "fields[5].maps[0].itemCode", "fields[4].maps[3].field",
                     f"extraFields.{THEME['items'][2]}[4]"}


def test_materials_with_the_same_id_and_name_or_a_way_in_common_are_asked_once() -> None:
    merged = merged_materials(list(items_of(THEME).values()))
    counts = {(m["id"], m["name"]): len(m["items"]) for m in merged}
    assert counts[("representative-identity", "法定代表人（负责人）身份证明")] == 2
    # Two items' application forms are different documents: asked of each.
    assert sum(1 for (material, _) in counts if material == "application-form") == 2
    licence = ITEMS[THEME["items"][0]]
    way = (("register", "COMPANY_REGISTER"),)
    first = licence.materials[2].__class__(**{**licence.materials[2].__dict__,
                                              "id": "premises-a", "satisfied_by": way})
    second = licence.materials[2].__class__(**{**licence.materials[2].__dict__,
                                               "id": "premises-b", "satisfied_by": way})
    a = ItemVersion(**{**licence.__dict__, "code": "A", "materials": (first,)})
    b = ItemVersion(**{**licence.__dict__, "code": "B", "materials": (second,)})
    assert [[use["materialId"] for use in m["items"]] for m in merged_materials([a, b])] == [
        ["premises-a", "premises-b"]]
