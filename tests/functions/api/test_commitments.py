"""容缺受理 end to end on the local cloud: the window accepts with a material missing on the
applicant's written commitment; no approval while it is outstanding; supplied in time the case
completes; when the time runs out the timeout check suspends the case with a supplement notice,
and the late material resumes it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.providers import courier, payment
from tests.support.aws import timeout_check
from tests.support.data import CITIZEN_ID, REQUIRED
from tests.support.journeys import Flow, ItemFlow, status_is
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

SECOND = timedelta(seconds=1)


def events(view: dict[str, Any]) -> list[str]:
    return [entry["event"] for entry in view["timeline"]]


def commitment_clock(application_id: str, material: str) -> Any:
    from yiwang.deadlines import clocks

    return eventually(lambda: clocks.get(f"APP#{application_id}", f"COMMITMENT#{material}"))


def commitment_notices(http: Any, flow: Flow) -> list[dict[str, Any]]:
    """The applicant's notices of the case's 容缺 commitment (告知: what is owed, by when)."""
    answer = http.get("/me/notices?limit=100", headers=flow.citizen)
    return [notice for notice in json.loads(answer.body)["notices"]
            if notice["applicationId"] == flow.id and notice["kind"] == "APPLICATION_COMMITMENT"]


def approve(flow: Flow, department: str) -> Any:
    return flow.decide(flow.reviewers[department], "APPROVE", f"{department} 同意")


def test_a_commitment_kept_in_time_lets_the_case_complete(http: Any, token: Any,
                                                         cloud: Any) -> None:
    flow = Flow(http, token, cloud, f"rongque-{uuid.uuid4().hex[:6]}")
    for material in REQUIRED:  # everything but the 容缺 drawing review certificate
        flow.upload(material)
    flow.submit()
    wrong = flow.decide(flow.window, "ACCEPT", "容缺受理",
                        commitments=[{"materialId": "site-plan", "workingDays": 5}])
    assert wrong.status_code == 400  # stored already, and not a 容缺 material
    accepted = flow.decide(flow.window, "ACCEPT", "主要材料齐全，容缺受理",
                           commitments=[{"materialId": "drawing-review", "workingDays": 10}])
    assert accepted.status_code == 200, accepted.body
    view = status_is(flow, "IN_REVIEW")
    assert "ACCEPTED_WITH_COMMITMENT" in events(view)
    told = eventually(lambda: commitment_notices(http, flow), what="the commitment notice")
    assert len(told) == 1  # once, whatever the stream redelivers
    [commitment] = view["commitments"]
    assert commitment["materialName"] in told[0]["body"] and commitment["dueBy"] in told[0][
        "body"]
    assert (commitment["materialId"], commitment["status"], commitment["workingDays"]) == (
        "drawing-review", "OUTSTANDING", 10)
    assert commitment["dueBy"] == commitment_clock(flow.id, "drawing-review").to_api()[
        "deadline"]
    # No decision while it is outstanding; nor another material after acceptance.
    refused = approve(flow, "GZ-ZRZY")
    assert refused.status_code == 409 and "drawing-review" in json.loads(refused.body)["detail"]
    other = http.post(f"/applications/{flow.id}/attachments", headers=flow.citizen,
                      body=json.dumps({"materialId": "fire-design", "fileName": "f.pdf",
                                       "contentType": "application/pdf", "sizeBytes": 10,
                                       "sha256": "0" * 64}))
    assert other.status_code == 409
    flow.upload("drawing-review")  # the applicant keeps the commitment
    view = flow.view()
    assert view["commitments"][0]["status"] == "FULFILLED"
    assert "COMMITMENT_FULFILLED" in events(view) and "CASE_RESUMED" not in events(view)
    from yiwang.deadlines import clocks

    assert clocks.get(f"APP#{flow.id}", "COMMITMENT#drawing-review").status == "STOPPED"
    for department in flow.reviewers:
        assert approve(flow, department).status_code == 200
    view = status_is(flow, "AWAITING_PAYMENT")
    order = view["pending"]["payment"]
    body, headers = payment.callback(order["orderId"], order["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    assert http.post("/webhooks/payment", headers=headers, body=body).status_code == 200
    view = status_is(flow, "DISPATCHED")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    body, headers = courier.callback(view["delivery"]["waybillNo"], "DELIVERED", at,
                                     secret=courier.LOCAL_SECRET)
    assert http.post("/webhooks/courier", headers=headers, body=body).status_code == 200
    view = status_is(flow, "COMPLETED")
    assert view["certificate"]["number"]
    assert view["promise"]["status"] == "STOPPED" and view["promise"]["cards"] == []


def item_document(code: str) -> dict[str, Any]:
    """An item of this test's own: one 容缺 material, and the promise paused while it is
    outstanding."""
    return {
        "code": code, "name": "容缺测试事项（门头招牌设置）", "category": "行政许可",
        "kind": "PROMISED", "leadDepartment": "GZ-GA", "coDepartments": [],
        "statutoryDays": 20, "promisedDays": 5, "feeFen": 0,
        "formSchema": {"type": "object", "required": ["address"],
                       "properties": {"address": {"type": "string", "minLength": 5}}},
        "materials": [{"id": "site-photo", "name": "现场照片", "required": True,
                       "laterAllowed": True, "formats": ["pdf"], "maxBytes": 10485760}],
        "legalBasis": "《广州市户外广告和招牌设置管理办法》", "applicantKinds": ["PERSON"],
        "deliveryMethods": ["PICKUP"], "laterPausesPromise": True,
    }


@pytest.fixture
def tolerant_item(http: Any, token: Any) -> str:
    admin = token("admin-rongque", "admin")
    code = f"RQ{uuid.uuid4().hex[:8].upper()}-XK-0001"
    created = http.post("/items", headers=admin, body=json.dumps(item_document(code),
                                                                 ensure_ascii=False))
    assert created.status_code == 201, created.body
    assert http.post(f"/items/{code}/publish", headers=admin).status_code == 200
    return code


def test_a_commitment_that_runs_out_suspends_the_case_until_supplied(
        http: Any, token: Any, cloud: Any, tolerant_item: str) -> None:
    from yiwang.deadlines import clocks
    from yiwang.people import notices

    body = {"itemCode": tolerant_item,
            "applicant": {"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                          "phone": "13812345678"},
            "form": {"address": "广州市天河区华夏路16号"}, "delivery": {"method": "PICKUP"}}
    flow = ItemFlow(http, token, cloud, f"rongque-{uuid.uuid4().hex[:6]}", body, ["GZ-GA"])
    flow.submit()
    assert flow.decide(flow.window, "ACCEPT", "容缺受理", commitments=[
        {"materialId": "site-photo", "workingDays": 3}]).status_code == 200
    flow.task(flow.reviewers["GZ-GA"])  # the review is open: the promise has started
    clock = commitment_clock(flow.id, "site-photo")
    assert clock.to_api()["cards"] == [] and not clock.cards  # the applicant's, not a card
    promise = eventually(lambda: (p := flow.view()["promise"]) and p["status"] == "PAUSED"
                         and p)
    assert promise["heldFor"] == ["LATER_MATERIAL#site-photo"]  # the item says so

    swept = timeout_check(cloud, clock.deadline + SECOND)
    assert f"EXPIRE_COMMITMENT:{flow.id}" in swept["actions"]
    view = flow.view()
    assert view["commitments"][0]["status"] == "EXPIRED"
    expired = next(e for e in view["timeline"] if e["event"] == "COMMITMENT_EXPIRED")
    assert expired["detail"]["suspended"] is True
    assert [m["materialId"] for m in expired["detail"]["missing"]] == ["site-photo"]
    assert sorted(view["promise"]["heldFor"]) == ["LATER_MATERIAL#site-photo",
                                                  "SUSPENDED#site-photo"]
    review = clocks.get(f"APP#{flow.id}", "REVIEW#GZ-GA")
    assert review.status == "PAUSED" and review.holds == {"SUSPENDED#site-photo"}
    told = eventually(lambda: [n for n in notices.inbox(flow.citizen_sub)
                               if n.application_id == flow.id
                               and n.kind == "SUPPLEMENT_NOTICE"])
    assert len(told) == 1 and "现场照片" in told[0].body
    again = timeout_check(cloud, clock.deadline + 2 * SECOND)  # nothing twice
    assert f"EXPIRE_COMMITMENT:{flow.id}" not in again["actions"]
    assert approve(flow, "GZ-GA").status_code == 409

    flow.upload("site-photo")  # late: the case resumes
    view = flow.view()
    assert view["commitments"][0]["status"] == "FULFILLED"
    # (The expiry is stamped with the sweep's time, days ahead here: compare the two only.)
    trail = events(view)
    assert trail.index("COMMITMENT_FULFILLED") < trail.index("CASE_RESUMED")
    assert view["promise"]["status"] == "RUNNING" and view["promise"]["heldFor"] == []
    assert clocks.get(f"APP#{flow.id}", "REVIEW#GZ-GA").status == "RUNNING"
    assert approve(flow, "GZ-GA").status_code == 200
    status_is(flow, "READY_FOR_PICKUP")
