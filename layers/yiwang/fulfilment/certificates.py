"""电子证照: certificates issued for approved applications, signed so that anyone can verify them.

Identifier (证照标识): see `yiwang.fulfilment.certificate_numbers` (GB/T 36904-2018).

The certificate document is canonical JSON (keys sorted, UTF-8, no spaces, no NaN). The
signature is made by an asymmetric KMS key that never leaves KMS (`SIGNING_KEY_ID`; ECC_NIST_P256
with ECDSA_SHA_256, or an RSA key with RSASSA_PSS_SHA_256): KMS signs the SHA-256 digest of
the canonical bytes (`MessageType=DIGEST`, see `_sign`), so the signature is an ordinary one of
those bytes. Anyone can check it offline with the key's public key::

    canonical = canonical_bytes(envelope["document"])
    public_key.verify(b64decode(envelope["signature"]), canonical, ec.ECDSA(hashes.SHA256()))

(`openssl dgst -sha256 -verify key.pem -signature sig doc.json`).
The signed envelope carries the public key (PEM) and key id for that purpose, outside the signed
bytes; this platform's `verify` ignores them and trusts only the configured key.

Records, in the single table:
- certificate: pk=`CERT#<number>`, sk=`META`: the canonical document text (the exact signed
  bytes), signature, algorithm, key id, public key, holder code, the S3 key; gsi1pk=
  `CERTHOLDER#<holder code>`, gsi1sk=issuedAt on ListIndex (a holder's certificates, for reuse
  as materials, 免提交);
- pointer: pk=`APP#<application id>`, sk=`CERT`: the number and issue time (what the
  application view shows as `certificate`), and the guard that makes issuing idempotent;
- counter: pk=`CERTSEQ#<issuing body code>#<year>`, sk=`COUNTER`: `last`, incremented with
  UpdateItem ADD (atomic: concurrent issues never share a serial).
The signed envelope is also stored in the attachments bucket as `certificates/<number>.json`.

Idempotency: the certificate and the pointer are written in one transaction, conditional on
neither existing and on the application still being PAID or IN_REVIEW. A retried (or
concurrent) invocation finds the pointer and returns that certificate; it re-puts the same S3
object and completes the transition if an earlier attempt failed after the write. A lost race
leaves an unused serial (a gap), never a second certificate.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.applications import lifecycle, promise
from yiwang.applications.records import ApplicationRecord
from yiwang.applications.status import Status, sources
from yiwang.applications.tasks import ISSUING_CLOCK
from yiwang.catalogue import departments
from yiwang.catalogue.items import ItemVersion, get_item
from yiwang.deadlines import clocks
from yiwang.fulfilment.certificate_numbers import (
    InvalidCertificateNumber,
    is_credit_code,
    licence_type_code,
    make_number,
    parse_number,
)
from yiwang.people import policy
from yiwang.people.access import REVIEWER, SUPERVISOR, WINDOW, Caller
from yiwang.platform.clients import client
from yiwang.platform.config import ConfigurationError, settings
from yiwang.platform.errors import Conflict, NotFound
from yiwang.table.records import ListIndex, TableMeta, connection
from yiwang.table.writes import write_if

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLDER_IDENTITY_NUMBER = "111"
"""Holder code kind (持证主体代码类型): resident identity number (居民身份证)."""
HOLDER_CREDIT_CODE = "001"
"""Holder code kind: unified social credit code (统一社会信用代码)."""
DEFAULT_VALIDITY_YEARS = 5
ISSUED = Status.CERTIFICATE_ISSUED
"""行政许可法 art. 44: the licence is issued within 10 (working, art. 82) days of the decision."""
ISSUABLE_FROM = sources(ISSUED)
"""PAID for items with a fee; IN_REVIEW (every department approved) for items without one."""
ACTOR = "system"
FORMAT = "yiwang-certificate/1"
_ALGORITHMS = ("ECDSA_SHA_256", "RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256")
"""Signing algorithms this module can verify offline, in order of preference."""
_NOT_FACTS = frozenset({"phone", "mobile", "email", "contactName", "contactPhone"})
"""Form fields that say how to reach the applicant, not what the licence attests."""


# ---------------------------------------------------------------------------------------------
# The document


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no spaces, UTF-8 (not escaped).

    `ValueError` for what JSON cannot carry exactly (NaN, infinities)."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


GET = "getCertificate"
"""The operation whose rule says who may read a certificate."""


def issuing_body(department: str) -> dict[str, str]:
    """`{"name", "code"}` of a department, from the registry (发证机关 and its 统一社会信用代码);
    `Conflict` if the registry has no active department with a valid credit code."""
    try:
        entry = departments.issuing_body(department)
    except NotFound:
        entry = {}
    code = entry.get("creditCode", "")
    if not entry.get("name") or not is_credit_code(code):
        raise Conflict(f"department {department} has no active entry with a name and credit "
                       "code in the registry; a certificate cannot name it as its issuing body")
    return {"name": entry["name"], "code": code}


def _holder(application: ApplicationRecord) -> dict[str, str]:
    applicant = application.applicant or {}
    if applicant.get("kind") == "LEGAL":
        code, kind = applicant.get("creditCode"), HOLDER_CREDIT_CODE
    else:
        code, kind = applicant.get("idNumber"), HOLDER_IDENTITY_NUMBER
    if not code or not applicant.get("name"):
        raise Conflict(f"application {application.application_id} names no holder")
    return {"name": applicant["name"], "code": code, "codeKind": kind}


def _facts(item: ItemVersion, form: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The form's scalar answers, in the schema's order, each with its title."""
    properties = (item.form_schema or {}).get("properties") or {}
    form = form or {}
    order = [name for name in properties if name in form]
    order += sorted(name for name in form if name not in properties)
    facts = []
    for name in order:
        value = form[name]
        if name in _NOT_FACTS or not isinstance(value, (str, int, float, bool)):
            continue
        title = (properties.get(name) or {}).get("title") or name
        facts.append({"field": name, "label": title, "value": value})
    return facts


def _validity_years(item: ItemVersion) -> int:
    # Taken from the item when it gives one (`validityYears`); otherwise
    # DEFAULT_VALIDITY_YEARS (5).
    years = getattr(item, "validity_years", None)
    return int(years) if years else DEFAULT_VALIDITY_YEARS


def _years_later(start: date, years: int) -> date:
    """The last day of a period of `years` years from `start` (29 Feb → 28 Feb)."""
    try:
        anniversary = start.replace(year=start.year + years)
    except ValueError:  # 29 February, and the target year is not a leap year
        anniversary = date(start.year + years, 3, 1)
    return anniversary - timedelta(days=1)


def build_document(application: ApplicationRecord, item: ItemVersion, number: str,
                   body: dict[str, str], type_code: str, issued: date) -> dict[str, Any]:
    """The certificate document (GB/T 36903 metadata, as JSON) for an application."""
    return {
        "format": FORMAT,
        "number": number,
        "licenceType": {"code": type_code, "name": item.name},
        "holder": _holder(application),
        "issuingBody": body,
        "item": {"code": item.code, "name": item.name, "version": item.version},
        "applicationId": application.application_id,
        "issueDate": issued.isoformat(),
        "validity": {"from": issued.isoformat(),
                     "to": _years_later(issued, _validity_years(item)).isoformat()},
        "facts": _facts(item, application.form),
    }


# ---------------------------------------------------------------------------------------------
# Records


class CertificateRecord(Model):
    """电子证照: one issued certificate, with the exact bytes that were signed."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    number = UnicodeAttribute()
    application_id = UnicodeAttribute(attr_name="applicationId")
    item_code = UnicodeAttribute(attr_name="itemCode")
    holder_code = UnicodeAttribute(attr_name="holderCode")
    holder_code_kind = UnicodeAttribute(attr_name="holderCodeKind")
    issuing_body_code = UnicodeAttribute(attr_name="issuingBodyCode")
    issued_at = UTCDateTimeAttribute(attr_name="issuedAt")
    document = UnicodeAttribute()
    """The canonical JSON text of the document: exactly the bytes that were signed."""
    signature = UnicodeAttribute()
    algorithm = UnicodeAttribute()
    key_id = UnicodeAttribute(attr_name="keyId")
    public_key_pem = UnicodeAttribute(attr_name="publicKeyPem")
    s3_key = UnicodeAttribute(attr_name="s3Key")
    # 暂扣、吊销、注销 (`yiwang.fulfilment.library`): the standing last decided (none: VALID),
    # why, by which authority, when.
    standing = UnicodeAttribute(null=True)
    standing_reason = UnicodeAttribute(attr_name="standingReason", null=True)
    standing_authority = UnicodeAttribute(attr_name="standingAuthority", null=True)
    standing_at = UTCDateTimeAttribute(attr_name="standingAt", null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_holder = ListIndex()

    issued_now: bool = False
    """Not stored: True on the record `issue` returns when that call issued it (not a retry)."""

    @staticmethod
    def key(number: str) -> str:
        return f"CERT#{number}"


class CertificatePointer(Model):
    """The certificate of an application (pk=`APP#<id>`, sk=`CERT`)."""

    class Meta(TableMeta):
        pass

    SORT_KEY = "CERT"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=SORT_KEY)
    number = UnicodeAttribute()
    issued_at = UTCDateTimeAttribute(attr_name="issuedAt")


class SerialCounter(Model):
    """The last serial given out by one issuing body in one year."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="COUNTER")
    last = NumberAttribute(null=True)


def next_serial(issuing_body_code: str, year: int) -> str:
    """The next serial of an issuing body in a year: `<year><8 digits>`, never given twice
    (one UpdateItem ADD; DynamoDB applies concurrent ones one after the other)."""
    counter = SerialCounter(f"CERTSEQ#{issuing_body_code}#{year}", "COUNTER")
    counter.update(actions=[SerialCounter.last.add(1)])
    return f"{year}{int(counter.last):08d}"


def pointer_of(application_id: str) -> dict[str, str] | None:
    """`{"number", "issuedAt"}` of an application's certificate (the application view's
    `certificate`), or None before one is issued."""
    return pointer_view(_pointer(application_id))


def pointer_view(pointer: CertificatePointer | None) -> dict[str, str] | None:
    """`{"number", "issuedAt"}` of a pointer already read (a case file), or None."""
    if pointer is None:
        return None
    return {"number": pointer.number, "issuedAt": pointer.issued_at.isoformat()}


def _pointer(application_id: str) -> CertificatePointer | None:
    try:
        return CertificatePointer.get(ApplicationRecord.key(application_id),
                                      CertificatePointer.SORT_KEY, consistent_read=True)
    except CertificatePointer.DoesNotExist:
        return None


def load(number: str) -> CertificateRecord:
    """The certificate record; `NotFound` if there is none."""
    try:
        return CertificateRecord.get(CertificateRecord.key(number), "META", consistent_read=True)
    except CertificateRecord.DoesNotExist as missing:
        raise NotFound(f"no certificate {number}") from missing


def facts_of(record: CertificateRecord, caller: Caller) -> policy.Facts:
    """What the access policy needs of a certificate: its holder (by identity number or
    credit code), the departments that handled its item (read only for a reviewer, the one
    role that needs them), its case's regions (read only for a supervisor) and, for a window,
    whether it serves the case (上报件: the accepting region's window alone hands it over; the
    case read only for a window)."""
    departments: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    if caller.role == REVIEWER:
        version = json.loads(record.document)["item"]["version"]
        departments = frozenset(get_item(record.item_code, int(version)).departments)
    if caller.role == SUPERVISOR:  # its case's regions (one read, for supervisors only)
        from yiwang.applications.escalation import regions_of

        regions = regions_of(ApplicationRecord.load(record.application_id))
    with_staff = True
    if caller.role == WINDOW:
        from yiwang.applications.escalation import window_may_see

        try:
            case = ApplicationRecord.load(record.application_id)
        except NotFound:  # a certificate without its case: nothing region-bound to check
            case = None
        with_staff = case is None or window_may_see(case, caller.region)
    return policy.Facts(owner_codes=frozenset({record.holder_code}), departments=departments,
                        with_staff=with_staff, regions=regions)


def load_for(caller: Caller, number: str) -> CertificateRecord:
    """The certificate, for its holder, the issuing department, the window that hands it over
    and supervisors (`getCertificate`); `Forbidden` for a role that may not read certificates,
    `NotFound` for anyone else, as for a number that does not exist."""
    policy.permit(GET, caller)
    record = load(number)
    policy.check(GET, caller, facts_of(record, caller), NotFound(f"no certificate {number}"))
    return record


def envelope(record: CertificateRecord) -> dict[str, Any]:
    """The signed envelope: the document, its signature and, outside the signed bytes, how to
    check it (algorithm, key id, public key, and the SHA-256 digest that was signed)."""
    return {
        "document": json.loads(record.document),
        "signature": record.signature,
        "algorithm": record.algorithm,
        "keyId": record.key_id,
        "publicKeyPem": record.public_key_pem,
        "digest": hashlib.sha256(record.document.encode("utf-8")).hexdigest(),
    }


def get(number: str) -> dict[str, Any]:
    """The signed envelope of a certificate; `NotFound` if there is none."""
    return envelope(load(number))


# ---------------------------------------------------------------------------------------------
# Keys and signatures


@dataclass(frozen=True)
class SigningKey:
    """A KMS signing key as seen from outside KMS: its public key and the algorithm used."""

    key_id: str
    algorithm: str
    public_key: Any
    public_key_pem: str

    def verifies(self, signature: bytes, digest: bytes) -> bool:
        """Whether `signature` is this key's over the document whose SHA-256 is `digest` (a
        standard signature of the canonical bytes: KMS signed the digest as a DIGEST)."""
        # cryptography is imported where keys are used (here and in `signing_key`): the API's
        # function imports this module for the application view's certificate pointer.
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        sha256 = Prehashed(hashes.SHA256())
        try:
            if self.algorithm == "ECDSA_SHA_256":
                self.public_key.verify(signature, digest, ec.ECDSA(sha256))
            elif self.algorithm == "RSASSA_PSS_SHA_256":
                self.public_key.verify(signature, digest, padding.PSS(
                    mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO), sha256)
            else:
                self.public_key.verify(signature, digest, padding.PKCS1v15(), sha256)
        except (InvalidSignature, ValueError):
            return False
        return True


_KEYS: dict[str, SigningKey] = {}


def signing_key(key_id: str | None = None, kms: Any = None) -> SigningKey:
    """The platform's signing key (`SIGNING_KEY_ID` unless given), its public key fetched from
    KMS once per process (a key's public key never changes)."""
    key_id = key_id or settings().require("signing_key_id")
    if key_id not in _KEYS:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        answer = (kms or client("kms")).get_public_key(KeyId=key_id)
        offered = answer.get("SigningAlgorithms") or []
        algorithm = next((a for a in _ALGORITHMS if a in offered), None)
        if answer.get("KeyUsage") != "SIGN_VERIFY" or algorithm is None:
            raise ConfigurationError(
                f"SIGNING_KEY_ID {key_id} is not a signing key with one of {', '.join(_ALGORITHMS)}"
                f" (KeyUsage {answer.get('KeyUsage')}, algorithms {offered})")
        public_key = serialization.load_der_public_key(answer["PublicKey"])
        if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            raise ConfigurationError(f"SIGNING_KEY_ID {key_id} has an unsupported key type")
        pem = public_key.public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        _KEYS[key_id] = SigningKey(answer.get("KeyId") or key_id, algorithm, public_key, pem)
    return _KEYS[key_id]


def _sign(canonical: bytes, key: SigningKey, kms: Any) -> str:
    # As AWS recommends for messages that may exceed KMS's 4096 bytes: send the SHA-256
    # digest as a DIGEST. The signature is then a standard one of the canonical bytes.
    digest = hashlib.sha256(canonical).digest()
    answer = kms.sign(KeyId=key.key_id, Message=digest, MessageType="DIGEST",
                      SigningAlgorithm=key.algorithm)
    return base64.b64encode(answer["Signature"]).decode("ascii")


# ---------------------------------------------------------------------------------------------
# Issuing


def issue(application_id: str, now: datetime | None = None, *, kms: Any = None,
          s3: Any = None) -> CertificateRecord:
    """Issue the certificate of an approved (PAID, or IN_REVIEW without a fee) application,
    store it (DynamoDB, S3) and move the application to CERTIFICATE_ISSUED, audited.

    Idempotent: if the application has a certificate, that one is returned (and whatever an
    earlier attempt left undone is finished); `issued_now` tells a new one from a retry.
    `ApplicationNotFound`; `Conflict` if the application is in no status to get one.
    """
    kms = kms or client("kms")
    s3 = s3 or client("s3")
    bucket = settings().require("bucket_name")
    record = _issued(application_id)
    if record is None:
        application = ApplicationRecord.load(application_id)
        if application.status in ISSUABLE_FROM:
            record = _new_certificate(application, now or datetime.now(UTC), kms)
            if _save_new(record):
                record.issued_now = True
            else:  # a concurrent attempt issued it, or the application changed meanwhile
                record = _issued(application_id)
        else:  # perhaps a concurrent attempt issued it since we looked
            record = _issued(application_id)
        if record is None:
            status = ApplicationRecord.load(application_id).status
            raise Conflict(f"application {application_id} is {status}; a certificate is "
                           f"issued when it is {' or '.join(sorted(ISSUABLE_FROM))}")
    s3.put_object(Bucket=bucket, Key=record.s3_key, ContentType="application/json; charset=utf-8",
                  Body=json.dumps(envelope(record), ensure_ascii=False, indent=2).encode())
    _mark_issued(application_id, record.number)
    return record


def _issued(application_id: str) -> CertificateRecord | None:
    pointer = _pointer(application_id)
    return load(pointer.number) if pointer is not None else None


def _new_certificate(application: ApplicationRecord, now: datetime, kms: Any) -> CertificateRecord:
    key = signing_key(kms=kms)  # before a serial is taken: a misconfiguration wastes none
    item = get_item(application.item_code, int(application.item_version))
    body = issuing_body(item.lead_department)
    type_code = licence_type_code(item, body["code"])
    issued = now.astimezone(SHANGHAI).date()
    number = make_number(type_code, body["code"], next_serial(body["code"], issued.year))
    document = build_document(application, item, number, body, type_code, issued)
    canonical = canonical_bytes(document)
    return CertificateRecord(
        CertificateRecord.key(number), "META", number=number,
        application_id=application.application_id, item_code=item.code,
        holder_code=document["holder"]["code"], holder_code_kind=document["holder"]["codeKind"],
        issuing_body_code=body["code"], issued_at=now.astimezone(UTC),
        document=canonical.decode("utf-8"), signature=_sign(canonical, key, kms),
        algorithm=key.algorithm, key_id=key.key_id, public_key_pem=key.public_key_pem,
        s3_key=f"certificates/{number}.json",
        gsi1pk=f"CERTHOLDER#{document['holder']['code']}",
        gsi1sk=now.astimezone(UTC).isoformat())


def _save_new(record: CertificateRecord) -> bool:
    """Write the certificate and the application's pointer together; False if the application
    got a certificate (or changed status) meanwhile, and nothing was written."""
    pointer = CertificatePointer(ApplicationRecord.key(record.application_id),
                                 CertificatePointer.SORT_KEY, number=record.number,
                                 issued_at=record.issued_at)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=CertificateRecord.pk.does_not_exist())
            transaction.save(pointer, condition=CertificatePointer.pk.does_not_exist())
            transaction.condition_check(
                ApplicationRecord, ApplicationRecord.key(record.application_id),
                ApplicationRecord.SORT_KEY,
                # 容缺: never while a committed material is outstanding.
                condition=ApplicationRecord.status.is_in(*sorted(ISSUABLE_FROM))
                & ApplicationRecord.outstanding_materials.does_not_exist())

    return write_if(write)


def _mark_issued(application_id: str, number: str) -> None:
    """PAID/IN_REVIEW → CERTIFICATE_ISSUED, audited; nothing if it is already past that."""
    try:
        lifecycle.transition(application_id, ISSUED, ACTOR, "CERTIFICATE_ISSUED",
                          detail={"number": number})
    except Conflict:
        # Already CERTIFICATE_ISSUED or later (a retry, or a concurrent attempt that won).
        if ApplicationRecord.load(application_id).status in ISSUABLE_FROM:
            raise
    clocks.stop(ApplicationRecord.key(application_id), ISSUING_CLOCK, datetime.now(UTC),
                reason=number)
    promise.stop(application_id, datetime.now(UTC), reason=number)  # decided: 办结


# ---------------------------------------------------------------------------------------------
# Verifying


def verify(submitted: Any, *, kms: Any = None) -> tuple[bool, str | None]:
    """Whether a certificate is genuine and unchanged: `(True, None)` or `(False, reason)`.

    `submitted` is the signed envelope, or at least its `document` and `signature`. The
    signature is checked over the canonical bytes of `document` with the public key of the
    platform's signing key (`SIGNING_KEY_ID`); a key or key id in the envelope is ignored.
    The number's check character is checked too. Any changed byte makes it invalid.
    """
    if not isinstance(submitted, dict):
        return False, "a certificate is a JSON object with its document and signature"
    document, signature = submitted.get("document"), submitted.get("signature")
    if not isinstance(document, dict):
        return False, "the certificate has no document"
    if not isinstance(signature, str) or not signature:
        return False, "the certificate has no signature"
    try:
        canonical = canonical_bytes(document)
    except ValueError as error:
        return False, f"the document cannot be canonicalised: {error}"
    try:
        parse_number(document.get("number"))
    except InvalidCertificateNumber as error:
        return False, f"the certificate number is not valid: {error}"
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError:
        return False, "the signature is not base64"
    key = signing_key(kms=kms)
    algorithm = submitted.get("algorithm")
    if algorithm is not None and algorithm != key.algorithm:
        return False, f"the platform signs with {key.algorithm}, not {algorithm}"
    if not key.verifies(raw_signature, hashlib.sha256(canonical).digest()):
        return False, ("the signature does not match the document: the document was changed "
                       "after signing, or it was not signed by the platform's key")
    return True, None
