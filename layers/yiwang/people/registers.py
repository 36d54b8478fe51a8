"""人口库、法人库: the person and company registers, read through the data-sharing exchange
(`yiwang.platform.exchange`), every lookup leaving an access record (who asked, whose data,
for which case, why: `yiwang.people.access_log`).

Intake uses `check_applicant`: the applicant as the register knows them (name, standing,
address, legal representative), or a refusal with its own problem code — a person the
register does not hold or holds as deceased, a company revoked (吊销) or cancelled (注销), a
name that does not match the number. When the exchange is down the check is `UNAVAILABLE` and
intake goes on: the applicant uploads what the register would have confirmed.

The lookup's access records are returned unwritten, so intake writes them in the draft's own
transaction (no extra request to the table); a refused lookup writes them at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from yiwang.people.access import Caller
from yiwang.people.access_log import (
    RETENTION,
    AccessRecord,
    Purpose,
    Resource,
    applicant_subject,
)
from yiwang.platform.errors import Unprocessable
from yiwang.platform.exchange import (
    COMPANY_CANCELLED,
    COMPANY_REVOKED,
    Call,
    Company,
    Exchange,
    ExchangeUnavailable,
    Person,
    exchange_from_settings,
)


class PersonNotFound(Unprocessable):
    """The person register holds no one with this identity number."""

    code = "PERSON_NOT_FOUND"
    title = "The person register has no one with this identity number"


class PersonDeceased(Unprocessable):
    """The person register records this person as deceased."""

    code = "PERSON_DECEASED"
    title = "The person register records this person as deceased"


class CompanyNotFound(Unprocessable):
    """The company register holds no legal person with this credit code."""

    code = "COMPANY_NOT_FOUND"
    title = "The company register has no legal person with this credit code"


class CompanyRevoked(Unprocessable):
    """The company's business licence is revoked (吊销营业执照)."""

    code = "COMPANY_REVOKED"
    title = "The company's business licence is revoked"


class CompanyCancelled(Unprocessable):
    """The company is cancelled (注销): it no longer exists."""

    code = "COMPANY_CANCELLED"
    title = "The company is cancelled"


class NameMismatch(Unprocessable):
    """The name given is not the register's name for this number."""

    code = "NAME_MISMATCH"
    title = "The name does not match the register's record of this number"


class CheckStatus(StrEnum):
    VERIFIED = "VERIFIED"
    UNAVAILABLE = "UNAVAILABLE"


PERSON_REGISTER = "PERSON_REGISTER"
COMPANY_REGISTER = "COMPANY_REGISTER"


@dataclass(frozen=True)
class Check:
    """What the register said of an applicant: VERIFIED with the record and the fields it
    fills (`prefill`, each with its source), or UNAVAILABLE (the exchange did not answer).
    `access` holds the lookup's access records, still to be written."""

    status: CheckStatus
    source: str
    record: Person | Company | None = None
    access: list[AccessRecord] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def prefill(self) -> dict[str, str]:
        """The applicant's fields the register fills: address, legal representative."""
        if isinstance(self.record, Company):
            return {k: v for k, v in (("legalRepresentative", self.record.legal_representative),
                                      ("address", self.record.address)) if v}
        if isinstance(self.record, Person) and self.record.address:
            return {"address": self.record.address}
        return {}

    def fields(self) -> dict[str, Any]:
        """The register record's fields (for `register.<field>` form sources), if verified."""
        if isinstance(self.record, Company):
            return {"name": self.record.name, "creditCode": self.record.credit_code,
                    "address": self.record.address,
                    "legalRepresentative": self.record.legal_representative,
                    "businessScope": self.record.business_scope}
        if isinstance(self.record, Person):
            return {"name": self.record.name, "idNumber": self.record.id_number,
                    "address": self.record.address}
        return {}

    def summary(self) -> dict[str, Any]:
        """How the check is kept with the application (and shown): source, status, when,
        and which fields came from the register."""
        return {"source": self.source, "status": self.status.value,
                "checkedAt": self.at.isoformat(), "prefilled": sorted(self.prefill())}


def lookup_record(caller: Caller, subject_code: str, register: str, call: Call,
                  now: datetime | None = None) -> AccessRecord:
    """The access record of one register lookup (unwritten): who (`caller`), whose data
    (`subject_code`), which case (`call.case_id`), why (`call.purpose`)."""
    now = now or datetime.now(UTC)
    sort_key = f"{now.isoformat()}#{uuid.uuid4().hex[:12]}"
    kind = {PERSON_REGISTER: Resource.PERSON_REGISTER,
            COMPANY_REGISTER: Resource.COMPANY_REGISTER}.get(register, Resource.CERTIFICATE)
    return AccessRecord(
        AccessRecord.key(applicant_subject(subject_code)), sort_key, at=now, staff=caller.sub,
        role=caller.role, department=caller.dept, resource_kind=kind.value,
        resource_id=register, case_id=call.case_id, purpose=call.purpose,
        expires_at=int((now + RETENTION).timestamp()),
        gsi1pk=AccessRecord.staff_key(caller.sub), gsi1sk=sort_key)


def person(caller: Caller, id_number: str, call: Call, exchange: Exchange | None = None,
           ) -> tuple[Person | None, AccessRecord]:
    """The person register's record (None if it holds none) and the lookup's access record
    (unwritten); `ExchangeUnavailable` when the exchange does not answer."""
    access = lookup_record(caller, id_number, PERSON_REGISTER, call)
    return (exchange or exchange_from_settings()).person(id_number, call), access


def company(caller: Caller, credit_code: str, call: Call, exchange: Exchange | None = None,
            ) -> tuple[Company | None, AccessRecord]:
    """The company register's record (None if it holds none) and the lookup's access record
    (unwritten); `ExchangeUnavailable` when the exchange does not answer."""
    access = lookup_record(caller, credit_code, COMPANY_REGISTER, call)
    return (exchange or exchange_from_settings()).company(credit_code, call), access


def check_applicant(caller: Caller, applicant: dict[str, Any], case_id: str,
                    exchange: Exchange | None = None) -> Check:
    """The applicant checked against their register (`Purpose.INTAKE_CHECK`, for `case_id`).

    A refusal (`PersonNotFound`, `PersonDeceased`, `CompanyNotFound`, `CompanyRevoked`,
    `CompanyCancelled`, `NameMismatch`) writes the lookup's access record before it is
    raised; otherwise the record is in the answer, for the caller to write with its own."""
    call = Call(Purpose.INTAKE_CHECK.value, case_id)
    legal = applicant["kind"] == "LEGAL"
    source = COMPANY_REGISTER if legal else PERSON_REGISTER
    code = applicant.get("creditCode" if legal else "idNumber") or ""
    access = lookup_record(caller, code, source, call)
    try:
        exchange = exchange or exchange_from_settings()
        found = exchange.company(code, call) if legal else exchange.person(code, call)
    except ExchangeUnavailable:
        return Check(CheckStatus.UNAVAILABLE, source, access=[access])
    try:
        _refuse_unless_standing(found, legal, code, applicant.get("name", ""))
    except Unprocessable:
        access.save()  # the lookup happened: it is recorded even though intake stops here
        raise
    return Check(CheckStatus.VERIFIED, source, found, [access])


def _refuse_unless_standing(found: Person | Company | None, legal: bool, code: str,
                            name: str) -> None:
    if found is None:
        raise (CompanyNotFound if legal else PersonNotFound)(f"no register record of {code}")
    if isinstance(found, Company):
        if found.status == COMPANY_REVOKED:
            raise CompanyRevoked(f"{found.name}'s business licence is revoked (吊销)")
        if found.status == COMPANY_CANCELLED:
            raise CompanyCancelled(f"{found.name} is cancelled (注销)")
    elif not found.alive:
        raise PersonDeceased("the person register records this person as deceased")
    if _normal(found.name) != _normal(name):
        raise NameMismatch("the name given is not the register's name for this number")


def _normal(name: str) -> str:
    """A name compared as registers compare them: without spaces, full-width brackets as
    half-width (公司（广州） = 公司(广州))."""
    return "".join(name.split()).replace("（", "(").replace("）", ")")


SELF = "SELF"
"""The case of a lookup of one's own record, outside any application."""


def own_record(caller: Caller, exchange: Exchange | None = None) -> dict[str, Any]:
    """`GET /me/register`: the caller's own record in their register (a company's for its
    staff, by the token's credit code; else the person's), to fill forms from, each field with
    its source. `NotFound` when the caller has no identifier or the register holds none;
    `ExchangeUnavailable` (503) when the exchange does not answer. The lookup is recorded."""
    from yiwang.platform.errors import NotFound

    legal = bool(caller.credit_code)
    code = caller.credit_code or caller.id_number
    if not code:
        raise NotFound("your account carries no identity number or credit code")
    call = Call(Purpose.PREFILL.value, SELF)
    access = lookup_record(caller, code, COMPANY_REGISTER if legal else PERSON_REGISTER, call)
    access.save()  # before asking: an attempt is a lookup too
    exchange = exchange or exchange_from_settings()
    found = exchange.company(code, call) if legal else exchange.person(code, call)
    if found is None:
        raise NotFound("your register holds no record of you")
    source = COMPANY_REGISTER if legal else PERSON_REGISTER
    fields = ({"creditCode": found.credit_code, "name": found.name, "status": found.status,
               "legalRepresentative": found.legal_representative, "address": found.address,
               "businessScope": found.business_scope} if isinstance(found, Company)
              else {"idNumber": found.id_number, "name": found.name, "status": found.status,
                    "address": found.address})
    return {"source": source, "kind": "LEGAL" if legal else "PERSON",
            "fields": {name: value for name, value in fields.items() if value is not None}}
