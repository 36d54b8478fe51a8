"""The application's records (办件) in the single table.

Access patterns, and the key that serves each:
- an application by id (portal detail, every workflow step): pk=`APP#<id>`, sk=`META`;
- an application's audit trail, oldest first (timeline): pk=`APP#<id>`, sk begins `AUDIT#`;
- an applicant's applications, newest first ("my applications"): ListIndex
  gsi1pk=`APPLICANT#<identity number or credit code>`, gsi1sk=createdAt;
- the applications in one status, newest first (supervisors' lists): StatusShardIndex,
  keyed on `statusShard` (`<status>#<shard>`: the status and the application's shard of 16,
  from its id, so the applications entering one status spread over 16 index partitions) and
  `statusIndexSk` (its createdAt); both are written with every save, and every update that
  sets the status sets both (`moved_to`). Only applications carry them, so the index holds
  nothing else. A list reads every shard of the status and merges them
  (`yiwang.applications.listing`).
- an application's attachments: pk=`APP#<id>`, sk begins `ATT#`;
- everything recorded under an application (its detail view: attachments, audit trail,
  tasks, orders, shipment or pickup, certificate, clocks): one Query on pk=`APP#<id>`
  (`partition_items`; `yiwang.views.casefile` sorts the items into their models);
- service items (`ITEM#<code>`: head, versions, audit trail): see `yiwang.catalogue.items`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from yiwang.platform.errors import ApplicationNotFound
from yiwang.table.records import AuditRecord, ListIndex, TableMeta, new_audit_for
from yiwang.table.shards import sharded


class StatusIndex(GlobalSecondaryIndex["ApplicationRecord"]):
    class Meta:
        index_name = "StatusShardIndex"
        projection = AllProjection()

    status_shard = UnicodeAttribute(hash_key=True, attr_name="statusShard")
    status_index_sk = UnicodeAttribute(range_key=True, attr_name="statusIndexSk")


def status_shard(status: str, application_id: str) -> str:
    """The StatusShardIndex partition of an application in `status`: `SUBMITTED#07`."""
    return sharded(status, application_id)


class ApplicationRecord(Model):
    """办件: one application's current state (the audit trail holds how it got there)."""

    class Meta(TableMeta):
        pass

    PARTITION_PREFIX = "APP#"
    SORT_KEY = "META"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=SORT_KEY)
    application_id = UnicodeAttribute(attr_name="applicationId")
    status = UnicodeAttribute()
    item_code = UnicodeAttribute(attr_name="itemCode")
    item_version = NumberAttribute(attr_name="itemVersion", null=True)
    owner_sub = UnicodeAttribute(attr_name="ownerSub")
    applicant = JSONAttribute(null=True)
    form = JSONAttribute(null=True)
    delivery = JSONAttribute(null=True)
    # 人口库、法人库: what the applicant's register said at intake (source, status, when, the
    # fields it filled); UNAVAILABLE when the exchange did not answer.
    register_check = JSONAttribute(null=True, attr_name="registerCheck")
    # 授权代办: the agent who applies for the applicant (sub, idNumber, name, authorisationId);
    # 帮办: the window staff who entered it for a walk-in applicant.
    agent = JSONAttribute(null=True)
    assisted_by = UnicodeAttribute(null=True, attr_name="assistedBy")
    region = UnicodeAttribute(null=True)
    """属地: the region (`yiwang.regions.tree`) whose service centre accepted it; null only on
    records made before regions existed (read as the default region)."""
    escalation = JSONAttribute(null=True)
    """上报件: the accepting and handled regions, their levels and the hops up and down
    (`yiwang.applications.escalation`); null for every other case."""
    theme_case_id = UnicodeAttribute(null=True, attr_name="themeCaseId")
    """一件事一次办: the theme case (`yiwang.themes.cases`) it was made in, else null."""
    submitted_at = UTCDateTimeAttribute(attr_name="submittedAt", null=True)
    execution_arn = UnicodeAttribute(attr_name="executionArn", null=True)
    required_materials = ListAttribute(
        of=UnicodeAttribute, attr_name="requiredMaterials", default=list)
    stored_materials = ListAttribute(of=UnicodeAttribute, attr_name="storedMaterials", default=list)
    outstanding_materials = UnicodeSetAttribute(attr_name="outstandingMaterials", null=True)
    """容缺: materials committed at acceptance and not supplied yet (`commitments`); while any
    is, no approval and no certificate is written."""
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    status_index_sk = UnicodeAttribute(attr_name="statusIndexSk", null=True)
    status_shard = UnicodeAttribute(attr_name="statusShard", null=True)
    version = VersionAttribute()
    by_owner = ListIndex()
    by_status = StatusIndex()

    @staticmethod
    def key(application_id: str) -> str:
        return f"{ApplicationRecord.PARTITION_PREFIX}{application_id}"

    def serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        """The item as written: with its StatusShardIndex keys, so it is listed by status."""
        self.status_index_sk = self.created_at.isoformat()
        self.status_shard = status_shard(self.status, self.application_id)
        return super().serialize(null_check)

    @staticmethod
    def moved_to(status: str, application_id: str) -> list[Any]:
        """The update actions that set an application's status: the status and its place in
        the StatusShardIndex (every update of the status uses these, never `status.set`)."""
        return [ApplicationRecord.status.set(status),
                ApplicationRecord.status_shard.set(status_shard(status, application_id))]

    @classmethod
    def load(cls, application_id: str) -> ApplicationRecord:
        """The application, or `ApplicationNotFound`."""
        try:
            return cls.get(cls.key(application_id), cls.SORT_KEY)
        except cls.DoesNotExist as missing:
            raise ApplicationNotFound(f"no application {application_id}") from missing


class AttachmentStatus(StrEnum):
    """Where an uploaded material stands: UPLOADING until completed, VERIFYING while a large
    object awaits its check, then STORED or REJECTED (with the problem)."""

    UPLOADING = "UPLOADING"
    VERIFYING = "VERIFYING"
    STORED = "STORED"
    REJECTED = "REJECTED"


class AttachmentRecord(Model):
    """One uploaded material (申请材料): where it lives in S3 and whether it checked out."""

    class Meta(TableMeta):
        pass

    SORT_PREFIX = "ATT#"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    attachment_id = UnicodeAttribute(attr_name="attachmentId")
    material_id = UnicodeAttribute(attr_name="materialId")
    file_name = UnicodeAttribute(attr_name="fileName")
    content_type = UnicodeAttribute(attr_name="contentType")
    size_bytes = NumberAttribute(attr_name="sizeBytes")
    sha256 = UnicodeAttribute()
    s3_key = UnicodeAttribute(attr_name="s3Key")
    upload_id = UnicodeAttribute(attr_name="uploadId", null=True)
    part_size_bytes = NumberAttribute(attr_name="partSizeBytes")
    committed = BooleanAttribute(null=True)
    """Uploaded after acceptance to a 容缺 material committed then: storing it fulfils the
    commitment (`commitments.fulfil`)."""
    status = UnicodeAttribute()
    problem = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    version = VersionAttribute()

    @staticmethod
    def sort_key(attachment_id: str) -> str:
        return f"{AttachmentRecord.SORT_PREFIX}{attachment_id}"


def new_audit(application_id: str, actor: str, event: str, from_status: str | None,
              to_status: str | None, detail: dict | None = None,
              at: datetime | None = None) -> AuditRecord:
    """An audit record for an application, keyed so the trail sorts by time."""
    return new_audit_for(ApplicationRecord.key(application_id), actor, event, from_status,
                         to_status, detail, at)


def application_stub(application_id: str) -> ApplicationRecord:
    """An application's key and nothing else, to update it inside a transaction without
    reading it first: the update's own condition (its status, typically) guards the change,
    and the stored version still goes up by one (pass `add_version_condition=False`), so a
    writer holding an older copy is refused as with any other write."""
    stub = ApplicationRecord(ApplicationRecord.key(application_id), ApplicationRecord.SORT_KEY)
    stub.version = 0  # any number: pynamodb then adds 1 to the stored version, not sets it
    return stub
