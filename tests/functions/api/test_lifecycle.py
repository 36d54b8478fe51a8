"""The application lifecycle over HTTP on the local cloud: acceptance by the window, parallel
review by three departments, supplements, rejection, and the rules on decisions."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from infra.providers import courier, payment

pytestmark = pytest.mark.integration

PERMIT = "11440100MB2D00127W-XK-0007"  # 建设工程规划许可证核发: 规划 (lead), 住建, 消防
CITIZEN_ID = "11010519491231002X"
DEPARTMENTS = ["GZ-ZRZY", "GZ-ZJ", "GZ-XF"]
REQUIRED = ["application-form", "land-documents", "site-plan", "architectural-drawings",
            "fire-design"]


def permit_body() -> dict[str, Any]:
    from tests.functions.api.test_applications import permit_body as body

    return body()


def eventually(probe: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := probe()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert found, "gave up waiting"
    return found


class Flow:
    """One application driven through the API by the people who handle it."""

    def __init__(self, http: Any, token: Any, cloud: Any, suffix: str) -> None:
        self.http, self.cloud = http, cloud
        self.citizen_sub = f"citizen-{suffix}"
        self.citizen = token(self.citizen_sub, "applicant", idNumber=CITIZEN_ID)
        self.window = token(f"window-{suffix}", "window")
        self.reviewers = {d: token(f"reviewer-{d}-{suffix}", "reviewer", dept=d)
                          for d in DEPARTMENTS}
        answer = http.post("/applications", headers=self.citizen, body=json.dumps(permit_body()))
        assert answer.status_code == 201, answer.body
        self.id = json.loads(answer.body)["id"]

    def upload(self, material: str) -> None:
        content = b"%PDF-1.7\n" + material.encode() * 100
        plan = json.loads(self.http.post(
            f"/applications/{self.id}/attachments", headers=self.citizen, body=json.dumps({
                "materialId": material, "fileName": f"{material}.pdf",
                "contentType": "application/pdf", "sizeBytes": len(content),
                "sha256": hashlib.sha256(content).hexdigest()})).body)
        put = requests.put(plan["parts"][0]["url"], data=content,
                           headers={"Content-Type": "application/pdf"}, timeout=30)
        done = self.http.post(f"/applications/{self.id}/attachments/{plan['attachmentId']}"
                              f"/complete", headers=self.citizen, body=json.dumps(
                                  {"parts": [{"partNumber": 1, "etag": put.headers["ETag"]}]}))
        assert json.loads(done.body)["status"] == "STORED"

    def submit(self) -> None:
        assert self.http.post(f"/applications/{self.id}/submit",
                              headers=self.citizen).status_code == 202

    def task(self, headers: dict[str, str]) -> dict[str, Any]:
        def mine() -> dict[str, Any] | None:
            queue = json.loads(self.http.get("/tasks?status=PENDING", headers=headers).body)
            return next((t for t in queue["tasks"] if t["applicationId"] == self.id), None)
        return eventually(mine)

    def decide(self, headers: dict[str, str], decision: str, opinion: str = "同意",
               **extra: Any) -> Any:
        task = self.task(headers)
        return self.http.post(f"/tasks/{task['taskId']}/decision", headers=headers,
                              body=json.dumps({"decision": decision, "opinion": opinion,
                                               **extra}))

    def view(self) -> dict[str, Any]:
        return json.loads(self.http.get(f"/applications/{self.id}", headers=self.citizen).body)

    def execution(self) -> dict[str, Any]:
        sfn = self.cloud.client("stepfunctions")
        arn = self.cloud.outputs["LifecycleStateMachineArn"].replace(
            ":stateMachine:", ":execution:") + f":{self.id}"
        return sfn.describe_execution(executionArn=arn)

    def ended_at(self) -> str:
        execution = eventually(lambda: (e := self.execution())["status"] != "RUNNING" and e)
        sfn = self.cloud.client("stepfunctions")
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in history
                if e["type"].endswith("StateEntered")][-1]


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
    assert json.loads(verdict.body) == {"valid": True}
    assert {t["department"]: t["decision"] for t in view["tasks"] if t["kind"] == "REVIEW"} == {
        d: "APPROVE" for d in DEPARTMENTS}
    events = [e["event"] for e in view["timeline"]]
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
            "ACCEPTANCE", "PAYMENT", "CERTIFICATE", *(f"REVIEW#{d}" for d in DEPARTMENTS)]}


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
