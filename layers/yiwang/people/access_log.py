"""个人信息访问留痕: every staff read of an application's, a certificate's or a complaint's
personal data leaves an access record (who, whose, when, why), which supervisors query.

Access patterns:
- whose data, newest first: pk=`ACCESS#<subject>`, sk=`<time>#<random>`. The subject is the
  key the application list uses for the data subject, `APPLICANT#<identity number or credit
  code>` (an application's applicant, a certificate's holder); a complaint's complainant is
  `COMPLAINANT#<account>` (or `COMPLAINT#<id>` when it was taken down by phone or at a
  window, with no account). Answers mask it (`mask_identifier`); it is never logged;
- who read, newest first: ListIndex gsi1pk=`ACCESSBY#<staff sub>`, gsi1sk=`<time>#<random>`.

Records expire (`expiresAt`, the table's TTL attribute) after `RETENTION`. The applicant
reading their own data leaves no record: only staff reads are recorded (`record_reads`).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import islice

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from yiwang.people.access import ADMIN, SUPERVISOR, Caller
from yiwang.platform.errors import FieldError, ValidationFailed
from yiwang.table.records import ListIndex, TableMeta

RETENTION = timedelta(days=3 * 365)
"""How long an access record is kept (network logs: at least six months; we keep three years)."""
PURPOSE_HEADER = "X-Access-Purpose"
"""The request header in which staff say why they read (`Purpose`); optional."""


class Purpose(StrEnum):
    """Why staff read someone's personal data."""

    CASE_HANDLING = "CASE_HANDLING"
    COMPLAINT_HANDLING = "COMPLAINT_HANDLING"
    CERTIFICATE_LOOKUP = "CERTIFICATE_LOOKUP"
    SUPERVISION = "SUPERVISION"
    ADMINISTRATION = "ADMINISTRATION"
    INTAKE_CHECK = "INTAKE_CHECK"
    """A register lookup at intake: the applicant's identity and standing (人口库、法人库)."""
    CERTIFICATE_CHECK = "CERTIFICATE_CHECK"
    """A certificate looked up to stand in for a material (免提交)."""
    PREFILL = "PREFILL"
    """The applicants' own register record, read to fill their forms (一次填报)."""


class Resource(StrEnum):
    """What was read."""

    APPLICATION = "application"
    CERTIFICATE = "certificate"
    COMPLAINT = "complaint"
    PERSON_REGISTER = "person-register"
    COMPANY_REGISTER = "company-register"


_HANDLING = {Resource.APPLICATION: Purpose.CASE_HANDLING,
             Resource.CERTIFICATE: Purpose.CERTIFICATE_LOOKUP,
             Resource.COMPLAINT: Purpose.COMPLAINT_HANDLING}
_BY_ROLE = {SUPERVISOR: Purpose.SUPERVISION, ADMIN: Purpose.ADMINISTRATION}


class AccessRecord(Model):
    """One staff read of one data subject's personal data."""

    class Meta(TableMeta):
        pass

    PARTITION_PREFIX = "ACCESS#"
    BY_STAFF_PREFIX = "ACCESSBY#"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    at = UTCDateTimeAttribute()
    staff = UnicodeAttribute(attr_name="staffSub")
    role = UnicodeAttribute()
    department = UnicodeAttribute(null=True)
    resource_kind = UnicodeAttribute(attr_name="resourceKind")
    resource_id = UnicodeAttribute(attr_name="resourceId")
    purpose = UnicodeAttribute()
    # A register lookup's case (人口库、法人库 via the exchange): the application it was for.
    case_id = UnicodeAttribute(attr_name="caseId", null=True)
    expires_at = NumberAttribute(attr_name="expiresAt")
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_staff = ListIndex()

    @staticmethod
    def key(subject: str) -> str:
        return f"{AccessRecord.PARTITION_PREFIX}{subject}"

    @staticmethod
    def staff_key(sub: str) -> str:
        return f"{AccessRecord.BY_STAFF_PREFIX}{sub}"

    @property
    def subject(self) -> str:
        """The data subject's key (`APPLICANT#<code>`...), in full: for keys, never answers."""
        return self.pk.removeprefix(self.PARTITION_PREFIX)


def applicant_subject(code: str) -> str:
    """The subject key of an identity number or credit code: the application list's key."""
    return f"APPLICANT#{code}"


def complainant_subject(owner_sub: str | None, complaint_id: str) -> str:
    """The subject key of a complaint's complainant: their account, else the complaint."""
    return f"COMPLAINANT#{owner_sub}" if owner_sub else f"COMPLAINT#{complaint_id}"


@dataclass(frozen=True)
class Read:
    """One resource read: whose data (a subject key), what kind, which one."""

    subject: str
    kind: Resource
    resource_id: str


def purpose_of(caller: Caller, kind: Resource, stated: str | None) -> Purpose | None:
    """Why `caller` reads a `kind`: the purpose they state (`X-Access-Purpose`, one of
    `Purpose`, else `ValidationFailed`), or their role's default. None for callers whose reads
    are not recorded (applicants)."""
    if not caller.is_staff:
        return None
    if stated:
        try:
            return Purpose(stated.strip().upper())
        except ValueError:
            raise ValidationFailed([FieldError(
                PURPOSE_HEADER, f"one of {', '.join(p.value for p in Purpose)}")]) from None
    return _BY_ROLE.get(caller.role, _HANDLING[kind])


def record_reads(caller: Caller, purpose: Purpose | None, reads: list[Read],
                 now: datetime | None = None) -> list[AccessRecord]:
    """Write one access record per read (one PutItem, or BatchWriteItem for a list); nothing
    for callers who are not staff. A failure is raised: personal data is not answered
    unrecorded."""
    if not caller.is_staff or purpose is None or not reads:
        return []
    now = now or datetime.now(UTC)
    expires = int((now + RETENTION).timestamp())
    records = []
    for read in reads:
        sort_key = f"{now.isoformat()}#{uuid.uuid4().hex[:12]}"
        records.append(AccessRecord(
            AccessRecord.key(read.subject), sort_key, at=now, staff=caller.sub, role=caller.role,
            department=caller.dept, resource_kind=read.kind.value, resource_id=read.resource_id,
            purpose=purpose.value, expires_at=expires, gsi1pk=AccessRecord.staff_key(caller.sub),
            gsi1sk=sort_key))
    if len(records) == 1:
        records[0].save()
    else:
        with AccessRecord.batch_write() as batch:
            for record in records:
                batch.save(record)
    return records


@dataclass(frozen=True)
class Page:
    """Access records, newest first, and a token for the rest when more follow."""

    records: list[AccessRecord]
    next_token: str | None


def page(subject: str | None, staff: str | None, limit: int, token: str | None) -> Page:
    """Access records newest first: whose (`subject`, an identity number or credit code: one
    Query on its partition, filtered by `staff` when both are named) or by whom (`staff`: one
    Query on the list index). Who may ask is the caller's to check."""
    if subject:
        partition = AccessRecord.key(applicant_subject(subject))
        names: tuple[str, ...] = ("pk", "sk")
        start = _decode(token, names, "pk", partition)
        found = AccessRecord.query(
            partition, scan_index_forward=False, last_evaluated_key=start,
            filter_condition=(AccessRecord.staff == staff) if staff else None,
            page_size=limit + 1)
    else:
        partition = AccessRecord.staff_key(str(staff))
        names = ("pk", "sk", "gsi1pk", "gsi1sk")
        start = _decode(token, names, "gsi1pk", partition)
        found = AccessRecord.by_staff.query(partition, scan_index_forward=False,
                                            last_evaluated_key=start, page_size=limit + 1)
    taken = list(islice(found, limit + 1))
    if len(taken) <= limit:
        return Page(taken, None)
    last = taken[limit - 1]
    return Page(taken[:limit], _encode({name: getattr(last, name) for name in names}))


def _encode(key: dict[str, str]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str | None, names: tuple[str, ...], partition_name: str, partition: str
            ) -> dict[str, dict[str, str]] | None:
    """The DynamoDB start key of a token this query gave, else `ValidationFailed`."""
    if token is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        valid = (isinstance(key, dict) and set(key) == set(names)
                 and all(isinstance(v, str) for v in key.values())
                 and key[partition_name] == partition)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        valid = False
    if not valid:
        raise ValidationFailed([FieldError("nextToken", "not a token this query gave you")])
    return {name: {"S": value} for name, value in key.items()}
