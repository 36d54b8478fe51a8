"""材料免提交: a material satisfied by what the platform can check instead of a file.

An item's material may name what stands in for it (`satisfiedBy` in the catalogue): a
certificate of a type (another issuer's, through the exchange, or one the platform issued for
an item) or a register check (the company register for a business licence). At intake the
applicant is offered what their library and register hold (`offers`); choosing one
(`reference`) checks it again — the signature (the platform's key, or the issuer's published
one), the holder is the applicant, it is in force (not suspended, revoked, annulled or
expired); for a register, the company is active under the applicant's name — and records:

- a reference (pk=`APP#<id>`, sk=`REF#<materialId>`): source, what was checked, a snapshot
  of the certificate's content (what reviewers see in the case), its digest; on ListIndex
  `CERTREF#<number>` so a later revocation finds the open cases that rely on it;
- the material among the application's stored materials (pre-review counts it present);
- an audit record `MATERIAL_VERIFIED` (核验) with the source, and the lookups' access records;

all in one transaction. Uploading the file remains possible. A certificate suspended, revoked
or annulled while a case relying on it is open withdraws the reference (`withdraw_for`): the
material leaves the stored materials, so the case needs it supplemented (补正).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.applications import drafts
from yiwang.applications.records import ApplicationRecord, application_stub, new_audit
from yiwang.applications.status import Status
from yiwang.catalogue.items import ItemVersion, Material, get_item
from yiwang.fulfilment import certificates, library
from yiwang.people.access import Caller
from yiwang.platform.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unprocessable,
    ValidationFailed,
)
from yiwang.table.records import ListIndex, TableMeta, connection
from yiwang.table.writes import write_if

OFFERS = "listMaterialOffers"
REFERENCE = "referenceMaterial"
OPEN = frozenset({Status.DRAFT})
"""Where an application takes a reference (as it takes an upload): while it is a draft."""
CLOSED = frozenset({"COMPLETED", "REJECTED", "WITHDRAWN", "CERTIFICATE_ISSUED", "DELIVERING",
                    "AWAITING_PICKUP"})
"""Where a withdrawn certificate no longer matters to the case (decided, or being handed over)."""


class ReferenceRefused(Unprocessable):
    """What was chosen cannot stand in for the material (not the applicant's, not in force,
    forged, or not one the material accepts)."""

    code = "REFERENCE_REFUSED"
    title = "This cannot stand in for the material"


class MaterialReference(Model):
    """One material satisfied by a checked reference instead of a file."""

    class Meta(TableMeta):
        pass

    SORT_PREFIX = "REF#"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    application_id = UnicodeAttribute(attr_name="applicationId")
    material_id = UnicodeAttribute(attr_name="materialId")
    source = UnicodeAttribute()
    """PLATFORM (a certificate it issued), EXCHANGE (another issuer's), or a register."""
    number = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="VERIFIED")
    """VERIFIED, or WITHDRAWN once the certificate stopped being in force."""
    content = JSONAttribute()
    """What reviewers see in place of the file: the certificate's or register's content."""
    digest = UnicodeAttribute()
    verified_at = UTCDateTimeAttribute(attr_name="verifiedAt")
    verified_by = UnicodeAttribute(attr_name="verifiedBy")
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_certificate = ListIndex()

    @staticmethod
    def sort_key(material_id: str) -> str:
        return f"{MaterialReference.SORT_PREFIX}{material_id}"

    def view(self) -> dict[str, Any]:
        """The reference as the case shows it."""
        return {"materialId": self.material_id, "source": self.source, "number": self.number,
                "status": self.status, "verifiedAt": self.verified_at.isoformat(),
                "digest": self.digest, "content": self.content}


def _holder(record: ApplicationRecord) -> tuple[str, str, str]:
    applicant = record.applicant or {}
    legal = applicant.get("kind") == "LEGAL"
    return (str(applicant.get("creditCode" if legal else "idNumber") or ""),
            str(applicant.get("name") or ""), "LEGAL" if legal else "PERSON")


def _reusable(item: ItemVersion, kind: str, stored: list[str]) -> list[Material]:
    return [m for m in item.materials if m.satisfied_by and m.applies_to(kind)
            and m.id not in stored]


def offers(caller: Caller, application_id: str, exchange: Any = None) -> dict[str, Any]:
    """`GET /applications/{id}/material-offers`: for each material still missing that may be
    satisfied without a file, what the applicant's library and register hold for it."""
    record = drafts.load_for(caller, application_id, OFFERS)
    code, _, kind = _holder(record)
    item = get_item(record.item_code, int(record.item_version))
    wanted = _reusable(item, kind, record.stored_materials or [])
    answer: list[dict[str, Any]] = []
    if not wanted:
        return {"offers": answer}
    held = library._library(caller, code, application_id, None, exchange)
    for material in wanted:
        options = []
        for way, value in material.satisfied_by:
            if way == "certificate":
                options += [{"source": c["source"], "number": c["number"], "type": c["type"],
                             "issuingBody": c.get("issuingBody"), "validity": c.get("validity")}
                            for c in held["certificates"] if c["standing"] == "VALID"
                            and value in {c.get("typeCode"), c.get("itemCode")}]
            elif way == "register" and value == _register_of(kind):
                options.append({"source": value})
        answer.append({"materialId": material.id, "name": material.name, "options": options})
    return {"offers": answer, "exchange": held["exchange"]}


def _register_of(kind: str) -> str:
    return "COMPANY_REGISTER" if kind == "LEGAL" else "PERSON_REGISTER"


def reference(caller: Caller, application_id: str, payload: Any, exchange: Any = None,
              now: datetime | None = None) -> MaterialReference:
    """`POST /applications/{id}/material-references` `{"materialId", "source", "number"?}`:
    check what was chosen and record it as the material (one transaction)."""
    record = drafts.load_for(caller, application_id, REFERENCE)
    if record.status not in OPEN:
        raise Conflict(f"application {application_id} is {record.status}; materials are "
                       "referenced while it is a draft")
    material_id, source, number = _parse(payload)
    code, name, kind = _holder(record)
    item = get_item(record.item_code, int(record.item_version))
    material = next((m for m in item.materials if m.id == material_id), None)
    if material is None or not material.satisfied_by:
        raise ValidationFailed([FieldError("materialId", f"{material_id} cannot be satisfied "
                                                         "without a file")])
    now = now or datetime.now(UTC)
    content, access, types = _checked(caller, application_id, source, number, code, name, kind,
                                      exchange)
    accepted = {value for way, value in material.satisfied_by}
    if not accepted & types:
        raise ReferenceRefused(f"{material.name} accepts {', '.join(sorted(accepted))}, "
                               f"not this")
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False)
                            .encode()).hexdigest()
    ref = MaterialReference(
        ApplicationRecord.key(application_id), MaterialReference.sort_key(material_id),
        application_id=application_id, material_id=material_id, source=source, number=number,
        content=content, digest=digest, verified_at=now, verified_by=caller.sub,
        gsi1pk=f"CERTREF#{number}" if number else None,
        gsi1sk=application_id if number else None)
    audit = new_audit(application_id, caller.sub, "MATERIAL_VERIFIED", None, None,
                      {"materialId": material_id, "source": source, "number": number,
                       "digest": digest}, now)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(ref)
            transaction.update(
                application_stub(application_id),
                actions=[ApplicationRecord.stored_materials.set(
                    ApplicationRecord.stored_materials.append([material_id]))],
                condition=ApplicationRecord.status.is_in(*sorted(OPEN))
                & ~ApplicationRecord.stored_materials.contains({"S": material_id}),
                add_version_condition=False)
            transaction.save(audit)
            for lookup in access:
                transaction.save(lookup)

    if not write_if(write):
        raise Conflict(f"{material_id} is already present, or the application moved on")
    return ref


def _parse(payload: Any) -> tuple[str, str, str | None]:
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])
    material_id, source, number = (payload.get("materialId"), payload.get("source"),
                                   payload.get("number"))
    errors = []
    if not isinstance(material_id, str) or not material_id:
        errors.append(FieldError("materialId", "required"))
    if source not in {"PLATFORM", "EXCHANGE", "COMPANY_REGISTER", "PERSON_REGISTER"}:
        errors.append(FieldError("source", "one of PLATFORM, EXCHANGE, COMPANY_REGISTER, "
                                           "PERSON_REGISTER"))
    if source in {"PLATFORM", "EXCHANGE"} and (not isinstance(number, str) or not number
                                               or len(number) > 100):
        errors.append(FieldError("number", "the certificate's number"))
    if errors:
        raise ValidationFailed(errors)
    return str(material_id), str(source), number if source in {"PLATFORM", "EXCHANGE"} else None


def _checked(caller: Caller, case_id: str, source: str, number: str | None, code: str,
             name: str, kind: str, exchange: Any) -> tuple[dict[str, Any], list[Any], set[str]]:
    """(content, access records, the types it counts as), or `ReferenceRefused`."""
    if source == "PLATFORM":
        record = _platform(str(number), code)
        return library.summary(record), [], {record.item_code}
    if source == "EXCHANGE":
        verified, refused, access = library.external_library(caller, code, case_id, exchange)
        found = next((c for c in verified if c["number"] == number), None)
        if found is None:
            why = next((r["reason"] for r in refused if r["number"] == number),
                       "the holder has no such certificate")
            raise ReferenceRefused(why)
        return found, access, {found["typeCode"]}
    if source != _register_of(kind):
        raise ReferenceRefused(f"a {kind} applicant's register is {_register_of(kind)}")
    from yiwang.people import registers

    check = registers.check_applicant(caller, {"kind": kind, "name": name,
                                               "creditCode" if kind == "LEGAL" else "idNumber":
                                               code}, case_id, exchange)
    if check.status != registers.CheckStatus.VERIFIED:
        raise ReferenceRefused("the exchange is unavailable; upload the file instead")
    found = check.record
    content = ({"name": found.name, "creditCode": found.credit_code, "status": found.status,
                "legalRepresentative": found.legal_representative, "address": found.address,
                "businessScope": found.business_scope}
               if kind == "LEGAL" else {"name": found.name, "idNumber": found.id_number,
                                        "status": found.status})
    return content, check.access, {source}


def _platform(number: str, code: str) -> certificates.CertificateRecord:
    """A certificate the platform issued, checked: genuine, the holder's, in force."""
    try:
        record = certificates.load(number)
    except NotFound as missing:
        raise ReferenceRefused(f"no certificate {number}") from missing
    valid, reason = certificates.verify(certificates.envelope(record))
    if not valid:
        raise ReferenceRefused(str(reason))
    if record.holder_code != code:
        raise ReferenceRefused("the certificate is not the applicant's")
    standing = library.standing_of(record)
    if standing != library.Standing.VALID:
        raise ReferenceRefused(f"the certificate is {standing.value.lower()}")
    return record


def withdraw_for(number: str, actor: str, standing: str,
                 now: datetime | None = None) -> list[str]:
    """A certificate stopped being in force: withdraw every open case's reference to it (the
    material leaves the stored materials, to be supplemented), audited. The cases' ids."""
    now = now or datetime.now(UTC)
    withdrawn = []
    for ref in MaterialReference.by_certificate.query(f"CERTREF#{number}"):
        if ref.status != "VERIFIED":
            continue
        record = ApplicationRecord.load(ref.application_id)
        if record.status in CLOSED:
            continue
        ref.status = "WITHDRAWN"
        audit = new_audit(ref.application_id, actor, "MATERIAL_REFERENCE_WITHDRAWN", None, None,
                          {"materialId": ref.material_id, "number": number,
                           "standing": standing}, now)
        remaining = [m for m in record.stored_materials or [] if m != ref.material_id]

        def write(ref: MaterialReference = ref, audit: Any = audit,
                  remaining: list[str] = remaining, version: int = record.version) -> None:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(ref)
                transaction.update(application_stub(ref.application_id), actions=[
                    ApplicationRecord.stored_materials.set(remaining)],
                    condition=ApplicationRecord.version == version,
                    add_version_condition=False)
                transaction.save(audit)

        if write_if(write):
            withdrawn.append(ref.application_id)
    return withdrawn


def references_in(items: list[dict[str, Any]]) -> list[MaterialReference]:
    """The references among a case file's unmodelled items (`CaseFile.other`)."""
    return [MaterialReference.from_raw_data(item) for item in items
            if item["sk"]["S"].startswith(MaterialReference.SORT_PREFIX)]
