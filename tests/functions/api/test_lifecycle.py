"""The application lifecycle over HTTP on the local cloud: acceptance by the window, parallel
review by three departments, supplements, rejection, and the rules on decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.providers import courier, payment
from tests.support.data import DEPARTMENTS, REQUIRED
from tests.support.journeys import Flow
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

@pytest.fixture
def flow(http: Any, token: Any, cloud: Any, request: Any) -> Flow:
    return Flow(http, token, cloud, request.node.name[-20:])


def test_accepted_then_approved_by_every_department(flow: Flow) -> None:
    for material in REQUIRED:
        flow.upload(material)
    flow.submit()
    acceptance = flow.task(flow.window)
    assert acceptance["kind"] == "PRE_REVIEW"
    assert acceptance["context"]["checks"]["outcome"] == "PASSED"
    assert flow.decide(flow.window, "ACCEPT", "材料齐全，予以受理").status_code == 200
    tasks = {d: flow.task(h) for d, h in flow.reviewers.items()}  # all three at once
    assert {t["kind"] for t in tasks.values()} == {"REVIEW"}
    assert flow.view()["status"] == "IN_REVIEW"
    for department, headers in flow.reviewers.items():
        assert flow.decide(headers, "APPROVE", f"{department} 同意").status_code == 200
    view = eventually(lambda: (v := flow.view())["status"] == "AWAITING_PAYMENT" and v)
    order = view["pending"]["payment"]
    assert order["amountFen"] == 50000
    body, headers = payment.callback(order["orderId"], order["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    paid = flow.http.post("/webhooks/payment", headers=headers, body=body)
    assert paid.status_code == 200, paid.body
    view = eventually(lambda: (v := flow.view())["status"] == "DISPATCHED" and v)
    number = view["certificate"]["number"]
    waybill = view["delivery"]["waybillNo"]
    now = datetime.now(UTC)
    for event, hours_ago in (("DELIVERED", 1), ("PICKED_UP", 5), ("IN_TRANSIT", 3)):  # shuffled
        at = (now - timedelta(hours=hours_ago)).isoformat(timespec="seconds")
        body, headers = courier.callback(waybill, event, at, secret=courier.LOCAL_SECRET)
        assert flow.http.post("/webhooks/courier", headers=headers, body=body).status_code == 200
    assert flow.ended_at() == "Completed"
    view = flow.view()
    assert view["status"] == "COMPLETED"
    assert view["delivery"]["status"] == "DELIVERED"  # late events never move it back
    assert number.startswith("1.2.156.3005.2.")
    envelope = json.loads(flow.http.get(f"/certificates/{number}", headers=flow.citizen).body)
    verdict = flow.http.post("/certificates/verify", headers={"Content-Type": "application/json"},
                             body=json.dumps(envelope))
    assert json.loads(verdict.body) == {"valid": True, "standing": "VALID"}
    assert {t["department"]: t["decision"] for t in view["tasks"] if t["kind"] == "REVIEW"} == {
        d: "APPROVE" for d in DEPARTMENTS}
    events = [e["event"] for e in view["timeline"]]
    uploads = events.count("UPLOAD_COMPLETED")  # 全程留痕: who completed each upload
    assert uploads >= 1 and events[1:1 + uploads] == ["UPLOAD_COMPLETED"] * uploads
    events = [event for event in events if event != "UPLOAD_COMPLETED"]
    assert events[:4] == ["DRAFT_CREATED", "SUBMITTED", "PRE_REVIEW_ACCEPT", "REVIEW_STARTED"]
    assert events.count("REVIEW_APPROVE") == 3
    assert events[events.index("APPROVED"):events.index("CERTIFICATE_ISSUED") + 1] == [
        "APPROVED", "PAYMENT_ORDERED", "PAID", "CERTIFICATE_ISSUED"]
    assert events[-2:] == ["DELIVERED", "COMPLETED"]
    assert view["deadlines"]["acceptBy"].endswith("23:59:59+08:00")
    assert set(view["deadlines"]["decideBy"]) == set(DEPARTMENTS)
    from yiwang.deadlines import clocks  # every period was timed, and every clock stopped in time

    assert {c.name: (c.status, [*c.to_api()["cards"]]) for c in clocks.clocks_of(
        f"APP#{flow.id}")} == {name: ("STOPPED", []) for name in [
            "ACCEPTANCE", "PAYMENT", "CERTIFICATE", "PROMISE",
            *(f"REVIEW#{d}" for d in DEPARTMENTS)]}


def test_a_second_decision_conflicts_and_other_departments_see_404(flow: Flow) -> None:
    flow.submit()
    task = flow.task(flow.window)
    first = flow.http.post(f"/tasks/{task['taskId']}/decision", headers=flow.window,
                           body=json.dumps({"decision": "ACCEPT", "opinion": "受理"}))
    second = flow.http.post(f"/tasks/{task['taskId']}/decision", headers=flow.window,
                            body=json.dumps({"decision": "NOT_ACCEPTED", "opinion": "不予受理"}))
    assert first.status_code == 200
    assert second.status_code == 409
    assert json.loads(second.body)["code"] == "CONFLICT"
    zj_task = flow.task(flow.reviewers["GZ-ZJ"])
    fire = flow.http.post(f"/tasks/{zj_task['taskId']}/decision",
                          headers=flow.reviewers["GZ-XF"],
                          body=json.dumps({"decision": "REJECT", "opinion": "越权"}))
    assert fire.status_code == 404
    supervisor = flow.http.post(f"/tasks/{zj_task['taskId']}/decision",
                                headers=flow.reviewers["GZ-XF"] | {},
                                body=json.dumps({"decision": "APPROVE"}))
    assert supervisor.status_code in {400, 404}


def test_supplement_lists_everything_then_the_application_comes_back(flow: Flow) -> None:
    flow.upload("application-form")
    flow.submit()
    missing = ["land-documents", "site-plan", "architectural-drawings", "fire-design"]
    incomplete = flow.decide(flow.window, "SUPPLEMENT", "请一次性补齐以下材料")
    assert incomplete.status_code == 400  # a supplement must list what is missing
    assert flow.decide(flow.window, "SUPPLEMENT", "请一次性补齐以下材料",
                       missing=missing).status_code == 200
    view = eventually(lambda: (v := flow.view())["status"] == "NEEDS_SUPPLEMENT" and v)
    assert view["pending"]["supplement"] == {"missing": missing,
                                             "notice": "请一次性补齐以下材料"}
    for material in missing:
        flow.upload(material)
    eventually(lambda: any(t["kind"] == "SUPPLEMENT" for t in json.loads(
        flow.http.get(f"/applications/{flow.id}", headers=flow.window).body)["tasks"]) or True)
    supplied = eventually(lambda: (a := flow.http.post(
        f"/applications/{flow.id}/supplement", headers=flow.citizen, body="{}"))
        .status_code == 202 and a)
    assert json.loads(supplied.body)["status"] == "SUBMITTED"
    second_round = flow.task(flow.window)
    assert second_round["taskId"].endswith(".PRE_REVIEW.2.WINDOW")
    assert second_round["context"]["checks"]["outcome"] == "PASSED"


def test_any_department_rejecting_rejects(flow: Flow) -> None:
    flow.submit()
    assert flow.decide(flow.window, "ACCEPT", "受理").status_code == 200
    assert flow.decide(flow.reviewers["GZ-ZRZY"], "APPROVE").status_code == 200
    assert flow.decide(flow.reviewers["GZ-XF"], "REJECT", "消防设计不符合规范").status_code == 200
    assert flow.decide(flow.reviewers["GZ-ZJ"], "APPROVE").status_code == 200
    assert flow.ended_at() == "Rejected"
    assert flow.view()["status"] == "REJECTED"


def test_not_accepted_ends_the_application(flow: Flow) -> None:
    flow.submit()
    assert flow.decide(flow.window, "NOT_ACCEPTED", "不属于本机关职权范围").status_code == 200
    assert flow.ended_at() == "NotAccepted"
    assert flow.view()["status"] == "NOT_ACCEPTED"
