"""One presentation of an application (`yiwang.views.applications`): the detail and a list row
show the applicant alike, and every time in Asia/Shanghai with its offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.data import CITIZEN_ID, PHONE
from yiwang.applications.records import ApplicationRecord
from yiwang.people.access import Caller
from yiwang.table.records import new_audit_for
from yiwang.views import applications as views

CREATED = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # 01:30 the next day in Shanghai
ID_NUMBER = CITIZEN_ID
CALLERS = {
    "applicant": Caller("citizen", "applicant", id_number=ID_NUMBER),
    "window": Caller("window", "window", dept="GZ-ZWFW"),
    "reviewer": Caller("reviewer", "reviewer", dept="GZ-ZJJ"),
    "supervisor": Caller("supervisor", "supervisor"),
    "admin": Caller("admin", "admin"),
}


def application() -> ApplicationRecord:
    return ApplicationRecord(
        ApplicationRecord.key("YW1"), ApplicationRecord.SORT_KEY, application_id="YW1",
        status="SUBMITTED", item_code="ITEM", item_version=1, owner_sub="citizen",
        applicant={"kind": "PERSON", "name": "张三", "idNumber": ID_NUMBER, "phone": PHONE},
        form={}, delivery={"method": "PICKUP"}, created_at=CREATED, submitted_at=CREATED,
        gsi1pk=f"APPLICANT#{ID_NUMBER}", gsi1sk=CREATED.isoformat())


@pytest.mark.parametrize("role", sorted(CALLERS))
def test_the_detail_and_a_row_show_the_applicant_alike(role: str) -> None:
    record, caller = application(), CALLERS[role]
    shown = views.present(record, caller, attachments=[], audit=[])["applicant"]
    assert views.row(record, caller)["applicant"] == shown
    masked = role in {"supervisor", "admin"}
    assert (shown["idNumber"] == "1101**********002X") is masked
    assert (shown["idNumber"] == ID_NUMBER) is not masked
    assert (shown["phone"] != PHONE) is masked


def test_every_time_is_shown_in_shanghai_with_its_offset() -> None:
    record = application()
    audit = new_audit_for(record.pk, "citizen", "SUBMITTED", "DRAFT", "SUBMITTED", at=CREATED)
    seen = views.present(record, CALLERS["applicant"], attachments=[], audit=[audit])
    assert seen["timeline"][0]["at"] == "2026-11-24T01:30:00+08:00"
    assert seen["createdAt"] == seen["submittedAt"] == "2026-11-24T01:30:00+08:00"
    row = views.row(record, CALLERS["applicant"])
    assert row["createdAt"] == row["submittedAt"] == "2026-11-24T01:30:00+08:00"
