"""The case file (`yiwang.views.casefile`) sorts an application's partition into its models, by
the sort keys the models own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.data import CITIZEN_ID

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_one_record_of_each_kind_lands_in_its_place(table: Any) -> None:
    from tests.support.data import permit_body
    from yiwang.applications import drafts
    from yiwang.applications.records import AttachmentRecord, AttachmentStatus
    from yiwang.applications.tasks import PRE_REVIEW, TaskRecord, TaskStatus
    from yiwang.fulfilment.certificates import CertificatePointer
    from yiwang.fulfilment.delivery import PickupRecord, PickupStatus, ShipmentRecord
    from yiwang.fulfilment.payments import PaymentOrderRecord
    from yiwang.people.access import Caller
    from yiwang.table.records import AuditRecord
    from yiwang.views import casefile

    citizen = Caller("citizen-casefile", "applicant", id_number=CITIZEN_ID)
    record = drafts.create_draft(citizen, permit_body())
    pk, app = record.pk, record.application_id
    AttachmentRecord(pk, AttachmentRecord.sort_key("a1"), attachment_id="a1", material_id="m",
                     file_name="f.pdf", content_type="application/pdf", size_bytes=1,
                     sha256="0" * 64, s3_key="k", part_size_bytes=1,
                     status=AttachmentStatus.STORED, created_at=T0).save()
    TaskRecord(pk, TaskRecord.sort_key(f"{app}.{PRE_REVIEW}.1.WINDOW"),
               task_id=f"{app}.{PRE_REVIEW}.1.WINDOW", application_id=app, kind=PRE_REVIEW,
               department="WINDOW", round=1, status=TaskStatus.PENDING, task_token="t",
               created_at=T0, gsi1pk="DEPT#WINDOW", gsi1sk=f"PENDING#{T0.isoformat()}").save()
    PaymentOrderRecord(pk, PaymentOrderRecord.sort_key(f"{app}PAAAAAAAA"),
                       order_id=f"{app}PAAAAAAAA", application_id=app, amount_fen=100,
                       status="PENDING", task_token="t", pay_url="http://pay", created_at=T0,
                       expires_at=T0 + timedelta(days=7), flags=[]).save()
    ShipmentRecord(pk, application_id=app, waybill_no="SF1", carrier="SF", status="CREATED",
                   rank=0, exception=False, task_token="t", events=[], created_at=T0).save()
    PickupRecord(pk, application_id=app, status=PickupStatus.READY, task_token="t",
                 ready_at=T0).save()
    CertificatePointer(pk, number="1.2.156.3005.2.X", issued_at=T0).save()
    AuditRecord(pk, "CLOCK#TEST", at=T0, actor="test", event="NOT_MODELLED").save()

    case = casefile.load(app)

    assert case.record.application_id == app
    assert [a.attachment_id for a in case.attachments] == ["a1"]
    assert [a.event for a in case.audit] == ["DRAFT_CREATED"]
    assert [t.task_id for t in case.tasks] == [f"{app}.{PRE_REVIEW}.1.WINDOW"]
    assert [o.order_id for o in case.orders] == [f"{app}PAAAAAAAA"]
    assert case.shipment is not None and case.shipment.waybill_no == "SF1"
    assert case.pickup is not None and case.pickup.status == PickupStatus.READY
    assert case.certificate is not None and case.certificate.number == "1.2.156.3005.2.X"
    assert [item["sk"]["S"] for item in case.other] == ["CLOCK#TEST"]
