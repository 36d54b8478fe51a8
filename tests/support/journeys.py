"""Whole journeys through the lifecycle over HTTP, shared by the API tests.

`Flow` is one application and the people who handle it; `ItemFlow` is the same for any
published item, and `complete` takes either to COMPLETED the way its people would: the window
accepts, every department approves, the applicant pays (if there is a fee), the courier
delivers or the window hands it over.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import requests

from infra.providers import courier, payment
from tests.support.data import CITIZEN_ID, DEPARTMENTS, permit_body
from tests.support.polling import eventually


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

    def whereabouts(self) -> str:
        """Where the lifecycle execution is: its status, last state entered and any error."""
        try:
            execution = self.execution()
        except Exception as error:  # noqa: BLE001 - a diagnosis must not hide the failure
            return f"its execution unreadable ({error})"
        history = self.cloud.client("stepfunctions").get_execution_history(
            executionArn=execution["executionArn"])["events"][::-1]
        entered = next((e["stateEnteredEventDetails"]["name"] for e in history
                        if e["type"].endswith("StateEntered")), None)
        failed = next((e for e in history if e["type"].endswith("Failed")), None)
        return (f"its execution {execution['status']} in {entered}"
                + (f", after {failed['type']}: {json.dumps(failed)[:400]}" if failed else ""))

    def ended_at(self) -> str:
        execution = eventually(lambda: (e := self.execution())["status"] != "RUNNING" and e)
        sfn = self.cloud.client("stepfunctions")
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in history
                if e["type"].endswith("StateEntered")][-1]


SETTLED = {"AWAITING_PAYMENT", "DISPATCHED", "READY_FOR_PICKUP", "COMPLETED"}


class ItemFlow(Flow):
    """A `Flow` for any published item: `body` is the draft, `departments` its reviewers."""

    def __init__(self, http: Any, token: Any, cloud: Any, suffix: str, body: dict[str, Any],
                 departments: list[str]) -> None:
        self.http, self.cloud = http, cloud
        self.citizen_sub = f"citizen-{suffix}"
        self.citizen = token(self.citizen_sub, "applicant", idNumber=CITIZEN_ID)
        self.window = token(f"window-{suffix}", "window")
        self.reviewers = {d: token(f"reviewer-{d}-{suffix}", "reviewer", dept=d)
                          for d in departments}
        answer = http.post("/applications", headers=self.citizen, body=json.dumps(body))
        assert answer.status_code == 201, answer.body
        self.id = json.loads(answer.body)["id"]


def status_is(flow: Flow, *statuses: str) -> dict[str, Any]:
    """The application's view once it is in one of `statuses`; if it never gets there, the
    failure says where the application and its execution were instead."""
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | bool:
        last.update(flow.view())
        return last["status"] in statuses and dict(last)

    try:
        return eventually(reached, what=f"status {' or '.join(statuses)}")  # type: ignore[return-value]
    except AssertionError as gave_up:
        raise AssertionError(f"{gave_up}; the application is {last.get('status')}, "
                             f"{flow.whereabouts()}") from None


def complete(flow: Flow) -> dict[str, Any]:
    """Submit the draft and take it to COMPLETED; returns the completed application's view."""
    flow.submit()
    assert flow.decide(flow.window, "ACCEPT", "材料齐全，予以受理").status_code == 200
    for department, headers in flow.reviewers.items():
        assert flow.decide(headers, "APPROVE", f"{department} 同意").status_code == 200
    view = status_is(flow, *SETTLED)
    if view["status"] == "AWAITING_PAYMENT":
        order = view["pending"]["payment"]
        body, headers = payment.callback(order["orderId"], order["amountFen"],
                                         secret=payment.LOCAL_SECRET)
        assert flow.http.post("/webhooks/payment", headers=headers, body=body).status_code == 200
        view = status_is(flow, "DISPATCHED", "READY_FOR_PICKUP")
    if view["status"] == "DISPATCHED":
        at = datetime.now(UTC).isoformat(timespec="seconds")
        body, headers = courier.callback(view["delivery"]["waybillNo"], "DELIVERED", at,
                                         secret=courier.LOCAL_SECRET)
        assert flow.http.post("/webhooks/courier", headers=headers, body=body).status_code == 200
    elif view["status"] == "READY_FOR_PICKUP":
        handed = flow.http.post(f"/applications/{flow.id}/pickup", headers=flow.window,
                                body=json.dumps({"collectedBy": "张伟"}))
        assert handed.status_code == 200, handed.body
    return status_is(flow, "COMPLETED")
