"""证照库: the certificate library — every certificate the platform issued, by holder, with its
standing; and certificates other issuers hold for someone, read through the data-sharing
exchange and counted only once verified against their issuer's published key.

Standing (证照状态). A certificate is VALID from issue to the end of its validity (then
EXPIRED, computed, never stored). The issuing department's reviewers may suspend it (暂扣),
lift a suspension, revoke it (吊销) or annul it (注销), each with a reason and the deciding
authority, audited in the certificate's partition (`CERT#<number>`, sk `AUDIT#...`):

    VALID ──暂扣──▶ SUSPENDED ──恢复──▶ VALID
    VALID | SUSPENDED ──吊销──▶ REVOKED        VALID | SUSPENDED ──注销──▶ ANNULLED

Revoked and annulled are final. The change is one conditional write (the standing it was read
in), so two concurrent decisions never both apply.

Reading the library:
- `GET /me/certificates`: the holder's own (a company's for its staff, by the token's credit
  code): one Query on ListIndex `CERTHOLDER#<code>`;
- `GET /applications/{id}/holder-certificates`: staff who handle a case see what its applicant
  holds, with the purpose recorded (`yiwang.people.access_log`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from pynamodb.transactions import TransactWrite

from yiwang.applications import drafts
from yiwang.fulfilment.certificates import (
    SHANGHAI,
    CertificateRecord,
    canonical_bytes,
    facts_of,
    load,
)
from yiwang.people import policy
from yiwang.people.access import Caller
from yiwang.platform import validation
from yiwang.platform.errors import Conflict, NotFound, ValidationFailed
from yiwang.table.records import connection, new_audit_for
from yiwang.table.writes import write_if

CHANGE = "changeCertificateStanding"


class Standing(StrEnum):
    """Where a certificate stands today."""

    VALID = "VALID"
    SUSPENDED = "SUSPENDED"
    """暂扣: not in force until the suspension is lifted."""
    REVOKED = "REVOKED"
    """吊销: withdrawn as a sanction; final."""
    ANNULLED = "ANNULLED"
    """注销: cancelled (the holder gave it up, the activity ended, a revocation carried out)."""
    EXPIRED = "EXPIRED"
    """Past the end of its validity (computed from the document, never stored)."""


MOVES: dict[Standing, frozenset[Standing]] = {
    Standing.SUSPENDED: frozenset({Standing.VALID}),
    Standing.VALID: frozenset({Standing.SUSPENDED}),  # lifting a suspension
    Standing.REVOKED: frozenset({Standing.VALID, Standing.SUSPENDED}),
    Standing.ANNULLED: frozenset({Standing.VALID, Standing.SUSPENDED}),
}
"""Target standing → the standings it may be decided from."""
EVENTS = {Standing.SUSPENDED: "CERTIFICATE_SUSPENDED", Standing.VALID: "CERTIFICATE_REINSTATED",
          Standing.REVOKED: "CERTIFICATE_REVOKED", Standing.ANNULLED: "CERTIFICATE_ANNULLED"}

_CHANGE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["standing", "reason", "authority"],
    "additionalProperties": False,
    "properties": {
        "standing": {"enum": [s.value for s in MOVES]},
        "reason": {"type": "string", "minLength": 1, "maxLength": 500},
        "authority": {"type": "string", "minLength": 1, "maxLength": 200,
                      "description": "the deciding authority (决定机关) and its decision number"},
    },
}


def stored_standing(record: CertificateRecord) -> Standing:
    """The standing last decided (VALID when none was)."""
    return Standing(record.standing or Standing.VALID)


def standing_of(record: CertificateRecord, today: date | None = None) -> Standing:
    """Where the certificate stands today: the decided standing, or EXPIRED once a VALID
    certificate is past its validity's last day (Asia/Shanghai)."""
    decided = stored_standing(record)
    if decided != Standing.VALID:
        return decided
    until = (json.loads(record.document).get("validity") or {}).get("to")
    today = today or datetime.now(SHANGHAI).date()
    if until and date.fromisoformat(until) < today:
        return Standing.EXPIRED
    return Standing.VALID


def summary(record: CertificateRecord, today: date | None = None) -> dict[str, Any]:
    """A certificate as the library lists it (the document's content, its standing)."""
    document = json.loads(record.document)
    return {
        "number": record.number, "source": "PLATFORM",
        "type": document.get("licenceType", {}).get("name"),
        "itemCode": record.item_code, "applicationId": record.application_id,
        "holder": document.get("holder", {}).get("name"),
        "issuingBody": document.get("issuingBody", {}).get("name"),
        "issuedAt": record.issued_at.isoformat(), "validity": document.get("validity"),
        "standing": standing_of(record, today).value,
        **({"standingReason": record.standing_reason,
            "standingAuthority": record.standing_authority} if record.standing else {}),
        "facts": document.get("facts", []),
    }


def held_by(code: str) -> list[CertificateRecord]:
    """Every certificate the platform issued to `code` (identity number or credit code),
    newest first: one Query on the holder index."""
    return list(CertificateRecord.by_holder.query(f"CERTHOLDER#{code}", scan_index_forward=False))


def own_library(caller: Caller, exchange: Any = None) -> dict[str, Any]:
    """`GET /me/certificates`: the caller's certificates — a company's for its authorised
    staff (the token's credit code), else the person's (identity number) — those the platform
    issued and, through the exchange, those other issuers hold, once verified. With the
    exchange down the platform's own are listed and `exchange` says UNAVAILABLE."""
    from yiwang.people.registers import SELF

    code = caller.credit_code or caller.id_number
    if not code:
        raise NotFound("your account carries no identity number or credit code")
    return _library(caller, code, SELF, None, exchange)


def case_holder_library(caller: Caller, application_id: str, purpose: str | None,
                        exchange: Any = None) -> dict[str, Any]:
    """`GET /applications/{id}/holder-certificates`: what the case's applicant holds, for
    staff who handle the case (the access policy's `listCaseHolderCertificates`; anyone else
    is told there is no such application), the read recorded with its purpose."""
    record = drafts.load_for(caller, application_id, "listCaseHolderCertificates")
    applicant = record.applicant or {}
    code = applicant.get("idNumber") or applicant.get("creditCode")
    if not code:
        raise NotFound(f"application {application_id} names no holder")
    return _library(caller, code, application_id, purpose, exchange)


def _library(caller: Caller, code: str, case_id: str, purpose: str | None,
             exchange: Any) -> dict[str, Any]:
    """The holder's library; every lookup's access record written in one batch."""
    from yiwang.people.access_log import AccessRecord, Purpose
    from yiwang.people.registers import lookup_record
    from yiwang.platform.exchange import Call, ExchangeUnavailable

    own = [summary(found) for found in held_by(code)]
    records = []
    if purpose is not None:  # a staff read of the holder's certificates
        records.append(lookup_record(caller, code, "CERTIFICATE_LIBRARY", Call(purpose, case_id)))
    try:
        verified, refused, access = external_library(caller, code, case_id, exchange)
        status = "AVAILABLE"
    except ExchangeUnavailable:
        verified, refused, access, status = [], [], [
            lookup_record(caller, code, "CERTIFICATE_LIBRARY",
                          Call(Purpose.CERTIFICATE_CHECK.value, case_id))], "UNAVAILABLE"
    with AccessRecord.batch_write() as batch:
        for item in records + access:
            batch.save(item)
    return {"certificates": own + verified, "refused": refused, "exchange": status}


def change_standing(caller: Caller, number: str, payload: Any,
                    now: datetime | None = None) -> CertificateRecord:
    """暂扣、恢复、吊销、注销: move a certificate to `payload.standing` with its reason and
    authority, audited. The issuing department's reviewers (`changeCertificateStanding`);
    `Conflict` from a standing it cannot move from (or if another decision came first)."""
    policy.permit(CHANGE, caller)
    try:  # not theirs and unknown answer alike, before the body is looked at
        record = load(number)
    except NotFound:
        raise NotFound(f"no certificate {number}") from None
    policy.check(CHANGE, caller, facts_of(record, caller), NotFound(f"no certificate {number}"))
    errors = validation.errors(_CHANGE_SCHEMA, payload)
    if errors:
        raise ValidationFailed(errors)
    target, current = Standing(payload["standing"]), stored_standing(record)
    if current not in MOVES[target]:
        raise Conflict(f"certificate {number} is {current}; it cannot become {target}")
    now = now or datetime.now(UTC)
    audit = new_audit_for(CertificateRecord.key(number), caller.sub, EVENTS[target],
                          current.value, target.value,
                          {"reason": payload["reason"], "authority": payload["authority"]}, now)
    was = (CertificateRecord.standing.does_not_exist() if current == Standing.VALID
           and record.standing is None else CertificateRecord.standing == current.value)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(record, actions=[
                CertificateRecord.standing.set(target.value),
                CertificateRecord.standing_reason.set(payload["reason"]),
                CertificateRecord.standing_authority.set(payload["authority"]),
                CertificateRecord.standing_at.set(now)], condition=was)
            transaction.save(audit)

    if not write_if(write):
        raise Conflict(f"certificate {number} changed meanwhile; read it again")
    if target != Standing.VALID:  # no longer in force: open cases relying on it lose it
        from yiwang.fulfilment import reuse

        reuse.withdraw_for(number, caller.sub, target.value, now)
    record.standing, record.standing_reason = target.value, payload["reason"]
    record.standing_authority, record.standing_at = payload["authority"], now
    return record


def verdict(number: Any, today: date | None = None) -> dict[str, Any]:
    """The current standing of a genuine certificate (the signature already checked): `{"valid",
    "standing"}`, `valid` only while it stands VALID; UNKNOWN if the platform has no record."""
    try:
        record = load(str(number))
    except NotFound:
        return {"valid": False, "standing": "UNKNOWN",
                "reason": "the platform has no record of this certificate"}
    standing = standing_of(record, today)
    answer: dict[str, Any] = {"valid": standing == Standing.VALID, "standing": standing.value}
    if standing != Standing.VALID:
        answer["reason"] = (f"the certificate is {standing.value.lower()}"
                            + (f": {record.standing_reason} ({record.standing_authority})"
                               if record.standing_reason else ""))
    return answer


# ---------------------------------------------------------------------------------------------
# Certificates other issuers hold (外部证照), through the exchange


def verify_external(certificate: Any, public_key_pem: str | None,
                    today: date | None = None) -> str | None:
    """Why another issuer's certificate does not count, or None when it does: signed (ECDSA
    P-256, SHA-256, over the canonical JSON of the certificate without its signature) by the
    key its issuer publishes, and within its validity."""
    if not isinstance(certificate, dict) or not isinstance(certificate.get("signature"), str):
        return "the certificate carries no signature"
    if not public_key_pem:
        return f"the issuer {certificate.get('issuer')} publishes no key"
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    body = {name: value for name, value in certificate.items() if name != "signature"}
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return "the issuer's key is not an elliptic-curve key"
        key.verify(base64.b64decode(certificate["signature"], validate=True),
                   canonical_bytes(body), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return "the signature is not the issuer's: the certificate is forged or was changed"
    until = certificate.get("validUntil")
    today = today or datetime.now(SHANGHAI).date()
    if until and date.fromisoformat(str(until)) < today:
        return "the certificate has expired"
    return None


def external_summary(certificate: dict[str, Any]) -> dict[str, Any]:
    """Another issuer's verified certificate as the library lists it."""
    digest = hashlib.sha256(canonical_bytes(certificate)).hexdigest()
    return {"number": certificate.get("number"), "source": "EXCHANGE",
            "issuer": certificate.get("issuer"), "issuingBody": certificate.get("issuerName"),
            "type": certificate.get("typeName"), "typeCode": certificate.get("type"),
            "holder": (certificate.get("holder") or {}).get("name"),
            "issuedAt": certificate.get("issuedAt"),
            "validity": {"to": certificate.get("validUntil")},
            "standing": Standing.VALID.value, "content": certificate.get("content") or {},
            "digest": digest}


def external_library(caller: Caller, holder: str, case_id: str, exchange: Any = None,
                     ) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[Any]]:
    """Certificates other issuers hold for `holder`, through the exchange, for `case_id`:
    (verified summaries, refused ones with why, the lookups' access records, unwritten).
    `ExchangeUnavailable` when the exchange does not answer."""
    from yiwang.people.access_log import Purpose
    from yiwang.people.registers import lookup_record
    from yiwang.platform.exchange import Call, exchange_from_settings

    exchange = exchange or exchange_from_settings()
    call = Call(Purpose.CERTIFICATE_CHECK.value, case_id)
    access = [lookup_record(caller, holder, "CERTIFICATE_LIBRARY", call)]
    verified, refused = [], []
    keys: dict[str, str | None] = {}
    for certificate in exchange.certificates(holder, call):
        issuer = str(certificate.get("issuer"))
        if issuer not in keys:
            keys[issuer] = exchange.issuer_key(issuer, call)
        why = verify_external(certificate, keys[issuer])
        holder_code = (certificate.get("holder") or {}).get("code")
        if why is None and holder_code != holder:
            why = "the certificate is not this holder's"
        if why is None:
            verified.append(external_summary(certificate))
        else:
            refused.append({"number": str(certificate.get("number")), "reason": why})
    return verified, refused, access

