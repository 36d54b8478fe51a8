"""Issue #3's latency budget: the sequential AWS calls a portal request makes (at most 3), and
that folding them kept the behaviour: a repeated `Idempotency-Key` gets the first answer with
one read, a repeated submit completes a start that failed, the detail view is one Query.

`make bench` measures every route over a whole application; these pin the routes whose
budget is theirs alone (no other step's calls inside them)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import requests

from tests.support.aws import calls
from tests.support.data import CITIZEN_ID, PDF, permit_body

pytestmark = pytest.mark.integration


def test_a_draft_costs_three_calls_and_its_repetition_one(http: Any, token: Any) -> None:
    citizen = {**token("budget-1", "applicant", idNumber=CITIZEN_ID), "Idempotency-Key": "b-1"}
    body = json.dumps(permit_body())
    with calls() as first_calls:
        first = http.post("/applications", headers=citizen, body=body)
    assert first.status_code == 201, first.body
    # The receipt, the published item, one transaction (draft, audit record, receipt).
    assert len(first_calls) <= 3, first_calls
    with calls() as again_calls:
        again = http.post("/applications", headers=citizen, body=body)
    assert (again.status_code, json.loads(again.body)) == (201, json.loads(first.body))
    assert again_calls == ["dynamodb.GetItem"]
    draft = json.loads(first.body)
    assert [e["event"] for e in draft["timeline"]] == ["DRAFT_CREATED"]
    assert draft["attachments"] == []
    with calls() as view_calls:
        seen = json.loads(http.get(f"/applications/{draft['id']}", headers=citizen).body)
    assert view_calls == ["dynamodb.Query"]
    assert seen["timeline"] == draft["timeline"] and seen["status"] == "DRAFT"


def test_upload_check_and_submit_each_stay_within_three_calls(
        http: Any, token: Any, cloud: Any) -> None:
    citizen = token("budget-2", "applicant", idNumber=CITIZEN_ID)
    draft = json.loads(http.post("/applications", headers=citizen,
                                 body=json.dumps(permit_body())).body)
    plan = json.loads(http.post(
        f"/applications/{draft['id']}/attachments", headers=citizen,
        body=json.dumps({"materialId": "site-plan", "fileName": "总平面图.pdf",
                         "contentType": "application/pdf", "sizeBytes": len(PDF),
                         "sha256": hashlib.sha256(PDF).hexdigest()})).body)
    put = requests.put(plan["parts"][0]["url"], data=PDF,
                       headers={"Content-Type": "application/pdf"}, timeout=30)
    with calls() as complete_calls:
        done = http.post(f"/applications/{draft['id']}/attachments/{plan['attachmentId']}"
                         f"/complete", headers=citizen, body=json.dumps({"parts": [
                             {"partNumber": 1, "etag": put.headers["ETag"]}]}))
    assert json.loads(done.body)["status"] == "STORED"
    # One read of application and attachment, the GET that hashes it, one transaction.
    assert complete_calls == ["dynamodb.TransactGetItems", "s3.GetObject",
                              "dynamodb.TransactWriteItems"]
    with calls() as submit_calls:
        submitted = http.post(f"/applications/{draft['id']}/submit", headers=citizen)
    assert submitted.status_code == 202
    assert submit_calls == ["dynamodb.GetItem", "dynamodb.TransactWriteItems",
                            "stepfunctions.StartExecution"]
    seen = json.loads(http.get(f"/applications/{draft['id']}", headers=citizen).body)
    assert [a["materialId"] for a in seen["attachments"]] == ["site-plan"]


def test_a_submit_whose_start_failed_is_completed_by_the_next(
        http: Any, token: Any, cloud: Any) -> None:
    from yiwang.applications import lifecycle
    from yiwang.applications.records import ApplicationRecord
    from yiwang.people.access import Caller

    citizen = token("budget-3", "applicant", idNumber=CITIZEN_ID)
    draft = json.loads(http.post("/applications", headers=citizen,
                                 body=json.dumps(permit_body())).body)
    who = Caller("budget-3", "applicant", id_number=CITIZEN_ID)
    sfn = cloud.client("stepfunctions")
    machine = cloud.outputs["LifecycleStateMachineArn"]

    class Unreachable:
        exceptions = sfn.exceptions

        def start_execution(self, **_: Any) -> Any:
            raise ConnectionError("Step Functions did not answer")

    with pytest.raises(ConnectionError):
        lifecycle.submit(who, draft["id"], Unreachable(), machine)
    assert ApplicationRecord.load(draft["id"]).status == "SUBMITTED"
    again = http.post(f"/applications/{draft['id']}/submit", headers=citizen)
    assert again.status_code == 202
    executions = [e for e in sfn.list_executions(stateMachineArn=machine)["executions"]
                  if e["name"] == draft["id"]]
    assert len(executions) == 1
    record = ApplicationRecord.load(draft["id"])
    assert record.execution_arn == executions[0]["executionArn"]
    submitted = [a for a in lifecycle.audit_of(draft["id"]) if a.event == "SUBMITTED"]
    assert len(submitted) == 1


def test_a_decision_stops_its_clock_within_three_calls(
        http: Any, token: Any, cloud: Any) -> None:
    from tests.support.journeys import Flow
    from yiwang.deadlines import clocks

    flow = Flow(http, token, cloud, "budget-decision")
    flow.submit()
    task = flow.task(flow.window)
    with calls() as decision_calls:
        answer = http.post(f"/tasks/{task['taskId']}/decision", headers=flow.window,
                           body=json.dumps({"decision": "ACCEPT", "opinion": "受理"}))
    assert answer.status_code == 200, answer.body
    # One read (task and clock), one transaction (task, status, audit, clock), the resume.
    assert decision_calls == ["dynamodb.TransactGetItems", "dynamodb.TransactWriteItems",
                              "stepfunctions.SendTaskSuccess"]
    assert clocks.get(f"APP#{flow.id}", "ACCEPTANCE").status == "STOPPED"
    assert [a.event for a in clocks.trail(f"APP#{flow.id}")][-1] == "CLOCK_STOPPED"
    reviewer = flow.reviewers["GZ-ZJ"]
    review = flow.task(reviewer)
    with calls() as supplement_calls:
        asked = http.post(f"/tasks/{review['taskId']}/decision", headers=reviewer,
                          body=json.dumps({"decision": "SUPPLEMENT", "opinion": "补图纸",
                                           "missing": ["architectural-drawings"]}))
    assert asked.status_code == 200, asked.body
    assert len(supplement_calls) == 3, supplement_calls
    paused = clocks.get(f"APP#{flow.id}", "REVIEW#GZ-ZJ")
    assert paused.status == "PAUSED" and paused.remaining_days is not None
