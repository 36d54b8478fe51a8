"""The local cloud runs the real template: state machines execute, functions run, errors keep
their types, schedules fire."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.localcloud.scheduler import Scheduler
from infra.localcloud.server import PortTakenError, ensure_port_free

pytestmark = pytest.mark.integration


def put_application(
    cloud: Any, application_id: str, required: list[str], stored: list[str]
) -> None:
    cloud.client("dynamodb").put_item(TableName=cloud.outputs["TableName"], Item={
        "pk": {"S": f"APP#{application_id}"}, "sk": {"S": "META"},
        "applicationId": {"S": application_id}, "status": {"S": "SUBMITTED"},
        "itemCode": {"S": "11440100MB2D12345X-XK-001"}, "ownerSub": {"S": "citizen-1"},
        "requiredMaterials": {"L": [{"S": m} for m in required]},
        "storedMaterials": {"L": [{"S": m} for m in stored]},
        "createdAt": {"S": "2026-11-23T02:00:00.000000+0000"},
        "gsi1pk": {"S": "OWNER#citizen-1"}, "gsi1sk": {"S": "2026-11-23T02:00:00Z"},
        "version": {"N": "1"},
    })


def run_execution(cloud: Any, payload: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    sfn = cloud.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=cloud.outputs["LifecycleStateMachineArn"],
                                  name=f"test-{uuid.uuid4().hex[:12]}", input=json.dumps(payload))
    deadline = time.monotonic() + 30
    while True:
        described = sfn.describe_execution(executionArn=started["executionArn"])
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    history = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
    return described, history


def test_lifecycle_runs_dynamodb_and_function_steps(cloud: Any) -> None:
    put_application(cloud, "A-100", required=["id-card", "drawings"], stored=["id-card"])
    execution, history = run_execution(cloud, {"applicationId": "A-100"})

    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["loaded"]["Item"]["status"] == {"S": "SUBMITTED"}
    assert output["preReview"] == {
        "outcome": "DEFECTS", "defects": [{"materialId": "drawings", "problem": "MISSING"}]}
    entered = [e["stateEnteredEventDetails"]["name"] for e in history
               if e["type"].endswith("StateEntered")]
    assert entered == ["LoadApplication", "ApplicationExists", "PreReview", "PreReviewOutcome",
                       "DefectsFound"]
    scheduled = [e["taskScheduledEventDetails"] for e in history if e["type"] == "TaskScheduled"]
    assert [s["resourceType"] + ":" + s["resource"] for s in scheduled] == [
        "dynamodb:getItem", "lambda:invoke"]
    assert history[-1]["type"] == "ExecutionSucceeded"


def test_lifecycle_passes_when_every_material_is_stored(cloud: Any) -> None:
    put_application(cloud, "A-101", required=["id-card"], stored=["id-card"])
    execution, history = run_execution(cloud, {"applicationId": "A-101"})
    assert json.loads(execution["output"])["preReview"]["outcome"] == "PASSED"
    assert any(e.get("stateEnteredEventDetails", {}).get("name") == "ChecksPassed" for e in history)


def test_unknown_application_fails_the_execution(cloud: Any) -> None:
    execution, history = run_execution(cloud, {"applicationId": "NO-SUCH"})
    assert execution["status"] == "FAILED"
    assert history[-1]["executionFailedEventDetails"]["error"] == "ApplicationNotFound"


def test_function_error_type_reaches_the_caller(cloud: Any) -> None:
    answer = cloud.client("lambda").invoke(
        FunctionName=cloud.outputs["PreReviewFunctionName"],
        Payload=json.dumps({"applicationId": "NO-SUCH"}).encode())
    assert answer["FunctionError"] == "Unhandled"
    body = json.loads(answer["Payload"].read())
    assert body["errorType"] == "ApplicationNotFound"
    assert "NO-SUCH" in body["errorMessage"]


def test_catch_routes_a_function_error_by_its_type(cloud: Any) -> None:
    # The Lambda task's Catch on ApplicationNotFound: the record vanishes between steps.
    sfn = cloud.client("stepfunctions")
    definition = {
        "StartAt": "PreReview",
        "States": {
            "PreReview": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": cloud.outputs["PreReviewFunctionName"],
                               "Payload.$": "$"},
                "Catch": [{"ErrorEquals": ["ApplicationNotFound"], "Next": "Missing"}],
                "End": True,
            },
            "Missing": {"Type": "Pass", "Result": {"caught": True}, "End": True},
        },
    }
    machine = sfn.create_state_machine(
        name=f"catch-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/test")
    started = sfn.start_execution(stateMachineArn=machine["stateMachineArn"],
                                  input=json.dumps({"applicationId": "GONE"}))
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=started["executionArn"]))[
            "status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"caught": True}


def test_schedule_rule_fires_the_timeout_check(cloud: Any) -> None:
    now = [datetime(2026, 11, 23, 2, 0, tzinfo=UTC)]
    scheduler = Scheduler(cloud.client, clock=lambda: now[0])
    assert scheduler.tick() == []  # first sight of the rule: it is due 5 minutes later
    now[0] += timedelta(minutes=4)
    assert scheduler.tick() == []
    before = len(cloud.server.runtime.invocations)
    now[0] += timedelta(minutes=1, seconds=1)
    fired = scheduler.tick()
    assert len(fired) == 1
    assert scheduler.fired[-1][1].endswith(cloud.outputs["TimeoutCheckFunctionName"])
    deadline = time.monotonic() + 10
    while len(cloud.server.runtime.invocations) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    name, error_type = cloud.server.runtime.invocations[-1]
    assert name == cloud.outputs["TimeoutCheckFunctionName"]
    assert error_type is None


def test_a_taken_port_is_refused(cloud: Any) -> None:
    port = int(cloud.endpoint.rsplit(":", 1)[1])
    with pytest.raises(PortTakenError, match=f"127.0.0.1:{port} is already in use"):
        ensure_port_free("127.0.0.1", port)
