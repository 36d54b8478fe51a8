"""申请材料: materials uploaded straight to S3, and the checks of what was uploaded.

Materials go to S3 through presigned URLs (multipart above one part), never through the API;
on completion size, type and SHA-256 are checked, while the client waits for a small object
and by the attachment check function (S3's ObjectCreated notification) for a large one.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError
from pynamodb.transactions import TransactGet, TransactWrite

from yiwang.applications.drafts import check, load_for
from yiwang.applications.records import (
    ApplicationRecord,
    AttachmentRecord,
    AttachmentStatus,
    application_stub,
    new_audit,
)
from yiwang.applications.status import Status
from yiwang.people import policy
from yiwang.people.access import Caller
from yiwang.platform import validation
from yiwang.platform.errors import (
    ApplicationNotFound,
    Conflict,
    FieldError,
    ValidationFailed,
)
from yiwang.table.records import AuditRecord, connection
from yiwang.table.writes import condition_failed, write_if

MiB = 1024 * 1024
COMPLETE = "completeAttachmentUpload"
"""The operation whose rule says who completes an upload (the applicant, or the window staff
who entered the application)."""
COMPLETED = "UPLOAD_COMPLETED"
"""The audit event of a completed upload: who completed which attachment."""
PART_SIZE = 64 * MiB
"""Multipart part size: 32 parts for a 2 GiB drawing, each well above S3's 5 MiB minimum."""
INLINE_CHECK_LIMIT = 64 * MiB
"""Objects up to this size are hashed while the client waits; larger ones are checked by the
attachment check function that S3's ObjectCreated notification starts."""
UPLOAD_URL_TTL = timedelta(hours=6)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_MAGIC: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "dwg": (b"AC10", b"AC1."),
    "ofd": (b"PK\x03\x04",),
}

_UPLOAD: dict[str, Any] = {
    "type": "object", "required": ["materialId", "fileName", "contentType", "sizeBytes", "sha256"],
    "properties": {
        "materialId": {"type": "string", "minLength": 1, "maxLength": 64},
        "fileName": {"type": "string", "minLength": 1, "maxLength": 255},
        "contentType": {"type": "string", "minLength": 1, "maxLength": 127},
        # The item's own limit per material is checked after; this one bounds the number.
        "sizeBytes": {"type": "integer", "minimum": 1, "maximum": 5 * 1024**3},
        "sha256": {"type": "string", "maxLength": 64},
    },
    "maxProperties": 8,
}


def attachments_of(application_id: str) -> list[AttachmentRecord]:
    return list(AttachmentRecord.query(ApplicationRecord.key(application_id),
                                       AttachmentRecord.sk.startswith(AttachmentRecord.SORT_PREFIX)))


def _load_attachment_for(caller: Caller, application_id: str,
                         attachment_id: str) -> tuple[ApplicationRecord, AttachmentRecord]:
    """The application (if the caller may complete its uploads: its applicant, or the window
    staff who entered it) and one of its attachments, read together (one TransactGetItems);
    `ApplicationNotFound` for either missing, `Forbidden` for a role that never may."""
    policy.permit(COMPLETE, caller)
    key = ApplicationRecord.key(application_id)
    with TransactGet(connection=connection()) as read:
        found = read.get(ApplicationRecord, key, "META")
        upload = read.get(AttachmentRecord, key, AttachmentRecord.sort_key(attachment_id))
    try:
        record = found.get()
    except ApplicationRecord.DoesNotExist as missing:
        raise ApplicationNotFound(f"no application {application_id}") from missing
    check(COMPLETE, caller, record)
    try:
        return record, upload.get()
    except AttachmentRecord.DoesNotExist as missing:
        raise ApplicationNotFound(f"no attachment {attachment_id}") from missing


@dataclass(frozen=True)
class UploadPlan:
    """Where and how the client uploads one file."""

    attachment: AttachmentRecord
    part_urls: list[tuple[int, str]]
    expires_at: datetime


def request_upload(caller: Caller, application_id: str, payload: Any, s3: Any, bucket: str,
                   now: datetime | None = None) -> UploadPlan:
    """Presigned URLs for one material file (multipart above one part)."""
    record = load_for(caller, application_id, "requestAttachmentUpload")
    errors = validation.errors(_UPLOAD, payload)
    # 容缺: after acceptance, only a material committed then and still outstanding.
    committed = record.status not in {Status.DRAFT, Status.NEEDS_SUPPLEMENT} and isinstance(
        payload, dict) and payload.get("materialId") in (record.outstanding_materials or set())
    if record.status not in {Status.DRAFT, Status.NEEDS_SUPPLEMENT} and not committed:
        raise Conflict(f"materials cannot be added while the application is {record.status}")
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
        status=AttachmentStatus.UPLOADING, created_at=now, committed=committed or None,
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
    # 全程留痕: who completed the upload, written with the check's outcome where there is one.
    audit = new_audit(application_id, caller.sub, COMPLETED, record.status, record.status,
                      {"attachmentId": attachment.attachment_id,
                       "materialId": attachment.material_id})
    if attachment.upload_id:
        parts = (payload or {}).get("parts") if isinstance(payload, dict) else None
        if not isinstance(parts, list) or not parts:
            raise ValidationFailed([FieldError("parts", "list every part with its etag")])
        if attachment.size_bytes > INLINE_CHECK_LIMIT:
            checking = complete_for_check(attachment, parts, s3, bucket)
            audit.save()
            return checking
        _complete_on_s3(attachment, parts, s3, bucket)
    if attachment.size_bytes <= INLINE_CHECK_LIMIT:
        try:
            return check_content(attachment, s3, bucket, record.stored_materials, audit)
        except s3.exceptions.NoSuchKey as error:
            raise Conflict("nothing has been uploaded for this attachment yet") from error
    try:
        head = s3.head_object(Bucket=bucket, Key=attachment.s3_key)
    except s3.exceptions.ClientError as error:
        raise Conflict("nothing has been uploaded for this attachment yet") from error
    if head["ContentLength"] != attachment.size_bytes:
        return _finish(attachment, AttachmentStatus.REJECTED,
                       f"uploaded {head['ContentLength']} bytes, "
                       f"declared {attachment.size_bytes}", audit=audit)
    if attachment.size_bytes > INLINE_CHECK_LIMIT:
        attachment.status = AttachmentStatus.VERIFYING
        attachment.save()
        audit.save()
        return attachment
    return check_content(attachment, s3, bucket, audit=audit)


def check_content(attachment: AttachmentRecord, s3: Any, bucket: str,
                  stored_materials: list[str] | None = None,
                  audit: AuditRecord | None = None) -> AttachmentRecord:
    """Stream the object once: its size, SHA-256 and leading bytes must match what was
    declared. Memory stays at one chunk whatever the size of the object.

    `stored_materials` is the application's list when the caller has read it (see
    `_finish`); `audit`, the completion's audit record, is written with the outcome."""
    stored = s3.get_object(Bucket=bucket, Key=attachment.s3_key)
    body = stored["Body"]
    if stored["ContentLength"] != attachment.size_bytes:
        body.close()
        return _finish(attachment, AttachmentStatus.REJECTED,
                       f"uploaded {stored['ContentLength']} bytes, "
                       f"declared {attachment.size_bytes}", audit=audit)
    digest = hashlib.sha256()
    head = b""
    for chunk in body.iter_chunks(chunk_size=MiB):
        if len(head) < 16:
            head += chunk[:16]
        digest.update(chunk)
    if digest.hexdigest() != attachment.sha256:
        return _finish(attachment, AttachmentStatus.REJECTED,
                       "SHA-256 of the upload differs from the declared", audit=audit)
    extension = attachment.s3_key.rsplit("/", 1)[-1]
    magic = _MAGIC.get(extension)
    if magic and not any(head.startswith(m) for m in magic):
        return _finish(attachment, AttachmentStatus.REJECTED,
                       f"the content is not a {extension} file", audit=audit)
    return _finish(attachment, AttachmentStatus.STORED, None, stored_materials, audit)


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
            stored_materials: list[str] | None = None,
            audit: AuditRecord | None = None) -> AttachmentRecord:
    """Save the check's outcome (and `audit`, the completion's record, with it). A STORED
    material also joins the application's stored materials, in the same transaction (appended
    on the condition that it is not there yet, so nothing is read first and concurrent uploads
    add it once); `stored_materials`, when given, saves that part if the material is already
    there."""
    stored = _store(attachment, status, problem, stored_materials, audit)
    if status == AttachmentStatus.STORED and attachment.committed:
        from yiwang.applications import commitments

        commitments.fulfil(stored.pk.removeprefix(ApplicationRecord.key("")),
                           attachment.material_id, audit.actor if audit else "system",
                           datetime.now(UTC))
    return stored


def _store(attachment: AttachmentRecord, status: AttachmentStatus, problem: str | None,
           stored_materials: list[str] | None = None,
           audit: AuditRecord | None = None) -> AttachmentRecord:
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
                if audit is not None:
                    transaction.save(audit)

        if write_if(write):
            return attachment
        # The material was stored meanwhile, or the attachment changed: the writes one by
        # one below sort it out (and raise PutError for the latter, as before).
    attachment.save()
    if audit is not None:
        audit.save()
    if status == AttachmentStatus.STORED:
        application = ApplicationRecord.get(attachment.pk, "META")
        if attachment.material_id not in (application.stored_materials or []):
            application.update(actions=[ApplicationRecord.stored_materials.set(
                (application.stored_materials or []) + [attachment.material_id])])
    return attachment


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
