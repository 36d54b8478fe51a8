"""政务服务事项 catalogue: service items as versioned records ("same item, same standard, same
code" across every channel).

An item changes only through versions (事项管理, `yiwang.catalogue.governance`): its department
or the reform office (审改部门, administrators) drafts a version (草稿, `DRAFT`); the department
submits it (送审, `SUBMITTED`) and the reform office publishes it (发布, `PUBLISHED`) or returns
it with reasons (退回, `RETURNED`; the department drafts the next version); the office publishes
its own drafts directly. The published version is what the portal shows and what a new
application is processed under. Earlier versions stay readable, because an application is
decided under the version it was submitted against. Each state change is one DynamoDB
transaction: the head record, the version record and an audit record (全程留痕) together.

Records, in the single table:
- head: pk=`ITEM#<code>`, sk=`META`: code, name, leadDepartment, coDepartments (the published
  version's, the first draft's until one is published), latestVersion, publishedVersion, a copy
  of the published version's document, latestStatus, the standing changes (暂停、恢复、终止:
  standingChanges, closedFrom, reopenFrom; `yiwang.catalogue.standing`), gsi1pk=`CATALOGUE`,
  gsi1sk=`<code>`, and `revision`, a version attribute for optimistic locking;
- version: pk=`ITEM#<code>`, sk=`V#<version, 6 digits>`: the item document, status, who
  drafted it (origin OFFICE or DEPARTMENT), who submitted, returned (with the reasons) and
  published it, when;
- audit: pk=`ITEM#<code>`, sk=`AUDIT#<time>#<random>` (`records.AuditRecord`).

Access patterns, and the key that serves each:
- the catalogue list (portal home, `GET /items?department=&q=`): one Query on ListIndex,
  gsi1pk=`CATALOGUE`, ordered by code, filtered to published items (and to a department,
  lead or co-department, in the same Query); never a Scan;
- an item's published version (`GET /items/{code}`, intake of a new application): GetItem on
  the head, which carries the published document;
- a given version (`?version=`, every later step of an application): GetItem on `V#<n>`;
  published versions never change, so they are also cached in the process;
- an item's audit trail, oldest first: Query pk=`ITEM#<code>`, sk begins `AUDIT#`;
- the review lists (`GET /item-reviews`): one Query on ListIndex, filtered on the head's
  `latestStatus`.

Concurrency: a new code is created with `attribute_not_exists` on the head and on `V#000001`;
a new version number is `latestVersion + 1`, written with the head's `revision` as the
condition and `attribute_not_exists` on the version record; submitting, returning and
publishing require the head's `revision` unchanged and the version still in the status it was
read in. Of two administrators acting at once on
the same item exactly one wins; the other gets `Conflict` and nothing of theirs is written.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.catalogue import standing
from yiwang.platform import validation
from yiwang.platform.errors import Conflict, FieldError, NotFound, ValidationFailed
from yiwang.regions.tree import LEVELS
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, connection, new_audit_for
from yiwang.table.writes import write_or_conflict

DRAFT = "DRAFT"
SUBMITTED = "SUBMITTED"
RETURNED = "RETURNED"
PUBLISHED = "PUBLISHED"
OFFICE = "OFFICE"
"""A version drafted by the reform office (审改部门, the administrators): it publishes it itself."""
DEPARTMENT = "DEPARTMENT"
"""A version drafted by the item's department: submitted to the reform office, which reviews it."""
INSTANT = "INSTANT"
PROMISED = "PROMISED"
JOINT = "JOINT"
ESCALATED = "ESCALATED"
"""上报件: accepted by a lower level's window, handled by a higher level's departments
(`escalation`: `acceptedAt` levels, `handledAt` level; `yiwang.applications.escalation`)."""
CATEGORIES = (
    "行政许可", "行政给付", "行政确认", "行政裁决", "行政奖励", "其他行政权力", "公共服务")
FORMATS = ("pdf", "ofd", "jpg", "jpeg", "png", "tif", "dwg", "dxf", "doc", "docx", "xls", "xlsx")
MAX_MATERIAL_BYTES = 5 * 1024**3
"""The largest material an item may accept (5 GiB; drawings are uploaded in multipart parts)."""
CATALOGUE_PARTITION = "CATALOGUE"
SAMPLE_ITEMS = Path(__file__).parents[1] / "data" / "items.json"

_CODE = r"^[0-9A-Z]+(-[0-9A-Z]+)*$"
_DEPARTMENT = {"type": "string", "pattern": r"^[A-Z0-9]+(-[A-Z0-9]+)*$", "maxLength": 32}
_ITEM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "政务服务事项 (one version of a service item)",
    "type": "object",
    "required": ["code", "name", "category", "kind", "leadDepartment", "statutoryDays",
                 "promisedDays", "feeFen", "formSchema", "materials", "legalBasis",
                 "applicantKinds", "deliveryMethods"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "minLength": 3, "maxLength": 64, "pattern": _CODE},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "category": {"enum": list(CATEGORIES)},
        "kind": {"enum": [INSTANT, PROMISED, JOINT, ESCALATED]},
        "leadDepartment": _DEPARTMENT,
        "coDepartments": {"type": "array", "items": _DEPARTMENT, "uniqueItems": True,
                          "maxItems": 20},
        "statutoryDays": {"type": "integer", "minimum": 0, "maximum": 365},
        "promisedDays": {"type": "integer", "minimum": 0, "maximum": 365},
        "feeFen": {"type": "integer", "minimum": 0, "maximum": 10**10},
        # Bounded by the request reader (size, depth); forms are held to validation.FORM_BOUNDS.
        "formSchema": {"type": "object"},
        "materials": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["id", "name", "required", "formats", "maxBytes"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$",
                           "maxLength": 64},
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "required": {"type": "boolean"},
                    "formats": {"type": "array", "items": {"enum": list(FORMATS)},
                                "minItems": 1, "uniqueItems": True},
                    "maxBytes": {"type": "integer", "minimum": 1,
                                 "maximum": MAX_MATERIAL_BYTES},
                    "laterAllowed": {"type": "boolean"},
                    # 免提交: what may stand in for the file — a certificate of a type (another
                    # issuer's type code, or the item code of the platform's own certificate)
                    # or a register check (the company register stands for a business licence).
                    "satisfiedBy": {
                        "type": "array", "maxItems": 8,
                        "items": {"type": "object", "maxProperties": 1, "minProperties": 1,
                                  "additionalProperties": False,
                                  "properties": {
                                      "certificate": {"type": "string", "minLength": 1,
                                                      "maxLength": 64},
                                      "register": {"enum": ["PERSON_REGISTER",
                                                            "COMPANY_REGISTER"]}}}},
                    # Who must give it (default: every applicant kind the item admits).
                    "applicantKinds": {"type": "array", "items": {"enum": ["PERSON", "LEGAL"]},
                                       "minItems": 1, "uniqueItems": True},
                },
            },
        },
        "legalBasis": {"type": "string", "minLength": 1, "maxLength": 2000},
        "applicantKinds": {"type": "array", "items": {"enum": ["PERSON", "LEGAL"]},
                           "minItems": 1, "uniqueItems": True},
        "deliveryMethods": {"type": "array", "items": {"enum": ["PICKUP", "COURIER"]},
                            "minItems": 1, "uniqueItems": True},
        # 容缺: whether the promise (承诺时限) stops counting while a material committed at
        # acceptance is outstanding (yiwang.applications.commitments). Default: it counts.
        "laterPausesPromise": {"type": "boolean"},
        # How long its certificates are valid (证照有效期), in years; without it, the
        # certificates' default (`yiwang.fulfilment.certificates.DEFAULT_VALIDITY_YEARS`).
        "validityYears": {"type": "integer", "minimum": 1, "maximum": 50},
        # 上报件 (kind ESCALATED): the levels whose windows accept it and the level whose
        # departments (leadDepartment, coDepartments) handle it.
        "escalation": {
            "type": "object", "required": ["acceptedAt", "handledAt"],
            "additionalProperties": False,
            "properties": {
                "acceptedAt": {"type": "array", "items": {"enum": list(LEVELS)},
                               "minItems": 1, "maxItems": len(LEVELS), "uniqueItems": True},
                "handledAt": {"enum": list(LEVELS)},
            },
        },
        # What `GET /items/{code}` answers also carries these; a client may send that document
        # back as the next draft. They are set by the platform, never taken from the payload.
        "version": {"readOnly": True},
        "status": {"readOnly": True},
        "standing": {"readOnly": True},
        "standingChanges": {"readOnly": True},
    },
}


@dataclass(frozen=True)
class Material:
    """申请材料: one document an application needs."""

    id: str
    name: str
    required: bool
    formats: tuple[str, ...]
    max_bytes: int
    later_allowed: bool = False  # 容缺后补: accepted without it; due before the decision
    satisfied_by: tuple[tuple[str, str], ...] = ()
    """免提交: (`certificate`, type) or (`register`, name) pairs that may stand in for it."""
    applicant_kinds: tuple[str, ...] = ()
    """Who must give it; empty: every applicant kind the item admits."""

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "required": self.required,
                "formats": list(self.formats), "maxBytes": self.max_bytes,
                "laterAllowed": self.later_allowed,
                **({"satisfiedBy": [{kind: value} for kind, value in self.satisfied_by]}
                   if self.satisfied_by else {}),
                **({"applicantKinds": list(self.applicant_kinds)}
                   if self.applicant_kinds else {})}

    def applies_to(self, applicant_kind: str) -> bool:
        """Whether an applicant of this kind (PERSON, LEGAL) must give it."""
        return not self.applicant_kinds or applicant_kind in self.applicant_kinds


@dataclass(frozen=True)
class ItemVersion:
    """One version of a service item, as an application is processed under it."""

    code: str
    name: str
    category: str
    kind: str  # INSTANT 即办件 | PROMISED 承诺件 | JOINT 联办件
    lead_department: str
    co_departments: tuple[str, ...]
    statutory_days: int
    promised_days: int
    fee_fen: int
    form_schema: dict = field(hash=False)
    materials: tuple[Material, ...]
    version: int
    status: str  # DRAFT | SUBMITTED | RETURNED | PUBLISHED
    legal_basis: str
    applicant_kinds: tuple[str, ...]  # PERSON and/or LEGAL
    delivery_methods: tuple[str, ...]  # PICKUP and/or COURIER
    later_pauses_promise: bool = False  # 容缺 outstanding: the promise does not count
    validity_years: int | None = None  # 证照有效期, when the item gives one
    standing: str | None = field(default=None, compare=False)
    """事项状态 today (ACTIVE, SUSPENDED): known when read from the item's head, else None."""
    escalation: dict | None = field(default=None, hash=False)
    """上报件: `{"acceptedAt": [levels], "handledAt": level}`; None for every other kind."""

    @property
    def departments(self) -> tuple[str, ...]:
        """Every department that reviews an application: the lead first, then co-departments."""
        return (self.lead_department, *self.co_departments)

    def to_api(self) -> dict[str, Any]:
        """The item as `GET /items/{code}` answers it (openapi.yaml, camelCase)."""
        return {**self.document(), "version": self.version, "status": self.status}

    def summary(self) -> dict[str, Any]:
        """ItemSummary, one entry of `GET /items`."""
        return {"code": self.code, "name": self.name, "category": self.category,
                "kind": self.kind, "leadDepartment": self.lead_department,
                "feeFen": self.fee_fen, "promisedDays": self.promised_days,
                "version": self.version,
                **({"standing": self.standing} if self.standing else {})}

    def document(self) -> dict[str, Any]:
        """The item's content, without version and status: what a version record stores."""
        return {
            "code": self.code, "name": self.name, "category": self.category, "kind": self.kind,
            "leadDepartment": self.lead_department, "coDepartments": list(self.co_departments),
            "statutoryDays": self.statutory_days, "promisedDays": self.promised_days,
            "feeFen": self.fee_fen, "formSchema": self.form_schema,
            "materials": [m.to_api() for m in self.materials], "legalBasis": self.legal_basis,
            "applicantKinds": list(self.applicant_kinds),
            "deliveryMethods": list(self.delivery_methods),
            **({"laterPausesPromise": True} if self.later_pauses_promise else {}),
            **({"validityYears": self.validity_years} if self.validity_years else {}),
            **({"escalation": self.escalation} if self.escalation else {}),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any], version: int, status: str,
                      standing: str | None = None) -> ItemVersion:
        return cls(
            code=document["code"], name=document["name"], category=document["category"],
            kind=document["kind"], lead_department=document["leadDepartment"],
            co_departments=tuple(document.get("coDepartments", ())),
            statutory_days=int(document["statutoryDays"]),
            promised_days=int(document["promisedDays"]), fee_fen=int(document["feeFen"]),
            form_schema=document["formSchema"],
            materials=tuple(
                Material(id=m["id"], name=m["name"], required=bool(m["required"]),
                         formats=tuple(m["formats"]), max_bytes=int(m["maxBytes"]),
                         later_allowed=bool(m.get("laterAllowed", False)),
                         satisfied_by=tuple(next(iter(way.items()))
                                            for way in m.get("satisfiedBy") or ()),
                         applicant_kinds=tuple(m.get("applicantKinds") or ()))
                for m in document["materials"]),
            version=int(version), status=status, legal_basis=document["legalBasis"],
            applicant_kinds=tuple(document["applicantKinds"]),
            delivery_methods=tuple(document["deliveryMethods"]),
            later_pauses_promise=bool(document.get("laterPausesPromise", False)),
            validity_years=(int(document["validityYears"]) if document.get("validityYears")
                            else None),
            standing=standing,
            escalation=document.get("escalation"),
        )


class _Document(JSONAttribute):
    """JSON text with Chinese kept as is (half the bytes of `\\uXXXX` escapes)."""

    def serialize(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class ItemHeadRecord(Model):
    """The head of one item: which version is published, which is the latest."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    lead_department = UnicodeAttribute(attr_name="leadDepartment")
    co_departments = ListAttribute(of=UnicodeAttribute, attr_name="coDepartments", default=list)
    latest_version = NumberAttribute(attr_name="latestVersion")
    published_version = NumberAttribute(attr_name="publishedVersion", null=True)
    published = _Document(null=True)
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    updated_at = UTCDateTimeAttribute(attr_name="updatedAt")
    gsi1pk = UnicodeAttribute(default=CATALOGUE_PARTITION)
    gsi1sk = UnicodeAttribute()
    revision = VersionAttribute()
    catalogue = ListIndex()
    latest_status = UnicodeAttribute(attr_name="latestStatus", null=True)
    """The latest version's status, for the review lists (absent on records older than 事项管理:
    read as that of a published item)."""
    standing_changes = _Document(attr_name="standingChanges", null=True)
    """暂停、恢复、终止: every change of standing, oldest first (`yiwang.catalogue.standing`)."""
    closed_from = UnicodeAttribute(attr_name="closedFrom", null=True)
    """The date (Asia/Shanghai) of the last suspension or abolition, for intake's condition."""
    reopen_from = UnicodeAttribute(attr_name="reopenFrom", null=True)
    """The date of the resumption that ends that closing, if any."""

    def standing_on(self, day: date) -> str:
        """The item's standing on `day` (ACTIVE when it never changed)."""
        return standing.standing_on(self.standing_changes, day)

    def published_item(self, day: date | None = None) -> ItemVersion:
        """The published version, with its standing on `day` (default today)."""
        return ItemVersion.from_document(
            self.published, int(self.published_version), PUBLISHED,
            self.standing_on(day or standing.today()))


class ItemVersionRecord(Model):
    """One version of one item; its document never changes, only its status: DRAFT →
    SUBMITTED → RETURNED or PUBLISHED (the office's own drafts: DRAFT → PUBLISHED). A
    published version never changes again."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    code = UnicodeAttribute()
    item_version = NumberAttribute(attr_name="itemVersion")
    status = UnicodeAttribute()
    document = _Document()
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    created_by = UnicodeAttribute(attr_name="createdBy")
    published_at = UTCDateTimeAttribute(attr_name="publishedAt", null=True)
    published_by = UnicodeAttribute(attr_name="publishedBy", null=True)
    origin = UnicodeAttribute(null=True)
    """Who drafted it: OFFICE (also older records, without it) or DEPARTMENT."""
    submitted_at = UTCDateTimeAttribute(attr_name="submittedAt", null=True)
    submitted_by = UnicodeAttribute(attr_name="submittedBy", null=True)
    returned_at = UTCDateTimeAttribute(attr_name="returnedAt", null=True)
    returned_by = UnicodeAttribute(attr_name="returnedBy", null=True)
    return_reasons = ListAttribute(of=UnicodeAttribute, attr_name="returnReasons", null=True)

    def item(self) -> ItemVersion:
        return ItemVersion.from_document(self.document, int(self.item_version), self.status)


def item_key(code: str) -> str:
    return f"ITEM#{code}"


def version_key(version: int) -> str:
    return f"V#{version:06d}"


# ---------------------------------------------------------------------------------------------
# Validation


def _remote_refs(schema: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where `schema` refers outside itself ($ref not starting with `#`)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            found.append((*path, "$ref"))
        for key, value in schema.items():
            if key not in ("enum", "const", "examples", "default"):
                found.extend(_remote_refs(value, (*path, key)))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found.extend(_remote_refs(value, (*path, index)))
    return found


def validate_item_payload(payload: dict) -> None:
    """Check one item document; `ValidationFailed` lists every problem with its path."""
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("$", "an item must be a JSON object")])
    errors = validation.errors(_ITEM_SCHEMA, payload)
    statutory, promised = payload.get("statutoryDays"), payload.get("promisedDays")
    if _is_int(statutory) and _is_int(promised) and promised > statutory:
        errors.append(FieldError("promisedDays", f"promised days ({promised}) must not exceed "
                                                 f"the statutory days ({statutory})"))
    if payload.get("kind") == INSTANT and _is_int(promised) and promised != 0:
        errors.append(FieldError("promisedDays", "an INSTANT item (即办件) is decided on the spot: "
                                                 "promisedDays must be 0"))
    co = payload.get("coDepartments")
    if isinstance(co, list) and payload.get("leadDepartment") in co:
        errors.append(FieldError(f"coDepartments.{co.index(payload['leadDepartment'])}",
                                 "the lead department is not also a co-department"))
    errors.extend(_kind_errors(payload.get("kind"), co))
    errors.extend(_escalation_errors(payload))
    errors.extend(_material_errors(payload.get("materials")))
    form_schema = payload.get("formSchema")
    if isinstance(form_schema, dict):
        errors.extend(_form_schema_errors(form_schema))
    if errors:
        raise ValidationFailed(errors)


def _kind_errors(kind: Any, co: Any) -> list[FieldError]:
    """What the item's kind (办件类型) asks of its departments: an INSTANT item (即办件) is
    decided on the spot by one department; a JOINT item (联办件) has at least one
    co-department. (A PROMISED item may have co-departments too.)"""
    departments = len(co) if isinstance(co, list) else 0
    if kind == INSTANT and departments:
        return [FieldError("coDepartments", "an INSTANT item (即办件) is decided on the spot by "
                                            "one department: no co-departments")]
    if kind == JOINT and not departments:
        return [FieldError("coDepartments", "a JOINT item (联办件) is handled by several "
                                            "departments: name at least one co-department")]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _escalation_errors(payload: dict) -> list[FieldError]:
    """上报件: an ESCALATED item names its levels, and is handled above where it is accepted;
    no other kind names an escalation."""
    escalation = payload.get("escalation")
    if payload.get("kind") != ESCALATED:
        return [FieldError("escalation", "only an ESCALATED item (上报件) names an escalation")
                ] if escalation is not None else []
    if not isinstance(escalation, dict):
        return [FieldError("escalation", "an ESCALATED item (上报件) names the levels that "
                                         "accept it (acceptedAt) and handle it (handledAt)")]
    handled, accepted = escalation.get("handledAt"), escalation.get("acceptedAt")
    if handled in LEVELS and isinstance(accepted, list):
        below = [level for level in accepted
                 if level in LEVELS and LEVELS.index(level) <= LEVELS.index(handled)]
        if below:
            return [FieldError("escalation.acceptedAt",
                               f"accepted below the handling level {handled} only "
                               f"({', '.join(below)} is not below it)")]
    return []


def _material_errors(materials: Any) -> list[FieldError]:
    if not isinstance(materials, list):
        return []
    errors, seen = [], set()
    for index, material in enumerate(materials):
        if not isinstance(material, dict):
            continue
        material_id = material.get("id")
        if isinstance(material_id, str):
            if material_id in seen:
                errors.append(FieldError(f"materials.{index}.id",
                                         f"material id '{material_id}' is used twice"))
            seen.add(material_id)
        if material.get("laterAllowed") is True and material.get("required") is False:
            errors.append(FieldError(f"materials.{index}.laterAllowed",
                                     "only a required material may follow later (容缺后补)"))
    return errors


def _form_schema_errors(form_schema: dict) -> list[FieldError]:
    # What `check_schema` runs, kept to list every problem, not only the first.
    errors = validation.errors(validation.meta_schema(), form_schema, "formSchema",
                               formats=True)
    if form_schema.get("type") != "object":
        errors.append(FieldError("formSchema.type", "the application form is an object: "
                                                    "the schema's type must be 'object'"))
    declared = form_schema.get("$schema")
    if declared is not None and declared != validation.meta_schema()["$id"]:
        errors.append(FieldError("formSchema.$schema", "form schemas are JSON Schema 2020-12"))
    for path in _remote_refs(form_schema):
        errors.append(FieldError(validation.error_path(list(path), "formSchema"),
                                 "a form schema may only refer to its own parts ('#...')"))
    return errors


def _normalised(payload: dict, code: str) -> dict[str, Any]:
    """The document to store: defaults filled, read-only fields dropped, fixed key order."""
    return ItemVersion.from_document({**payload, "code": code}, 0, DRAFT).document()


# ---------------------------------------------------------------------------------------------
# Reading


def get_item(code: str, version: int | None = None, now: datetime | None = None
             ) -> ItemVersion:
    """The published version of an item with its standing on `now`'s day (default today), or
    the given version if it was published; `NotFound` otherwise (drafts are not part of the
    public catalogue)."""
    if version is None:
        head = _head(code)
        if head is None or head.published_version is None or head.published is None:
            raise NotFound(f"no published item {code}")
        return head.published_item(standing.today(now))
    return _published_version(code, int(version))


@functools.lru_cache(maxsize=512)
def _published_version(code: str, version: int) -> ItemVersion:
    # Cached: a published version never changes (a NotFound is raised, so never cached).
    record = _version(code, version) if version > 0 else None
    if record is None or record.status != PUBLISHED:
        raise NotFound(f"no published version {version} of item {code}")
    return record.item()


def list_items(department: str | None = None, q: str | None = None,
               now: datetime | None = None) -> list[ItemVersion]:
    """Published items in force or suspended (an abolished item leaves the list from its
    effective date), by code, each with its standing; `department` matches the lead or a
    co-department, `q` a substring of the code or the name (case-insensitive)."""
    condition = ItemHeadRecord.published_version.exists()
    if department:
        condition &= ((ItemHeadRecord.lead_department == department)
                      | ItemHeadRecord.co_departments.contains(department))
    day = standing.today(now)
    heads = ItemHeadRecord.catalogue.query(CATALOGUE_PARTITION, filter_condition=condition)
    items = [item for item in (head.published_item(day) for head in heads)
             if item.standing != standing.ABOLISHED]
    needle = (q or "").strip().casefold()
    if needle:
        items = [i for i in items
                 if needle in i.code.casefold() or needle in i.name.casefold()]
    return items


WORK_IN_PROGRESS = (DRAFT, SUBMITTED, RETURNED)


def list_governed(statuses: tuple[str, ...] = WORK_IN_PROGRESS,
                  department: str | None = None) -> list[dict[str, Any]]:
    """事项管理's lists: items whose latest version is in one of `statuses` (the reform
    office's review queue: SUBMITTED; a department's work: DRAFT, SUBMITTED, RETURNED), of
    one lead department if given, by code. One Query on ListIndex."""
    condition = ItemHeadRecord.latest_status.is_in(*statuses)
    if department:
        condition &= ItemHeadRecord.lead_department == department
    return [{"code": head.code, "name": head.name, "leadDepartment": head.lead_department,
             "latestVersion": int(head.latest_version), "status": head.latest_status,
             "publishedVersion": (int(head.published_version)
                                  if head.published_version is not None else None)}
            for head in ItemHeadRecord.catalogue.query(CATALOGUE_PARTITION,
                                                        filter_condition=condition)]


def latest_version(code: str) -> ItemVersion:
    """The newest version of an item, draft or published (for administrators)."""
    head = _head(code)
    record = _version(code, int(head.latest_version)) if head is not None else None
    if record is None:
        raise NotFound(f"no item {code}")
    return record.item()


def audit_trail(code: str) -> list[AuditRecord]:
    """Every recorded change of an item, oldest first."""
    return list(AuditRecord.query(item_key(code), AuditRecord.sk.startswith("AUDIT#")))


def _head(code: str, consistent: bool = False) -> ItemHeadRecord | None:
    try:
        return ItemHeadRecord.get(item_key(code), "META", consistent_read=consistent)
    except ItemHeadRecord.DoesNotExist:
        return None


def _version(code: str, version: int, consistent: bool = False) -> ItemVersionRecord | None:
    try:
        return ItemVersionRecord.get(item_key(code), version_key(version),
                                     consistent_read=consistent)
    except ItemVersionRecord.DoesNotExist:
        return None


# ---------------------------------------------------------------------------------------------
# Changing


def create_draft(payload: dict, actor: str, origin: str = OFFICE) -> ItemVersion:
    """Version 1 of a new item, as a draft; `Conflict` if the code is taken. `origin`: who
    drafts it, the reform office (OFFICE) or the item's department (DEPARTMENT)."""
    validate_item_payload(payload)
    code = payload["code"]
    document = _normalised(payload, code)
    now = datetime.now(UTC)
    head = ItemHeadRecord(
        item_key(code), "META", code=code, name=document["name"],
        lead_department=document["leadDepartment"], co_departments=document["coDepartments"],
        latest_version=1, latest_status=DRAFT, created_at=now, updated_at=now, gsi1sk=code)
    record = _new_version_record(document, 1, actor, now, origin)
    audit = new_audit_for(item_key(code), actor, "ITEM_DRAFT_CREATED", None, DRAFT,
                          {"version": 1, **_origin_detail(origin)})

    def writes(transaction: TransactWrite) -> None:
        transaction.save(head, condition=ItemHeadRecord.pk.does_not_exist())
        transaction.save(record, condition=ItemVersionRecord.pk.does_not_exist())
        transaction.save(audit)

    _transaction(writes, f"item {code} already exists")
    return record.item()


def new_draft_version(code: str, payload: dict, actor: str, origin: str = OFFICE
                      ) -> ItemVersion:
    """The next version of an existing item, as a draft (the published one stays in force);
    `Conflict` while the latest version is with the reform office for review (SUBMITTED)."""
    if isinstance(payload, dict) and "code" not in payload:
        payload = {**payload, "code": code}
    errors: list[FieldError] = []
    try:
        validate_item_payload(payload)
    except ValidationFailed as failed:
        errors = list(failed.errors)
    if isinstance(payload, dict) and payload["code"] != code:
        errors.append(FieldError("code", f"the code is {code}; a new code is a new item "
                                         "(POST /items)"))
    if errors:
        raise ValidationFailed(errors)
    head = _head(code, consistent=True)
    if head is None:
        raise NotFound(f"no item {code}")
    latest = _version(code, int(head.latest_version), consistent=True)
    if latest is not None and latest.status == SUBMITTED:
        raise Conflict(f"version {latest.item_version} of item {code} is with the reform office "
                       "for review (SUBMITTED); draft again once it is published or returned")
    version = int(head.latest_version) + 1
    now = datetime.now(UTC)
    record = _new_version_record(_normalised(payload, code), version, actor, now, origin)
    audit = new_audit_for(item_key(code), actor, "ITEM_VERSION_DRAFTED", None, DRAFT,
                          {"version": version, **_origin_detail(origin)})

    def writes(transaction: TransactWrite) -> None:
        transaction.update(head, actions=[ItemHeadRecord.latest_version.set(version),
                                          ItemHeadRecord.latest_status.set(DRAFT),
                                          ItemHeadRecord.updated_at.set(now)])
        transaction.save(record, condition=ItemVersionRecord.pk.does_not_exist())
        transaction.save(audit)

    _transaction(writes, f"item {code} changed meanwhile (another version was drafted or "
                 "published); reload it and try again")
    return record.item()


def publish(code: str, actor: str, version: int | None = None) -> ItemVersion:
    """The reform office publishes the latest version (or `version`, which must be the latest):
    one its department submitted for review, or a draft of its own. `Conflict` otherwise
    (none to publish, a department's draft not yet submitted, a version no longer the latest).
    The version published before stays readable, unchanged: applications made under it go on
    under it."""
    head, record = _latest(code, version)
    status = record.status
    if not (status == SUBMITTED or (status == DRAFT and (record.origin or OFFICE) == OFFICE)):
        waiting = " (its department has not submitted it)" if status == DRAFT else ""
        raise Conflict(f"item {code} has no draft to publish (version {record.item_version} is "
                       f"{status}{waiting})")
    version = int(record.item_version)
    previous = int(head.published_version) if head.published_version is not None else None
    document = record.document
    now = datetime.now(UTC)
    audit = new_audit_for(item_key(code), actor, "ITEM_PUBLISHED", status, PUBLISHED,
                          {"version": version, "previousVersion": previous})

    def writes(transaction: TransactWrite) -> None:
        transaction.update(head, actions=[
            ItemHeadRecord.published_version.set(version),
            ItemHeadRecord.latest_status.set(PUBLISHED),
            ItemHeadRecord.published.set(document),
            ItemHeadRecord.name.set(document["name"]),
            ItemHeadRecord.lead_department.set(document["leadDepartment"]),
            ItemHeadRecord.co_departments.set(document["coDepartments"]),
            ItemHeadRecord.updated_at.set(now),
        ])
        transaction.update(record, actions=[ItemVersionRecord.status.set(PUBLISHED),
                                            ItemVersionRecord.published_at.set(now),
                                            ItemVersionRecord.published_by.set(actor)],
                           condition=ItemVersionRecord.status == status)
        transaction.save(audit)

    _transaction(writes, f"item {code} changed meanwhile (published or drafted by someone "
                 "else); reload it and try again")
    return ItemVersion.from_document(document, version, PUBLISHED)


def submit(code: str, version: int, actor: str) -> ItemVersion:
    """送审: the department submits its latest draft to the reform office (DRAFT → SUBMITTED);
    `Conflict` if it is not the latest version or not a draft."""
    head, record = _latest(code, version)
    _require_status(record, DRAFT, "submitted")
    now = datetime.now(UTC)
    audit = new_audit_for(item_key(code), actor, "ITEM_SUBMITTED", DRAFT, SUBMITTED,
                          {"version": version})
    _move(head, record, audit, SUBMITTED, [ItemVersionRecord.status.set(SUBMITTED),
                                ItemVersionRecord.submitted_at.set(now),
                                ItemVersionRecord.submitted_by.set(actor)])
    return _version(code, version, consistent=True).item()  # type: ignore[union-attr]


def return_version(code: str, version: int, actor: str, reasons: list[str]) -> ItemVersion:
    """退回: the reform office returns a submitted version to its department with reasons
    (SUBMITTED → RETURNED); the department drafts a changed version and submits it again."""
    head, record = _latest(code, version)
    _require_status(record, SUBMITTED, "returned")
    now = datetime.now(UTC)
    audit = new_audit_for(item_key(code), actor, "ITEM_RETURNED", SUBMITTED, RETURNED,
                          {"version": version, "reasons": reasons})
    _move(head, record, audit, RETURNED, [ItemVersionRecord.status.set(RETURNED),
                                ItemVersionRecord.returned_at.set(now),
                                ItemVersionRecord.returned_by.set(actor),
                                ItemVersionRecord.return_reasons.set(reasons)])
    return _version(code, version, consistent=True).item()  # type: ignore[union-attr]


def version_record(code: str, version: int) -> ItemVersionRecord:
    """Any version of an item, whatever its status (for its department and the reform
    office); `NotFound` if there is none."""
    record = _version(code, version, consistent=True) if version > 0 else None
    if record is None:
        raise NotFound(f"no version {version} of item {code}")
    return record


def head_record(code: str) -> ItemHeadRecord:
    """The item's head (its lead department, versions, standing); `NotFound` if none."""
    head = _head(code, consistent=True)
    if head is None:
        raise NotFound(f"no item {code}")
    return head


def _latest(code: str, version: int | None) -> tuple[ItemHeadRecord, ItemVersionRecord]:
    """The head and the latest version record; `Conflict` if `version` is given and is not the
    latest (a newer one was drafted), `NotFound` if there is no such item."""
    head = head_record(code)
    latest = int(head.latest_version)
    if version is not None and version != latest:
        if version < 1 or version > latest:
            raise NotFound(f"no version {version} of item {code}")
        raise Conflict(f"version {version} of item {code} is not its latest ({latest})")
    return head, version_record(code, latest)


def _require_status(record: ItemVersionRecord, status: str, verb: str) -> None:
    if record.status != status:
        raise Conflict(f"version {record.item_version} of item {record.code} is "
                       f"{record.status}: only a {status} version is {verb}")


def _move(head: ItemHeadRecord, record: ItemVersionRecord, audit: AuditRecord, status: str,
          actions: list[Any]) -> None:
    """One status move of a version to `status`, with its audit record and the head's
    `latestStatus`, in one transaction; the version must still be in the status it was read in
    and the head unchanged (no newer draft: its revision is the condition)."""
    def writes(transaction: TransactWrite) -> None:
        transaction.update(head, actions=[ItemHeadRecord.latest_status.set(status),
                                          ItemHeadRecord.updated_at.set(datetime.now(UTC))])
        transaction.update(record, actions=actions,
                           condition=ItemVersionRecord.status == record.status)
        transaction.save(audit)

    _transaction(writes, f"item {record.code} changed meanwhile; reload it and try again")


def _origin_detail(origin: str) -> dict[str, str]:
    return {"origin": origin} if origin != OFFICE else {}


def _new_version_record(document: dict[str, Any], version: int, actor: str,
                        now: datetime, origin: str = OFFICE) -> ItemVersionRecord:
    return ItemVersionRecord(
        item_key(document["code"]), version_key(version), code=document["code"],
        item_version=version, status=DRAFT, document=document, created_at=now,
        created_by=actor, origin=origin)


def _transaction(writes: Callable[[TransactWrite], None], conflict: str) -> None:
    """`writes` in one TransactWrite, under the write policy (`yiwang.table.writes`): a failed
    condition (someone else drafted or published first) is `Conflict(conflict)` and writes
    nothing; a busy store (a concurrent transaction on the same records) is retried, then
    `Unavailable`. Other failures propagate."""
    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            writes(transaction)

    write_or_conflict(write, conflict)


def transact(writes: Callable[[TransactWrite], None], conflict: str) -> None:
    """`writes` in one transaction under the write policy, as the catalogue's own changes
    (`Conflict(conflict)` when a condition fails): for `yiwang.catalogue.governance`."""
    _transaction(writes, conflict)


# ---------------------------------------------------------------------------------------------
# Sample items (the local stage's seed)


def sample_items() -> list[dict[str, Any]]:
    """The sample items shipped with the layer (`data/items.json`)."""
    return json.loads(SAMPLE_ITEMS.read_text(encoding="utf-8"))["items"]


def ensure_published(payload: dict, actor: str) -> bool:
    """Make `payload` the published version of its item; idempotent. True when something
    was written (a new item, or a new version because the payload differs)."""
    validate_item_payload(payload)
    code = payload["code"]
    document = _normalised(payload, code)
    head = _head(code, consistent=True)
    if head is not None and head.published is not None and head.published == document:
        return False
    if head is None:
        create_draft(payload, actor)
    elif _version(code, int(head.latest_version), consistent=True).document != document:
        new_draft_version(code, payload, actor)
    publish(code, actor)
    return True
