"""The department registry (部门): who may lead or co-review an item, receive a complaint, and
issue a certificate (发证机关, named by its 统一社会信用代码).

Records in the single table:
- pk=`DEPT#<code>`, sk=`META`: code, name, creditCode, region, level, status (ACTIVE or
  INACTIVE), createdAt, updatedAt, version; listed through `ListIndex` (gsi1pk=`DEPARTMENTS`,
  gsi1sk=code), so the registry is one Query, never a Scan;
- pk=`DEPT#<code>`, sk=`AUDIT#...`: one audit record per change (全程留痕), written in the same
  transaction as the change.

`handlerMode` says who handles the department's tasks (经办人模式, docs/rules.md §17):
DEPARTMENT (every reviewer of the department, the default), OWN_TASKS (each task is claimed
by or assigned to one handler, who alone sees and decides it; the head sees all and
reassigns) or BY_STAGE (as OWN_TASKS, with each stage's task assigned when it opens to the
handler `stageHandlers` names for the stage).

Every department is placed in the region tree (行政区划, `yiwang.regions.tree`): `region` is
one of its codes (the platform's default region when a change leaves it out), and `level`
(PROVINCE, CITY, COUNTY, TOWNSHIP, VILLAGE) is the region's, derived, never set apart from it.
An unknown region is `UnknownRegion` (422, `UNKNOWN_REGION`). Departments registered before the
tree have neither until `infra/migrations/default_region.py` places them (read: the default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.platform import validation
from yiwang.platform.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unprocessable,
    ValidationFailed,
)
from yiwang.platform.identity import InvalidIdentifier, validate_credit_code
from yiwang.regions import tree
from yiwang.table.records import ListIndex, TableMeta, connection, new_audit_for
from yiwang.table.writes import write_or_conflict

ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
DEPARTMENTS_PARTITION = "DEPARTMENTS"
CODE_PATTERN = r"^[A-Z0-9]+(-[A-Z0-9]+)*$"
"""A department's code (`GZ-SCJG`), as items name their lead and co-departments."""

DEPARTMENT_MODE = "DEPARTMENT"
"""Every reviewer of the department sees and decides its tasks."""
OWN_TASKS = "OWN_TASKS"
"""经办人只能操作查看自己经办的项目: a task is claimed by or assigned to one handler."""
BY_STAGE = "BY_STAGE"
"""每个环节由各自的经办人: each stage's task goes to the stage's handler when it opens."""
HANDLER_MODES = (DEPARTMENT_MODE, OWN_TASKS, BY_STAGE)
STAGES = {"REVIEW": "审批"}
"""The stages whose tasks a department handles (a task's kind), for `stageHandlers`."""
MAX_SUB = 128
"""The longest staff identity (a token's `sub`) a department names."""

_FIELDS = ("name", "creditCode", "region", "level", "status", "handlerMode", "stageHandlers")
_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "部门 (one department of the registry)",
    "type": "object",
    "required": ["name", "creditCode"],
    "additionalProperties": False,
    "properties": {
        # The code is the path's; a client may send back the document `GET` answered.
        "code": {"type": "string", "maxLength": 32, "pattern": CODE_PATTERN},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "creditCode": {"type": "string", "minLength": 18, "maxLength": 18},
        "region": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
        "level": {"type": ["string", "null"], "minLength": 1, "maxLength": 32},
        "regionName": {"type": ["string", "null"], "maxLength": 64},  # GET's, ignored
        "status": {"enum": [ACTIVE, INACTIVE]},
        "handlerMode": {"enum": list(HANDLER_MODES)},
        "stageHandlers": {
            "type": ["object", "null"], "maxProperties": len(STAGES),
            "propertyNames": {"enum": list(STAGES)},
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": MAX_SUB},
        },
        # The version the writer last read: a stale one is a concurrent change (409).
        "version": {"type": "integer", "minimum": 1},
        "createdAt": {"type": "string", "maxLength": 64},
        "updatedAt": {"type": "string", "maxLength": 64},
    },
}


class DepartmentRecord(Model):
    """One department; the key strings are this model's."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    credit_code = UnicodeAttribute(attr_name="creditCode")
    region = UnicodeAttribute(null=True)
    level = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default=ACTIVE)
    handler_mode = UnicodeAttribute(attr_name="handlerMode", null=True)
    """Null on records older than the setting: DEPARTMENT."""
    stage_handlers = JSONAttribute(attr_name="stageHandlers", null=True)
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    updated_at = UTCDateTimeAttribute(attr_name="updatedAt")
    gsi1pk = UnicodeAttribute(default=DEPARTMENTS_PARTITION)
    gsi1sk = UnicodeAttribute()
    version = VersionAttribute()
    registry = ListIndex()

    @staticmethod
    def key(code: str) -> str:
        """The partition of department `code`."""
        return f"DEPT#{code}"

    def fields(self) -> dict[str, Any]:
        """What a change may set, by its API name."""
        return {"name": self.name, "creditCode": self.credit_code, "region": self.region,
                "level": self.level, "status": self.status,
                "handlerMode": self.handler_mode or DEPARTMENT_MODE,
                "stageHandlers": self.stage_handlers or {}}



@dataclass(frozen=True)
class Change:
    """What `put` did: the department as it now is, and whether it was created."""

    department: DepartmentRecord
    created: bool


# ---------------------------------------------------------------------------------------------
# Reading


def get(code: str) -> DepartmentRecord:
    """Department `code`; `NotFound` if the registry has none."""
    record = _load(code)
    if record is None:
        raise NotFound(f"no department {code}")
    return record


def all() -> list[DepartmentRecord]:  # noqa: A001 - the registry's own `all`
    """Every department, by code: one Query on the registry's list partition."""
    return list(DepartmentRecord.registry.query(DEPARTMENTS_PARTITION))


def region_of(record: DepartmentRecord) -> str:
    """The region the department lies in; the default region for one registered before the
    region tree (until the migration places it)."""
    return record.region or tree.default_region()


def staff_region(department: str, region: str | None) -> str | None:
    """The region a reviewer of `department` belongs to: the department's (staff belong to a
    department in a region). A reviewer said to be elsewhere is `Unprocessable`; for a
    department the registry does not have, `region` as given."""
    if not re.fullmatch(CODE_PATTERN, department) or len(department) > 32:
        return region  # not a registry code: no department of the registry (not read)
    record = _load(department)
    if record is None:
        return region
    placed = region_of(record)
    if region is not None and region != placed:
        raise Unprocessable(f"department {department} lies in region {placed}, not {region}: "
                            "its reviewers belong to its region")
    return placed


def in_region(code: str) -> list[DepartmentRecord]:
    """The departments placed in region `code` itself (not below it), by code."""
    return [record for record in all() if region_of(record) == code]


def known(code: str) -> bool:
    """Whether `code` is an active department of the registry."""
    record = _load(code)
    return record is not None and record.status == ACTIVE


def issuing_body(code: str) -> dict[str, str]:
    """`{"code", "name", "creditCode"}` of an active department, as a certificate names its
    issuing body (发证机关); `NotFound` if there is no such department, `Conflict` if it is
    inactive."""
    record = get(code)
    if record.status != ACTIVE:
        raise Conflict(f"department {code} is {record.status}; it issues nothing")
    return {"code": record.code, "name": record.name, "creditCode": record.credit_code}


@dataclass(frozen=True)
class Handling:
    """Who handles a department's tasks (经办人模式): its mode and its stages' handlers."""

    mode: str = DEPARTMENT_MODE
    stage_handlers: dict[str, str] | None = None

    @property
    def by_handler(self) -> bool:
        """Whether each task has one handler (OWN_TASKS or BY_STAGE), not the department."""
        return self.mode != DEPARTMENT_MODE

    def stage_handler(self, stage: str) -> str | None:
        """The handler a task of `stage` is assigned to when it opens (BY_STAGE only)."""
        return (self.stage_handlers or {}).get(stage) if self.mode == BY_STAGE else None


def handling(code: str) -> Handling:
    """How department `code` handles its tasks; DEPARTMENT for one the registry lacks."""
    return handling_of(_load(code))


def handling_of(record: DepartmentRecord | None) -> Handling:
    """How the department `record` handles its tasks; DEPARTMENT for none."""
    if record is None:
        return Handling()
    return Handling(record.handler_mode or DEPARTMENT_MODE, record.stage_handlers or None)


def _load(code: str) -> DepartmentRecord | None:
    try:
        return DepartmentRecord.get(DepartmentRecord.key(code), "META", consistent_read=True)
    except DepartmentRecord.DoesNotExist:
        return None


# ---------------------------------------------------------------------------------------------
# Changing


def put(caller_sub: str, code: str, payload: Any) -> Change:
    """Create department `code` or update it with `payload`, audited in the same transaction.

    An unchanged department is left alone (nothing written). `ValidationFailed` lists every
    error; `Conflict` when someone changed the department since the writer read it (a stale
    `version`, or a concurrent write between this read and this write).
    """
    document = validated(code, payload)
    current = _load(code)
    if current is None:
        return Change(_create(caller_sub, code, document), created=True)
    seen = payload.get("version")
    if seen is not None and seen != int(current.version):
        raise Conflict(f"department {code} is at version {int(current.version)}, not {seen}; "
                       "read it again and repeat the change")
    return Change(_update(caller_sub, current, document), created=False)


def validated(code: str, payload: Any) -> dict[str, Any]:
    """The fields `payload` sets (name, creditCode, region, level, status, handlerMode,
    stageHandlers), checked; every error listed. The region is the default region when left
    out, and the level is the region's (a `level` sent that is not is an error);
    `UnknownRegion` for a region the tree does not have."""
    errors = validation.errors(_SCHEMA, payload)
    if not re.fullmatch(CODE_PATTERN, code) or len(code) > 32:
        errors.append(FieldError("code", f"{code!r} is not a department code (e.g. GZ-SCJG)"))
    credit = None
    if isinstance(payload, dict):
        if "code" in payload and payload["code"] != code:
            errors.append(FieldError("code", f"the code is {code}, the path's"))
        if isinstance(payload.get("creditCode"), str) and len(payload["creditCode"]) == 18:
            try:
                credit = validate_credit_code(payload["creditCode"])  # upper case
            except InvalidIdentifier as invalid:
                errors.append(FieldError("creditCode", str(invalid)))
    if errors:
        raise ValidationFailed(errors)
    region = tree.placed(payload.get("region"))
    if payload.get("level") not in (None, region.level):
        raise ValidationFailed([FieldError(
            "level", f"region {region.code} ({region.name}) is at level {region.level}")])
    return {"name": payload["name"], "creditCode": credit,
            "region": region.code, "level": region.level,
            "status": payload.get("status", ACTIVE),
            "handlerMode": payload.get("handlerMode", DEPARTMENT_MODE),
            "stageHandlers": payload.get("stageHandlers") or {}}


def _create(actor: str, code: str, document: dict[str, Any]) -> DepartmentRecord:
    now = datetime.now(UTC)
    record = DepartmentRecord(
        DepartmentRecord.key(code), "META", code=code, name=document["name"],
        credit_code=document["creditCode"], region=document["region"],
        level=document["level"], status=document["status"],
        handler_mode=document["handlerMode"], stage_handlers=document["stageHandlers"] or None,
        created_at=now, updated_at=now,
        gsi1sk=code)
    audit = new_audit_for(record.pk, actor, "DEPARTMENT_CREATED", None, record.status,
                          {"fields": document}, at=now)
    _save(record, audit, f"department {code} was created meanwhile; read it and retry")
    return record


def _update(actor: str, record: DepartmentRecord, document: dict[str, Any]) -> DepartmentRecord:
    before = record.fields()
    changed = {name: document[name] for name in _FIELDS if document[name] != before[name]}
    if not changed:
        return record
    now = datetime.now(UTC)
    record.name, record.credit_code = document["name"], document["creditCode"]
    record.region, record.level = document["region"], document["level"]
    record.status, record.updated_at = document["status"], now
    record.handler_mode = document["handlerMode"]
    record.stage_handlers = document["stageHandlers"] or None
    audit = new_audit_for(record.pk, actor, "DEPARTMENT_UPDATED", before["status"],
                          record.status,
                          {"changed": {name: {"from": before[name], "to": value}
                                       for name, value in changed.items()}}, at=now)
    _save(record, audit, f"department {record.code} was changed meanwhile; read it and retry")
    return record


def _save(record: DepartmentRecord, audit: Any, conflict: str) -> None:
    # The record's version makes the save conditional (not there yet, or still the version
    # read), so a concurrent change cancels the transaction and is answered 409.
    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record)
            transaction.save(audit)

    write_or_conflict(write, conflict)
