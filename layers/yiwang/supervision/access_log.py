"""Supervisors' view of the access records (个人信息访问留痕, `yiwang.people.access_log`):
`GET /supervision/access-log?subject=&staff=&limit=&nextToken=`, newest first, each data subject
masked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yiwang.calendar.workdays import local_time
from yiwang.people import policy
from yiwang.people.access import ADMIN, SUPERVISOR, Caller
from yiwang.people.access_log import AccessRecord, page
from yiwang.platform.errors import FieldError, ValidationFailed
from yiwang.platform.identity import (
    InvalidIdentifier,
    mask_identifier,
    validate_credit_code,
    validate_resident_id,
)
from yiwang.regions import placement

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
MAX_STAFF = 128


@dataclass(frozen=True)
class Question:
    """Whose data (an identity number or credit code), read by whom, which page."""

    subject: str | None
    staff: str | None
    limit: int
    next_token: str | None


def parse(params: dict[str, str] | None) -> Question:
    """`subject`, `staff`, `limit` and `nextToken` from the query string, every error listed;
    `subject` or `staff` (or both) is required."""
    params = params or {}
    errors: list[FieldError] = []
    subject = _code(params["subject"]) if params.get("subject") else None
    if params.get("subject") and subject is None:
        errors.append(FieldError(
            "subject", "a resident identity number or unified social credit code"))
    staff = params.get("staff") or None
    if staff and len(staff) > MAX_STAFF:
        errors.append(FieldError("staff", f"a staff member's sub, at most {MAX_STAFF} characters"))
    if not params.get("subject") and not staff:
        errors.append(FieldError("subject", "name the data subject (subject), the staff "
                                            "member (staff), or both"))
    limit = DEFAULT_LIMIT
    if params.get("limit") is not None:
        raw = params["limit"]
        limit = int(raw) if raw.isdigit() else 0
        if not 1 <= limit <= MAX_LIMIT:
            errors.append(FieldError("limit", f"a whole number from 1 to {MAX_LIMIT}"))
    if errors:
        raise ValidationFailed(errors)
    return Question(subject, staff, limit, params.get("nextToken") or None)


def _code(value: str) -> str | None:
    """The normalised identity number or credit code, as intake stored it; None if neither."""
    for check in (validate_resident_id, validate_credit_code):
        try:
            return check(value)
        except InvalidIdentifier:
            continue
    return None


def search(caller: Caller, question: Question) -> dict[str, Any]:
    """The page of access records the question names, newest first, for supervisors and
    administrators (`Forbidden` for everyone else)."""
    caller.require(SUPERVISOR, ADMIN)
    found = page(question.subject, question.staff, question.limit, question.next_token)
    return {"records": [present(record) for record in in_scope(caller, found.records)],
            **({"nextToken": found.next_token} if found.next_token else {})}


def in_scope(caller: Caller, records: list[AccessRecord]) -> list[AccessRecord]:
    """The records of reads in the caller's region: a supervisor sees the reads of their
    region's cases and complaints (a read of no case lies in the default region), filtered
    from the page read, so a page may hold fewer than `limit`; administrators see all."""
    if policy.scope_of(caller) is None:
        return records
    regions = placement.regions_of(_placed_at(record) for record in records)
    return [record for record in records if policy.in_scope(caller, [regions[_placed_at(record)]])]


def _placed_at(record: AccessRecord) -> str:
    """The partition whose region places a read: its case's, else the complaint read."""
    if record.case_id:
        return f"APP#{record.case_id}"
    if record.resource_kind == "complaint":
        return f"COMPLAINT#{record.resource_id}"
    if record.resource_kind == "application":
        return f"APP#{record.resource_id}"
    return "-"


def present(record: AccessRecord) -> dict[str, Any]:
    """An access record as the API shows it: the data subject masked, never in full."""
    kind, _, identifier = record.subject.partition("#")
    return {"at": local_time(record.at),
            "staff": {"sub": record.staff, "role": record.role, "department": record.department},
            "subject": {"kind": kind, "id": mask_identifier(identifier)},
            "resource": {"kind": record.resource_kind, "id": record.resource_id},
            "purpose": record.purpose,
            **({"caseId": record.case_id} if record.case_id else {})}
