"""即办件 当场办结 end to end on the local cloud: the window accepts and decides the residence
permit endorsement in one step, no department sees a task, the certificate is issued and the
promise (the same working day) is kept; a 承诺件 cannot be decided on the spot."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.support.data import CITIZEN_ID, RESIDENCE_ENDORSEMENT
from tests.support.journeys import Flow, ItemFlow, status_is
from yiwang.calendar.workdays import SHANGHAI

ENDORSEMENT = {
    "itemCode": RESIDENCE_ENDORSEMENT,
    "applicant": {"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                  "phone": "13812345678"},
    "form": {"name": "张伟", "idNumber": CITIZEN_ID, "residencePermitNumber": "4401060012345",
             "address": "广州市天河区华夏路16号", "residenceBasis": "合法稳定就业",
             "phone": "13812345678"},
    "delivery": {"method": "PICKUP"},
}


def events(view: dict[str, Any]) -> list[str]:
    return [entry["event"] for entry in view["timeline"]]


def test_an_instant_item_is_decided_on_the_spot_the_same_day(http: Any, token: Any,
                                                               cloud: Any) -> None:
    flow = ItemFlow(http, token, cloud, f"spot-{uuid.uuid4().hex[:6]}", ENDORSEMENT, [])
    flow.upload("residence-permit")
    flow.upload("residence-proof")
    flow.submit()
    decided = flow.decide(flow.window, "DECIDE_ON_THE_SPOT", "材料齐全，当场办结")
    assert decided.status_code == 200, decided.body
    view = status_is(flow, "READY_FOR_PICKUP")
    assert ["SUBMITTED", "DECIDED_ON_THE_SPOT", "REVIEW_STARTED", "APPROVED",
            "CERTIFICATE_ISSUED", "READY_FOR_PICKUP"] == [
        e for e in events(view) if e in {"SUBMITTED", "DECIDED_ON_THE_SPOT", "REVIEW_STARTED",
                                         "APPROVED", "CERTIFICATE_ISSUED", "READY_FOR_PICKUP"}]
    assert [t["kind"] for t in view["tasks"]] == ["PRE_REVIEW"]  # no department task
    assert view["certificate"]["number"]
    promise = view["promise"]
    today = datetime.now(UTC).astimezone(SHANGHAI).date().isoformat()
    assert promise["promisedBy"].startswith(f"{today}T23:59:59")
    assert (promise["status"], promise["promisedDays"], promise["usedDays"],
            promise["leftDays"], promise["cards"]) == ("STOPPED", 0, 0, 0, [])
    handed = http.post(f"/applications/{flow.id}/pickup", headers=flow.window,
                       body=json.dumps({"collectedBy": "张伟"}))
    assert handed.status_code == 200, handed.body
    assert flow.ended_at() == "Completed"


def test_a_promised_item_is_not_decided_on_the_spot(http: Any, token: Any, cloud: Any) -> None:
    flow = Flow(http, token, cloud, f"spot-{uuid.uuid4().hex[:6]}")
    flow.submit()
    refused = flow.decide(flow.window, "DECIDE_ON_THE_SPOT", "当场办结")
    assert refused.status_code == 422, refused.body
    assert json.loads(refused.body)["code"] == "UNPROCESSABLE"
    assert flow.task(flow.window)["status"] == "PENDING"  # nothing decided
    assert flow.view()["promise"] is None
