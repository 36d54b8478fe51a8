"""主题 (themes, 一件事一次办): several published items behind one merged form.

A theme is data an administrator defines from published items: its `items` (2 to 10 item
codes), its merged form (`fields`: each a name, a JSON-schema fragment, and the item form
fields it fills, so a field several items share is asked once), and each item's own
`extraFields` (asked of that item alone). The definition is checked against each item's
published form schema (`mapping_errors`): every required field of every item is filled by the
merged form or among the item's extra fields, every mapped field exists, and a merged field's
values are values the item's field takes (types, enums). A definition that breaks an item is
refused (422) with the path of every break.

The material list is de-duplicated (`merged_materials`, docs/rules.md §18): two items'
materials are asked once when they have the same id and the same name, or when they can be
stood in for by the same certificate or register (a `satisfiedBy` way in common).

Records, in the single table:
- theme: pk=`THEME#<code>`, sk=`META`: the definition, the item versions it was checked
  against, who defined it and when; gsi1pk=`THEMES`, gsi1sk=`<code>` (the list, one Query);
- audit: pk=`THEME#<code>`, sk=`AUDIT#...` (`records.AuditRecord`), one per definition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pynamodb.attributes import (
    JSONAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.catalogue.items import ItemVersion, get_item
from yiwang.people import policy
from yiwang.people.access import Caller
from yiwang.platform import validation
from yiwang.platform.errors import (
    FieldError,
    FieldsUnprocessable,
    NotFound,
    ValidationFailed,
)
from yiwang.table.records import ListIndex, TableMeta, connection, new_audit_for
from yiwang.table.writes import write_or_conflict

THEMES_PARTITION = "THEMES"
SAMPLE_THEMES = Path(__file__).parents[1] / "data" / "themes.json"
MIN_ITEMS, MAX_ITEMS = 2, 10

_NAME = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9]*$", "maxLength": 64}
_ITEM_CODE = {"type": "string", "minLength": 3, "maxLength": 64,
              "pattern": r"^[0-9A-Z]+(-[0-9A-Z]+)*$"}
_THEME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "name", "items", "fields"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "minLength": 2, "maxLength": 32,
                 "pattern": r"^[A-Z0-9]+(-[A-Z0-9]+)*$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "maxLength": 2000},
        "items": {"type": "array", "items": _ITEM_CODE, "minItems": MIN_ITEMS,
                  "maxItems": MAX_ITEMS, "uniqueItems": True},
        "fields": {
            "type": "array", "maxItems": 100,
            "items": {
                "type": "object", "required": ["name", "schema", "maps"],
                "additionalProperties": False,
                "properties": {
                    "name": _NAME,
                    # A JSON-schema fragment (checked as one); bounded by the request reader.
                    "schema": {"type": "object", "maxProperties": 32},
                    "maps": {"type": "array", "minItems": 1, "maxItems": 20,
                             "items": {"type": "object", "required": ["itemCode", "field"],
                                       "additionalProperties": False,
                                       "properties": {"itemCode": _ITEM_CODE,
                                                      "field": _NAME}}},
                },
            },
        },
        "extraFields": {"type": "object", "maxProperties": MAX_ITEMS,
                        "additionalProperties": {"type": "array", "items": _NAME,
                                                 "maxItems": 100, "uniqueItems": True}},
        # What `GET /themes/{code}` answers carries besides; never taken from a payload.
        "materials": {"readOnly": True},
        "itemVersions": {"readOnly": True},
        "itemNames": {"readOnly": True},
    },
}


@dataclass(frozen=True)
class Theme:
    """One theme as defined (`document`), with the published item versions it fits."""

    code: str
    name: str
    document: dict[str, Any]
    item_versions: dict[str, int]

    @property
    def item_codes(self) -> list[str]:
        return list(self.document["items"])

    def items(self) -> list[ItemVersion]:
        """The theme's items, at their published versions now."""
        return [get_item(code) for code in self.item_codes]

    def extra_fields(self, code: str) -> list[str]:
        return list((self.document.get("extraFields") or {}).get(code, []))

    def form_of(self, code: str, merged: dict[str, Any],
                own: dict[str, Any]) -> dict[str, Any]:
        """Item `code`'s form: the merged form's values for the fields they fill, and the
        item's own extra fields (anything else given for it is dropped)."""
        form = {name: own[name] for name in self.extra_fields(code) if name in own}
        for entry in self.document["fields"]:
            if entry["name"] not in merged:
                continue
            for target in entry["maps"]:
                if target["itemCode"] == code:
                    form[target["field"]] = merged[entry["name"]]
        return form

    def source_of(self, code: str, field: str) -> str:
        """Where the theme's submission asks for item `code`'s form field: the merged field's
        path (`form.companyName`), else the item's own (`itemForms.<code>.<field>`)."""
        for entry in self.document["fields"]:
            if {"itemCode": code, "field": field} in entry["maps"]:
                return f"form.{entry['name']}"
        return f"itemForms.{code}.{field}"

    def to_api(self) -> dict[str, Any]:
        """The theme as `GET /themes/{code}` answers it: the definition, each item's name and
        version, and the de-duplicated material list."""
        items = self.items()
        return {**self.document, "itemNames": {i.code: i.name for i in items},
                "itemVersions": {i.code: i.version for i in items},
                "materials": merged_materials(items)}

    def summary(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "items": self.item_codes}


class ThemeRecord(Model):
    """主题: one theme's definition."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    document = JSONAttribute()
    item_versions = JSONAttribute(attr_name="itemVersions")
    defined_by = UnicodeAttribute(attr_name="definedBy")
    defined_at = UTCDateTimeAttribute(attr_name="definedAt")
    gsi1pk = UnicodeAttribute(default=THEMES_PARTITION)
    gsi1sk = UnicodeAttribute()
    revision = VersionAttribute()
    by_list = ListIndex()

    @staticmethod
    def key(code: str) -> str:
        return f"THEME#{code}"

    def theme(self) -> Theme:
        return Theme(self.code, self.name, self.document,
                     {k: int(v) for k, v in self.item_versions.items()})


# --- checking a definition -------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema's values may have (None: any)."""
    if "enum" in schema:
        return {_json_type(v) for v in schema["enum"]}
    if "const" in schema:
        return {_json_type(schema["const"])}
    declared = schema.get("type")
    if declared is None:
        return None
    return set(declared) if isinstance(declared, list) else {declared}


def incompatibility(merged: dict[str, Any], target: dict[str, Any]) -> str | None:
    """Why values of the merged field's schema may not fit the item field's, else None: the
    item's types must admit the merged field's (an integer fits a number), and an item field
    with an enum takes only a merged field whose enum lies within it."""
    wanted, given = _types(target), _types(merged)
    if wanted is not None:
        if given is None:
            return f"the item's field takes only {sorted(wanted)}; the merged field is untyped"
        admitted = wanted | ({"integer"} if "number" in wanted else set())
        if not given <= admitted:
            return (f"the item's field takes {sorted(wanted)}, the merged field gives "
                    f"{sorted(given)}")
    if "enum" in target:
        if "enum" not in merged:
            return "the item's field takes only the values of its enum"
        outside = [v for v in merged["enum"] if v not in target["enum"]]
        if outside:
            return f"the item's field does not take {outside}"
    return None


def mapping_errors(document: dict[str, Any], items: dict[str, ItemVersion]) -> list[FieldError]:
    """Every way the definition breaks an item's published form schema, at its path."""
    errors: list[FieldError] = []
    filled: dict[str, set[str]] = {code: set() for code in items}
    names: set[str] = set()
    for i, entry in enumerate(document["fields"]):
        if entry["name"] in names:
            errors.append(FieldError(f"fields[{i}].name", f"{entry['name']} is defined twice"))
        names.add(entry["name"])
        try:
            Draft202012Validator.check_schema(entry["schema"])
        except SchemaError as bad:
            errors.append(FieldError(f"fields[{i}].schema", f"not a JSON schema: {bad.message}"))
            continue
        for j, target in enumerate(entry["maps"]):
            errors += _map_errors(f"fields[{i}].maps[{j}]", entry["schema"], target, items,
                                  filled)
    for code, extra in (document.get("extraFields") or {}).items():
        if code not in items:
            errors.append(FieldError(f"extraFields.{code}", "not one of the theme's items"))
            continue
        known = items[code].form_schema.get("properties", {})
        for k, name in enumerate(extra):
            if name not in known:
                errors.append(FieldError(f"extraFields.{code}[{k}]",
                                         f"{items[code].name} has no form field {name}"))
            elif name in filled[code]:
                errors.append(FieldError(f"extraFields.{code}[{k}]",
                                         f"{name} is filled by the merged form already"))
        filled[code] |= set(extra)
    for i, code in enumerate(document["items"]):
        for name in items[code].form_schema.get("required", []):
            if name not in filled[code]:
                errors.append(FieldError(
                    f"items[{i}]", f"required field {name} of {items[code].name} is neither in "
                                   f"the merged form nor among its extra fields"))
    return errors


def _map_errors(path: str, schema: dict[str, Any], target: dict[str, Any],
                items: dict[str, ItemVersion], filled: dict[str, set[str]]) -> list[FieldError]:
    code, name = target["itemCode"], target["field"]
    if code not in items:
        return [FieldError(f"{path}.itemCode", f"{code} is not one of the theme's items")]
    field = items[code].form_schema.get("properties", {}).get(name)
    if not isinstance(field, dict):
        return [FieldError(f"{path}.field", f"{items[code].name} has no form field {name}")]
    if name in filled[code]:
        return [FieldError(f"{path}.field", f"{name} of {items[code].name} is mapped twice")]
    filled[code].add(name)
    why = incompatibility(schema, field)
    return [FieldError(f"{path}.field", f"{items[code].name}.{name}: {why}")] if why else []


def check_definition(payload: Any, code: str | None = None) -> tuple[dict[str, Any],
                                                                     list[ItemVersion]]:
    """The definition as stored, and its published items: `ValidationFailed` (400) for a
    malformed document, `FieldsUnprocessable` (422) for one that breaks an item's schema
    (an item not published is one such break)."""
    if isinstance(payload, dict) and code is not None:
        payload = {**payload, "code": payload.get("code", code)}
    errors = validation.errors(_THEME_SCHEMA, payload)
    if not errors and code is not None and payload["code"] != code:
        errors.append(FieldError("code", f"the path names {code}"))
    if errors:
        raise ValidationFailed(errors)
    document = {k: v for k, v in payload.items()
                if k not in {"materials", "itemVersions", "itemNames"}}
    items: dict[str, ItemVersion] = {}
    missing: list[FieldError] = []
    for i, item_code in enumerate(document["items"]):
        try:
            items[item_code] = get_item(item_code)
        except NotFound:
            missing.append(FieldError(f"items[{i}]", f"no published item {item_code}"))
    if missing:
        raise FieldsUnprocessable(missing)
    broken = mapping_errors(document, items)
    if broken:
        raise FieldsUnprocessable(broken)
    return document, [items[c] for c in document["items"]]


# --- the de-duplicated material list --------------------------------------------------------


def merged_materials(items: list[ItemVersion]) -> list[dict[str, Any]]:
    """每份材料只交一次: the theme's materials, each once, with the items it serves. Two
    materials are one when their id and name are the same, or when a certificate or register
    stands in for both (a `satisfiedBy` way in common); required if any item requires it."""
    merged: list[dict[str, Any]] = []
    for item in items:
        for material in item.materials:
            ways = set(material.satisfied_by)
            same = next((m for m in merged if (m["id"], m["name"]) == (material.id, material.name)
                         or ways & m["_ways"]), None)
            if same is None:
                same = {"id": material.id, "name": material.name, "required": False,
                        "items": [], "_ways": set()}
                merged.append(same)
            same["required"] = same["required"] or material.required
            same["items"].append({"itemCode": item.code, "materialId": material.id})
            same["_ways"] |= ways
    return [{k: v for k, v in m.items() if k != "_ways"} for m in merged]


# --- reading and writing ---------------------------------------------------------------------


def get_theme(code: str) -> Theme:
    """The theme `code`; `NotFound` if none is defined."""
    try:
        return ThemeRecord.get(ThemeRecord.key(code), "META").theme()
    except ThemeRecord.DoesNotExist as missing:
        raise NotFound(f"no theme {code}") from missing


def list_themes() -> list[Theme]:
    """Every theme, by code (one Query on the list index)."""
    return [record.theme() for record in ThemeRecord.by_list.query(THEMES_PARTITION)]


def define(caller: Caller, payload: Any, code: str | None = None,
           now: datetime | None = None) -> Theme:
    """`POST /themes` (a new code: `Conflict` if it exists) or `PUT /themes/{code}` (defines
    or replaces it), checked against the items' published schemas, audited."""
    policy.permit("putTheme" if code else "createTheme", caller)
    return _write(caller.sub, *check_definition(payload, code), replace=code is not None,
                  now=now)


def _write(actor: str, document: dict[str, Any], items: list[ItemVersion], *, replace: bool,
           now: datetime | None = None) -> Theme:
    now = now or datetime.now(UTC)
    code = document["code"]
    record = ThemeRecord(ThemeRecord.key(code), "META", code=code, name=document["name"],
                         document=document, item_versions={i.code: i.version for i in items},
                         defined_by=actor, defined_at=now, gsi1sk=code)
    existing = None
    if replace:
        try:
            existing = ThemeRecord.get(record.pk, "META", consistent_read=True)
            record.revision = existing.revision
        except ThemeRecord.DoesNotExist:
            existing = None
    audit = new_audit_for(record.pk, actor, "THEME_DEFINED" if existing is None
                          else "THEME_CHANGED", None, None,
                          {"items": record.item_versions})

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            if existing is None:
                transaction.save(record, condition=ThemeRecord.pk.does_not_exist())
            else:
                transaction.save(record)
            transaction.save(audit)

    write_or_conflict(write, f"theme {code} exists already" if existing is None
                      else f"theme {code} changed meanwhile")
    return record.theme()


def sample_themes() -> list[dict[str, Any]]:
    """The sample themes shipped with the layer (`data/themes.json`)."""
    return json.loads(SAMPLE_THEMES.read_text(encoding="utf-8"))["themes"]


def ensure_defined(payload: dict[str, Any], actor: str) -> bool:
    """Make `payload` the theme's definition; idempotent (True when something was written)."""
    document, items = check_definition(payload)
    try:
        if ThemeRecord.get(ThemeRecord.key(document["code"]), "META",
                           consistent_read=True).document == document:
            return False
    except ThemeRecord.DoesNotExist:
        pass
    _write(actor, document, items, replace=True)
    return True
