"""办件 intake: drafts, materials uploaded straight to S3, submission.

The applicant (or window staff on their behalf) drafts an application against the published
version of an item; the form is checked against that version's JSON Schema and the identity
number against its check character. Materials go to S3 through presigned URLs (multipart
above one part), never through the API; on completion size, type and SHA-256 are checked.
Submission moves DRAFT → SUBMITTED with a conditional write and an audit record, and starts
the lifecycle execution named after the application, so a repeated submit starts nothing new.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import PutError
from pynamodb.transactions import TransactGet, TransactWrite

from yiwang.applications.records import (
    ApplicationRecord,
    AttachmentRecord,
    AttachmentStatus,
    application_stub,
    new_audit,
)
from yiwang.applications.status import Status, check_move
from yiwang.people.access import ADMIN, APPLICANT, REVIEWER, SUPERVISOR, WINDOW, Caller
from yiwang.platform import identity, validation, workflow
from yiwang.platform.errors import (
    ApplicationNotFound,
    Conflict,
    FieldError,
    Forbidden,
    ValidationFailed,
)
from yiwang.platform.observability import MetricUnit, metrics
from yiwang.table.records import AuditRecord, connection
from yiwang.table.writes import condition_failed, write_if, write_or_conflict

if TYPE_CHECKING:
    from yiwang.catalogue.items import ItemVersion
    from yiwang.table.idempotency import Receipt
# The catalogue and the idempotency receipts are imported where they are used: most functions
# import this module for `transition` and the records, and need neither at their cold start
# (the catalogue is one of the layer's largest modules to compile; make bench).

MiB = 1024 * 1024
PART_SIZE = 64 * MiB
"""Multipart part size: 32 parts for a 2 GiB drawing, each well above S3's 5 MiB minimum."""
INLINE_CHECK_LIMIT = 64 * MiB
"""Objects up to this size are hashed while the client waits; larger ones are checked by the
attachment check function that S3's ObjectCreated notification starts."""
Presenter = Callable[[ApplicationRecord, AuditRecord, Caller], dict[str, Any]]
"""How a new draft is shown (the presentation lives above this module, in `yiwang.views`)."""
UPLOAD_URL_TTL = timedelta(hours=6)
CREATE_SCOPE = "create-application"
"""Idempotency scope of `POST /applications` (receipts keyed `<caller>:<Idempotency-Key>`)."""
_PHONE = re.compile(r"^(\+?86)?1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "dwg": (b"AC10", b"AC1."),
    "ofd": (b"PK\x03\x04",),
}

_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["itemCode", "applicant", "form", "delivery"],
    "properties": {
        "itemCode": {"type": "string", "minLength": 1},
        "applicant": {
            "type": "object", "required": ["kind", "name", "phone"],
            "properties": {
                "kind": {"enum": ["PERSON", "LEGAL"]},
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "idNumber": {"type": "string"}, "creditCode": {"type": "string"},
                "phone": {"type": "string"},
            },
        },
        "form": {"type": "object"},
        "delivery": {
            "type": "object", "required": ["method"],
            "properties": {"method": {"enum": ["PICKUP", "COURIER"]},
                           "address": {"type": ["string", "object"]}},
        },
    },
}
_UPLOAD: dict[str, Any] = {
    "type": "object", "required": ["materialId", "fileName", "contentType", "sizeBytes", "sha256"],
    "properties": {
        "materialId": {"type": "string", "minLength": 1},
        "fileName": {"type": "string", "minLength": 1, "maxLength": 255},
        "contentType": {"type": "string", "minLength": 1},
        "sizeBytes": {"type": "integer", "minimum": 1},
        "sha256": {"type": "string"},
    },
}


def new_application_id(now: datetime) -> str:
    """办件编号: `YW` + date (Asia/Shanghai not needed for uniqueness) + 8 random digits."""
    return f"YW{now:%Y%m%d}{secrets.randbelow(10**8):08d}"


def _applicant_code(applicant: dict[str, Any]) -> str:
    return applicant.get("idNumber") or applicant.get("creditCode") or ""


def validate_draft(item: ItemVersion, payload: Any) -> dict[str, Any]:
    """The draft as stored (identifiers normalised), or `ValidationFailed` with every error."""
    errors = validation.errors(_ENVELOPE, payload)
    if errors:
        raise ValidationFailed(errors)
    applicant = dict(payload["applicant"])
    if applicant["kind"] not in item.applicant_kinds:
        errors.append(FieldError("applicant.kind", f"{item.name} is not for {applicant['kind']}"))
    field, check = (("idNumber", identity.validate_resident_id) if applicant["kind"] == "PERSON"
                    else ("creditCode", identity.validate_credit_code))
    try:
        applicant[field] = check(applicant.get(field) or "")
    except identity.InvalidIdentifier as error:
        errors.append(FieldError(f"applicant.{field}", str(error)))
    if not _PHONE.match(applicant["phone"]):
        errors.append(FieldError("applicant.phone", "not a mainland China phone number"))
    errors.extend(validation.errors(item.form_schema, payload["form"], "form", formats=True))
    delivery = payload["delivery"]
    if delivery["method"] not in item.delivery_methods:
        errors.append(FieldError("delivery.method", f"{item.name} is not delivered by "
                                                    f"{delivery['method']}"))
    if delivery["method"] == "COURIER" and not delivery.get("address"):
        errors.append(FieldError("delivery.address", "a courier delivery needs an address"))
    if errors:
        raise ValidationFailed(errors)
    return {"applicant": applicant, "form": payload["form"], "delivery": delivery}


def create_draft(caller: Caller, payload: Any, now: datetime | None = None) -> ApplicationRecord:
    """A new application in status DRAFT, with its audit record."""
    record, audit = _new_draft(caller, payload, now)
    _write_draft(record, audit)
    return record


def create_draft_answer(caller: Caller, payload: Any, present: Presenter,
                        idempotency_key: str | None = None,
                        now: datetime | None = None) -> dict[str, Any]:
    """`POST /applications`: a new draft, answered as `present` shows it (the draft, its audit
    record and the caller: `yiwang.views.applications.draft`), without reading back
    what was just written. With an `Idempotency-Key` the answer is kept in a receipt written in
    the draft's own transaction, so a repeated request gets the first answer (one GetItem) and
    never a second draft; the same key with another body is a `Conflict`."""
    from yiwang.table.idempotency import Receipt

    receipt = (Receipt(CREATE_SCOPE, f"{caller.sub}:{idempotency_key}", payload)
               if idempotency_key else None)
    if receipt is not None and (first := receipt.stored_answer()) is not None:
        return first
    record, audit = _new_draft(caller, payload, now)
    answer = present(record, audit, caller)
    if receipt is None:
        write_or_conflict(lambda: _write_draft(record, audit),
                          f"application {record.application_id} exists already")
        return answer
    if not write_if(lambda: _write_draft(record, audit, receipt, answer)):
        first = receipt.stored_answer()  # a concurrent request with this key was first
        if first is None:
            raise Conflict("a request with this Idempotency-Key is still in progress")
        return first
    return answer


def _new_draft(caller: Caller, payload: Any,
               now: datetime | None) -> tuple[ApplicationRecord, AuditRecord]:
    caller.require(APPLICANT, WINDOW)
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])
    from yiwang.catalogue.items import get_item

    item = get_item(str(payload.get("itemCode", "")))
    draft = validate_draft(item, payload)
    code = _applicant_code(draft["applicant"])
    if caller.role == APPLICANT and code not in {caller.id_number, caller.credit_code}:
        raise Forbidden("applicants apply in their own name (window staff apply for others)")
    now = now or datetime.now(UTC)
    application_id = new_application_id(now)
    record = ApplicationRecord(
        ApplicationRecord.key(application_id), "META",
        application_id=application_id, status=Status.DRAFT, item_code=item.code,
        item_version=item.version, owner_sub=caller.sub, created_at=now,
        required_materials=[m.id for m in item.materials if m.required and not m.later_allowed],
        stored_materials=[], gsi1pk=f"APPLICANT#{code}", gsi1sk=now.isoformat(), **draft,
    )
    audit = new_audit(application_id, caller.sub, "DRAFT_CREATED", None, Status.DRAFT,
                      {"itemCode": item.code, "itemVersion": item.version})
    return record, audit


def _write_draft(record: ApplicationRecord, audit: AuditRecord, receipt: Receipt | None = None,
                 answer: dict[str, Any] | None = None) -> None:
    with TransactWrite(connection=connection()) as transaction:
        transaction.save(record, condition=ApplicationRecord.pk.does_not_exist())
        transaction.save(audit)
        if receipt is not None:
            receipt.write_in(transaction, answer or {})


def _load_attachment_for(caller: Caller, application_id: str,
                         attachment_id: str) -> tuple[ApplicationRecord, AttachmentRecord]:
    """The application (if the caller may see it, as `load_for`) and one of its attachments,
    read together (one TransactGetItems); `ApplicationNotFound` for either missing."""
    key = ApplicationRecord.key(application_id)
    with TransactGet(connection=connection()) as read:
        found = read.get(ApplicationRecord, key, "META")
        upload = read.get(AttachmentRecord, key, AttachmentRecord.sort_key(attachment_id))
    try:
        record = found.get()
    except ApplicationRecord.DoesNotExist as missing:
        raise ApplicationNotFound(f"no application {application_id}") from missing
    if not can_see(caller, record):
        raise ApplicationNotFound(f"no application {application_id}")
    try:
        return record, upload.get()
    except AttachmentRecord.DoesNotExist as missing:
        raise ApplicationNotFound(f"no attachment {attachment_id}") from missing


def can_see(caller: Caller, record: ApplicationRecord, item: ItemVersion | None = None) -> bool:
    """Applicants see their own; reviewers their departments'; other staff all."""
    if caller.role == APPLICANT:
        code = _applicant_code(record.applicant or {})
        return caller.sub == record.owner_sub or code in {caller.id_number, caller.credit_code}
    if caller.role == REVIEWER:
        if item is None:
            from yiwang.catalogue.items import get_item

            item = get_item(record.item_code, int(record.item_version))
        return caller.dept in item.departments
    return caller.role in {WINDOW, SUPERVISOR, ADMIN}


def load_for(caller: Caller, application_id: str) -> ApplicationRecord:
    """The application, if the caller may see it; otherwise (or if none) `ApplicationNotFound`."""
    record = ApplicationRecord.load(application_id)
    if not can_see(caller, record):
        raise ApplicationNotFound(f"no application {application_id}")
    return record


def attachments_of(application_id: str) -> list[AttachmentRecord]:
    return list(AttachmentRecord.query(ApplicationRecord.key(application_id),
                                       AttachmentRecord.sk.startswith(AttachmentRecord.SORT_PREFIX)))


def audit_of(application_id: str) -> list[AuditRecord]:
    return list(AuditRecord.query(ApplicationRecord.key(application_id),
                                  AuditRecord.sk.startswith(AuditRecord.SORT_PREFIX)))


@dataclass(frozen=True)
class UploadPlan:
    """Where and how the client uploads one file."""

    attachment: AttachmentRecord
    part_urls: list[tuple[int, str]]
    expires_at: datetime


def request_upload(caller: Caller, application_id: str, payload: Any, s3: Any, bucket: str,
                   now: datetime | None = None) -> UploadPlan:
    """Presigned URLs for one material file (multipart above one part)."""
    record = load_for(caller, application_id)
    if record.owner_sub != caller.sub and caller.role not in {WINDOW, APPLICANT}:
        raise Forbidden("only the applicant or window staff upload materials")
    if record.status not in {Status.DRAFT, Status.NEEDS_SUPPLEMENT}:
        raise Conflict(f"materials cannot be added while the application is {record.status}")
    errors = validation.errors(_UPLOAD, payload)
    if errors:
        raise ValidationFailed(errors)
    from yiwang.catalogue.items import get_item

    item = get_item(record.item_code, int(record.item_version))
    material = next((m for m in item.materials if m.id == payload["materialId"]), None)
    extension = payload["fileName"].rsplit(".", 1)[-1].lower() if "." in payload[
        "fileName"] else ""
    if material is None:
        errors.append(FieldError("materialId", f"{item.name} has no material "
                                               f"'{payload['materialId']}'"))
    else:
        if extension not in material.formats:
            errors.append(FieldError("fileName", f"{material.name} accepts "
                                                 f"{', '.join(material.formats)}"))
        if payload["sizeBytes"] > material.max_bytes:
            errors.append(FieldError("sizeBytes", f"{material.name} is at most "
                                                  f"{material.max_bytes} bytes"))
    if not _SHA256.match(payload["sha256"]):
        errors.append(FieldError("sha256", "a SHA-256 is 64 lower-case hex digits"))
    if errors:
        raise ValidationFailed(errors)
    now = now or datetime.now(UTC)
    attachment_id = uuid.uuid4().hex
    key = f"applications/{application_id}/{attachment_id}/{extension or 'bin'}"
    size = payload["sizeBytes"]
    parts = max(1, math.ceil(size / PART_SIZE))
    expires = int(UPLOAD_URL_TTL.total_seconds())
    upload_id = None
    if parts == 1:
        urls = [(1, s3.generate_presigned_url("put_object", ExpiresIn=expires, Params={
            "Bucket": bucket, "Key": key, "ContentType": payload["contentType"]}))]
    else:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key,
                                               ContentType=payload["contentType"])["UploadId"]
        urls = [(n, s3.generate_presigned_url("upload_part", ExpiresIn=expires, Params={
            "Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": n}))
            for n in range(1, parts + 1)]
    attachment = AttachmentRecord(
        ApplicationRecord.key(application_id), AttachmentRecord.sort_key(attachment_id),
        attachment_id=attachment_id, material_id=payload["materialId"],
        file_name=payload["fileName"], content_type=payload["contentType"], size_bytes=size,
        sha256=payload["sha256"], s3_key=key, upload_id=upload_id, part_size_bytes=PART_SIZE,
        status=AttachmentStatus.UPLOADING, created_at=now,
    )
    attachment.save()
    return UploadPlan(attachment, urls, now + UPLOAD_URL_TTL)


def complete_upload(caller: Caller, application_id: str, attachment_id: str, payload: Any,
                    s3: Any, bucket: str) -> AttachmentRecord:
    """Finish the upload and check it: STORED, REJECTED (with the problem) or VERIFYING.

    A file of one part (at most `INLINE_CHECK_LIMIT`) costs three calls: one read of the
    application and the attachment together, the GET that hashes the object (its answer also
    gives the size, so no HEAD), one transaction with the outcome."""
    record, attachment = _load_attachment_for(caller, application_id, attachment_id)
    if attachment.status != AttachmentStatus.UPLOADING:
        return attachment  # completing twice changes nothing
    if attachment.upload_id:
        parts = (payload or {}).get("parts") if isinstance(payload, dict) else None
        if not isinstance(parts, list) or not parts:
            raise ValidationFailed([FieldError("parts", "list every part with its etag")])
        if attachment.size_bytes > INLINE_CHECK_LIMIT:
            return complete_for_check(attachment, parts, s3, bucket)
        _complete_on_s3(attachment, parts, s3, bucket)
    if attachment.size_bytes <= INLINE_CHECK_LIMIT:
        try:
            return check_content(attachment, s3, bucket, record.stored_materials)
        except s3.exceptions.NoSuchKey as error:
            raise Conflict("nothing has been uploaded for this attachment yet") from error
    try:
        head = s3.head_object(Bucket=bucket, Key=attachment.s3_key)
    except s3.exceptions.ClientError as error:
        raise Conflict("nothing has been uploaded for this attachment yet") from error
    if head["ContentLength"] != attachment.size_bytes:
        return _finish(attachment, AttachmentStatus.REJECTED,
                       f"uploaded {head['ContentLength']} bytes, "
                       f"declared {attachment.size_bytes}")
    if attachment.size_bytes > INLINE_CHECK_LIMIT:
        attachment.status = AttachmentStatus.VERIFYING
        attachment.save()
        return attachment
    return check_content(attachment, s3, bucket)


def check_content(attachment: AttachmentRecord, s3: Any, bucket: str,
                  stored_materials: list[str] | None = None) -> AttachmentRecord:
    """Stream the object once: its size, SHA-256 and leading bytes must match what was
    declared. Memory stays at one chunk whatever the size of the object.

    `stored_materials` is the application's list when the caller has read it (see
    `_finish`)."""
    stored = s3.get_object(Bucket=bucket, Key=attachment.s3_key)
    body = stored["Body"]
    if stored["ContentLength"] != attachment.size_bytes:
        body.close()
        return _finish(attachment, AttachmentStatus.REJECTED,
                       f"uploaded {stored['ContentLength']} bytes, "
                       f"declared {attachment.size_bytes}")
    digest = hashlib.sha256()
    head = b""
    for chunk in body.iter_chunks(chunk_size=MiB):
        if len(head) < 16:
            head += chunk[:16]
        digest.update(chunk)
    if digest.hexdigest() != attachment.sha256:
        return _finish(attachment, AttachmentStatus.REJECTED,
                       "SHA-256 of the upload differs from the declared")
    extension = attachment.s3_key.rsplit("/", 1)[-1]
    magic = _MAGIC.get(extension)
    if magic and not any(head.startswith(m) for m in magic):
        return _finish(attachment, AttachmentStatus.REJECTED,
                       f"the content is not a {extension} file")
    return _finish(attachment, AttachmentStatus.STORED, None, stored_materials)


def check_pending_upload(key: str, s3: Any, bucket: str) -> str | None:
    """Check the attachment stored at `key` if it awaits its check; return its status.

    Keys are `applications/<application id>/<attachment id>/<extension>`; anything else, or an
    attachment not VERIFYING, is left alone (None for keys that name no attachment).
    """
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "applications":
        return None
    try:
        attachment = AttachmentRecord.get(ApplicationRecord.key(parts[1]),
                                          AttachmentRecord.sort_key(parts[2]))
    except AttachmentRecord.DoesNotExist:
        return None
    if attachment.status == AttachmentStatus.VERIFYING:
        try:
            attachment = check_content(attachment, s3, bucket)
        except PutError as error:  # S3 delivers at least once: another delivery finished first
            if not condition_failed(error):
                raise
            attachment.refresh()
    return attachment.status


def _finish(attachment: AttachmentRecord, status: AttachmentStatus, problem: str | None,
            stored_materials: list[str] | None = None) -> AttachmentRecord:
    """Save the check's outcome. A STORED material also joins the application's stored
    materials, in the same transaction (appended on the condition that it is not there yet,
    so nothing is read first and concurrent uploads add it once); `stored_materials`, when
    given, saves that part if the material is already there."""
    attachment.status = status
    attachment.problem = problem
    material = attachment.material_id
    if status == AttachmentStatus.STORED and material not in (stored_materials or []):
        application_id = attachment.pk.removeprefix(ApplicationRecord.key(""))

        def write() -> None:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(attachment)  # conditional on the version read, as save() is
                transaction.update(
                    application_stub(application_id),
                    actions=[ApplicationRecord.stored_materials.set(
                        ApplicationRecord.stored_materials.append([material]))],
                    condition=ApplicationRecord.pk.exists()
                    & ~ApplicationRecord.stored_materials.contains({"S": material}),
                    add_version_condition=False)

        if write_if(write):
            return attachment
        # The material was stored meanwhile, or the attachment changed: the writes one by
        # one below sort it out (and raise PutError for the latter, as before).
    attachment.save()
    if status == AttachmentStatus.STORED:
        application = ApplicationRecord.get(attachment.pk, "META")
        if attachment.material_id not in (application.stored_materials or []):
            application.update(actions=[ApplicationRecord.stored_materials.set(
                (application.stored_materials or []) + [attachment.material_id])])
    return attachment


def submit(caller: Caller, application_id: str, sfn: Any, state_machine_arn: str,
           now: datetime | None = None) -> ApplicationRecord:
    """DRAFT → SUBMITTED, audited, and the lifecycle execution started (once).

    Three calls: the read, one transaction (status, audit and the execution's ARN, which its
    name makes known before it starts), the start. A repeated submit starts it again, which
    Step Functions answers with the running execution (same name, same input), so an earlier
    submit that failed between the transaction and the start is completed, never doubled.
    """
    record = load_for(caller, application_id)
    caller.require(APPLICANT, WINDOW)
    if record.status == Status.SUBMITTED and record.execution_arn:
        _start_lifecycle(sfn, state_machine_arn, application_id)
        return record
    if record.status != Status.DRAFT:
        raise Conflict(f"an application in status {record.status} cannot be submitted")
    check_move(Status.DRAFT, Status.SUBMITTED)
    now = now or datetime.now(UTC)
    record.status = Status.SUBMITTED
    record.submitted_at = now
    record.execution_arn = workflow.execution_arn(state_machine_arn, application_id)
    audit = new_audit(application_id, caller.sub, "SUBMITTED", Status.DRAFT, Status.SUBMITTED)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=ApplicationRecord.status == Status.DRAFT)
            transaction.save(audit)

    write_or_conflict(write, "the application changed while it was being submitted")
    _start_lifecycle(sfn, state_machine_arn, application_id)
    metrics.add_metric(name="Submitted", unit=MetricUnit.Count, value=1)
    return record


def _start_lifecycle(sfn: Any, state_machine_arn: str, application_id: str) -> str:
    """The application's lifecycle execution, named after it (started once)."""
    return workflow.start(sfn, state_machine_arn, application_id,
                          {"applicationId": application_id})


def transition(application_id: str, to_status: Status, actor: str, event: str, *,
               detail: dict[str, Any] | None = None,
               updates: dict[str, Any] | None = None) -> ApplicationRecord:
    """Move an application to `to_status`, with its audit record, in one conditional
    transaction, if the status table allows the move from its current status
    (`status.check_move`); `Conflict` naming both states (nothing written) otherwise.

    `updates` sets other attributes of the record in the same write (attribute name → value).
    A transition to the status the application already has is a no-op (a repeated step).
    """
    record = ApplicationRecord.load(application_id)
    if record.status == to_status:
        return record
    from_status = record.status
    check_move(from_status, to_status)
    record.status = to_status
    for name, value in (updates or {}).items():
        setattr(record, name, value)
    audit = new_audit(application_id, actor, event, from_status, to_status, detail)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=ApplicationRecord.status == from_status)
            transaction.save(audit)

    if not write_if(write):
        if ApplicationRecord.load(application_id).status == to_status:
            return record  # a concurrent step made the same move (e.g. parallel reviews)
        raise Conflict(f"application {application_id} changed meanwhile")
    return record


def transition_in(transaction: TransactWrite, application_id: str, from_status: Status,
                  to_status: Status, actor: str, event: str, *,
                  detail: dict[str, Any] | None = None,
                  updates: dict[str, Any] | None = None) -> AuditRecord:
    """Add the move `from_status` → `to_status` (checked against the status table:
    `Conflict` if it is not a move an application makes), with its audit record, to a
    transaction the caller commits with its own writes (a task's decision, a payment),
    without reading the application: the update is conditional on the status being
    `from_status`, so if it is not the whole transaction is cancelled and nothing is written.
    The version goes up as with every other write. `updates` sets other attributes
    (attribute name → value)."""
    check_move(from_status, to_status)
    actions = [ApplicationRecord.status.set(to_status)]
    actions += [getattr(ApplicationRecord, name).set(value)
                for name, value in (updates or {}).items()]
    transaction.update(application_stub(application_id), actions=actions,
                       condition=ApplicationRecord.status == from_status,
                       add_version_condition=False)
    audit = new_audit(application_id, actor, event, from_status, to_status, detail)
    transaction.save(audit)
    return audit


def complete_for_check(attachment: AttachmentRecord, parts: list[Any], s3: Any,
                       bucket: str) -> AttachmentRecord:
    """Complete a large multipart upload, left to the attachment check: VERIFYING first.

    The attachment is marked VERIFYING before S3 has the object, so the ObjectCreated
    notification, which may arrive before this call returns, always finds it awaiting its
    check. If S3 refuses the parts, the attachment goes back to UPLOADING (the client may
    complete again). Returns the attachment as it is now: VERIFYING, or already checked.
    """
    attachment.status = AttachmentStatus.VERIFYING
    if not write_if(lambda: attachment.save(
            condition=AttachmentRecord.status == AttachmentStatus.UPLOADING)):
        attachment.refresh()  # a concurrent complete got there first
        return attachment
    try:
        _complete_on_s3(attachment, parts, s3, bucket)
    except ValidationFailed:
        _reopen(attachment)
        raise
    attachment.refresh()
    return attachment


def _complete_on_s3(attachment: AttachmentRecord, parts: list[Any], s3: Any,
                    bucket: str) -> None:
    """S3 assembles the uploaded parts; malformed or refused parts are `ValidationFailed`."""
    try:
        s3.complete_multipart_upload(
            Bucket=bucket, Key=attachment.s3_key, UploadId=attachment.upload_id,
            MultipartUpload={"Parts": [{"PartNumber": int(p["partNumber"]),
                                        "ETag": str(p["etag"])} for p in parts]})
    except (KeyError, TypeError, ValueError) as error:
        raise ValidationFailed([FieldError("parts", f"malformed part: {error}")]) from error
    except s3.exceptions.ClientError as error:
        raise ValidationFailed([FieldError("parts", error.response["Error"].get(
            "Message", "the parts do not complete the upload"))]) from error


def _reopen(attachment: AttachmentRecord) -> None:
    """VERIFYING → UPLOADING after S3 refused to complete the upload (no object, no check)."""
    attachment.status = AttachmentStatus.UPLOADING
    attachment.save(condition=AttachmentRecord.status == AttachmentStatus.VERIFYING)
