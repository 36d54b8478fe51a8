"""物流/送达 end to end: the delivery function deployed from its folder waits in a one-state
machine (`lambda:invoke.waitForTaskToken`), the courier's signed webhooks (sent as the local
simulator signs them) move the shipment on, window staff record pickups, and the execution
resumes once with the delivery's output."""

from __future__ import annotations

import importlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from infra.demo import APPLICATION
from infra.providers.courier import LOCAL_SECRET, callback
from tests.support.data import CITIZEN_ID, permit_body
from tests.support.environment import environment
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DELIVERY_ROUTES = {"/webhooks/courier", "/applications/{application_id}/pickup",
                   "/applications/{application_id}/delivery"}


def with_delivery_routes(api_module: Any) -> Any:
    """The app with the delivery blueprint, registered here until `app.py` registers it."""
    app = api_module.app
    if "/webhooks/courier" not in app.routes:
        from chalicelib.routes import delivery

        app.register_blueprint(delivery.routes)
        for path in DELIVERY_ROUTES:
            for entry in app.routes[path].values():
                entry.view_function = api_module.answering_domain_errors(entry.view_function)
    return app


@pytest.fixture
def http(cloud_env: dict[str, str], seeded: None) -> Iterator[Any]:
    """The app's HTTP test client (as tests/functions/api/conftest.py gives it), with the
    delivery routes."""
    from chalicelib.aws import aws

    with environment({**cloud_env, "STAGE": "local"}, also=[aws]):
        import app as api_module

        if "/dev/token" not in api_module.app.routes:
            api_module = importlib.reload(api_module)
        with Client(with_delivery_routes(api_module)) as client:
            yield client.http


@pytest.fixture(scope="module")
def machine(cloud: Any) -> str:
    """A state machine whose one state is the delivery step, run by the function deployed
    from functions/delivery_dispatch with the stack's layer and the courier simulator."""
    return delivery_machine(cloud, {"COURIER_PROVIDER_URL": cloud.server.simulators.urls.courier})


@pytest.fixture(scope="module")
def machine_without_courier(cloud: Any) -> str:
    """The same, its function configured with no courier (COURIER_PROVIDER_URL unset)."""
    return delivery_machine(cloud, {})


def delivery_machine(cloud: Any, variables: dict[str, str]) -> str:
    """A one-state machine running the delivery function, with these extra variables."""
    from infra.localcloud.deploy import DEPLOYMENT_BUCKET
    from infra.localcloud.packaging import upload_code
    from infra.localcloud.server import REPO_ROOT

    s3, lambda_, iam = cloud.client("s3"), cloud.client("lambda"), cloud.client("iam")
    key = upload_code(REPO_ROOT / "functions/delivery_dispatch",
                      lambda k, b: s3.put_object(Bucket=DEPLOYMENT_BUCKET, Key=k, Body=b))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]}
    role = iam.create_role(RoleName=f"delivery-{uuid.uuid4().hex[:8]}",
                           AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    function = lambda_.create_function(
        FunctionName=f"delivery-dispatch-{uuid.uuid4().hex[:8]}", Runtime="python3.12",
        Role=role, Handler="app.handler", Timeout=30,
        Code={"S3Bucket": DEPLOYMENT_BUCKET, "S3Key": key},
        Layers=[cloud.outputs["DomainLayerArn"]],
        Environment={"Variables": {
            "TABLE_NAME": cloud.outputs["TableName"], "STAGE": cloud.outputs["Stage"],
            "POWERTOOLS_SERVICE_NAME": "yiwang", "POWERTOOLS_METRICS_NAMESPACE": "Yiwang",
            **variables}})
    definition = {"StartAt": "Deliver", "States": {"Deliver": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": function["FunctionArn"], "Payload": {
            "applicationId.$": "$.applicationId", "taskToken.$": "$$.Task.Token"}},
        "TimeoutSeconds": 300, "End": True}}}
    return cloud.client("stepfunctions").create_state_machine(
        name=f"delivery-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
        roleArn=role)["stateMachineArn"]


def draft_body(method: str) -> dict[str, Any]:
    """The sample construction-permit application, delivered by `method`."""
    delivery = APPLICATION["delivery"] if method == "COURIER" else {"method": "PICKUP"}
    return permit_body(delivery=dict(delivery))


class Delivery:
    """One application taken to CERTIFICATE_ISSUED and its delivery step started."""

    def __init__(self, http: Any, token: Callable[..., dict[str, str]], cloud: Any,
                 machine: str, method: str) -> None:
        from yiwang.applications.records import ApplicationRecord

        self.http = http
        self.citizen = token("citizen-delivery", "applicant", idNumber=CITIZEN_ID)
        answer = http.post("/applications", headers=self.citizen,
                           body=json.dumps(draft_body(method)))
        assert answer.status_code == 201, answer.body
        self.id = json.loads(answer.body)["id"]
        # Set, not moved: the status table has no short cut from DRAFT (the steps are skipped);
        # its list shard with it, so the supervisors' lists stay true.
        ApplicationRecord.load(self.id).update(
            actions=ApplicationRecord.moved_to("CERTIFICATE_ISSUED", self.id))
        self.sfn = cloud.client("stepfunctions")
        self.execution_arn = self.sfn.start_execution(
            stateMachineArn=machine, name=self.id,
            input=json.dumps({"applicationId": self.id}))["executionArn"]

    def get(self, path: str = "") -> dict[str, Any]:
        answer = self.http.get(f"/applications/{self.id}{path}", headers=self.citizen)
        assert answer.status_code == 200, answer.body
        return json.loads(answer.body)

    def wait_for(self, status: str) -> dict[str, Any]:
        return eventually(lambda: (seen := self.get())["status"] == status and seen,
                          what=f"status {status} (last event: {self.last_event()})")

    def last_event(self) -> dict[str, Any]:
        return self.sfn.get_execution_history(executionArn=self.execution_arn)["events"][-1]

    def finished(self) -> dict[str, Any]:
        return eventually(lambda: (described := self.sfn.describe_execution(
            executionArn=self.execution_arn))["status"] != "RUNNING" and described,
            what="the execution to end")

    def events(self, *names: str) -> list[dict[str, Any]]:
        return [e for e in self.get()["timeline"] if e["event"] in names]


def courier(http: Any, waybill_no: str, event: str, at: datetime, *,
            secret: str = LOCAL_SECRET, sent: float | None = None) -> Any:
    body, headers = callback(waybill_no, event, at.isoformat(), secret=secret, now=sent)
    return http.post("/webhooks/courier", headers=headers, body=body)


def test_courier_delivery_from_waybill_to_completion(http: Any, token: Any, cloud: Any,
                                                     machine: str) -> None:
    case = Delivery(http, token, cloud, machine, "COURIER")
    seen = case.wait_for("DISPATCHED")
    waybill_no = seen["delivery"]["waybillNo"]
    assert waybill_no.startswith("SF") and len(waybill_no) == 14
    dispatched = case.events("DISPATCHED")
    assert len(dispatched) == 1 and dispatched[0]["detail"]["waybillNo"] == waybill_no

    forged = courier(http, waybill_no, "DELIVERED", T0, secret="not-the-secret")
    stale = courier(http, waybill_no, "DELIVERED", T0, sent=time.time() - 600)
    assert (forged.status_code, json.loads(forged.body)["code"]) == (401, "BAD_SIGNATURE")
    assert (stale.status_code, json.loads(stale.body)["code"]) == (401, "STALE_WEBHOOK")
    tracked = case.get("/delivery")
    assert (tracked["status"], tracked["events"]) == ("CREATED", [])

    picked = courier(http, waybill_no, "PICKED_UP", T0 + timedelta(hours=1))
    assert picked.status_code == 200 and json.loads(picked.body)["status"] == "PICKED_UP"
    delivered_at = T0 + timedelta(hours=6)
    delivered = courier(http, waybill_no, "DELIVERED", delivered_at)  # before IN_TRANSIT
    assert delivered.status_code == 200, delivered.body
    assert json.loads(delivered.body)["status"] == "DELIVERED"
    late = courier(http, waybill_no, "IN_TRANSIT", T0 + timedelta(hours=3))
    assert late.status_code == 200
    assert json.loads(late.body) == {"waybillNo": waybill_no, "event": "IN_TRANSIT",
                                     "recorded": True, "advanced": False, "status": "DELIVERED"}
    again = courier(http, waybill_no, "DELIVERED", delivered_at)  # redelivered
    assert again.status_code == 200 and json.loads(again.body) == json.loads(delivered.body)

    seen = case.get()
    assert seen["status"] == "COMPLETED"
    assert [(e["event"], e["detail"]["from"], e["detail"]["to"])
            for e in case.events("DELIVERED", "COMPLETED")] == [
        ("DELIVERED", "DISPATCHED", "DELIVERED"), ("COMPLETED", "DELIVERED", "COMPLETED")]
    tracked = case.get("/delivery")
    assert tracked["status"] == "DELIVERED"
    assert [e["event"] for e in tracked["events"]] == ["PICKED_UP", "IN_TRANSIT", "DELIVERED"]
    finished = case.finished()
    assert finished["status"] == "SUCCEEDED"
    assert json.loads(finished["output"]) == {"waybillNo": waybill_no,
                                              "deliveredAt": delivered_at.isoformat()}


def test_no_courier_configured_refuses_to_dispatch(http: Any, token: Any, cloud: Any,
                                                   machine_without_courier: str) -> None:
    # No made-up waybill: the step fails naming the setting, and the execution with it.
    case = Delivery(http, token, cloud, machine_without_courier, "COURIER")
    finished = case.finished()
    assert finished["status"] == "FAILED"
    assert finished.get("error") == "ConfigurationError"
    assert "COURIER_PROVIDER_URL" in finished.get("cause", "")
    view = case.get()
    assert view["status"] == "CERTIFICATE_ISSUED"
    assert not (view.get("delivery") or {}).get("waybillNo")
    assert not case.events("DISPATCHED")


def test_courier_webhook_refuses_unknown_waybills_and_bad_bodies(http: Any) -> None:
    unknown = courier(http, "SF000000000000", "DELIVERED", T0)
    assert (unknown.status_code, json.loads(unknown.body)["code"]) == (404, "NOT_FOUND")
    body = b'{"waybillNo": "SF1", "event": "LOST"'
    _, headers = callback("SF1", "DELIVERED", secret=LOCAL_SECRET)
    from yiwang.platform.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    headers[SIGNATURE_HEADER] = sign(LOCAL_SECRET, headers[TIMESTAMP_HEADER], body)
    malformed = http.post("/webhooks/courier", headers=headers, body=body)
    assert (malformed.status_code, json.loads(malformed.body)["code"]) == (
        400, "VALIDATION_FAILED")
    unsigned = http.post("/webhooks/courier", headers={"Content-Type": "application/json"},
                         body=b"{}")
    assert (unsigned.status_code, json.loads(unsigned.body)["code"]) == (401, "BAD_SIGNATURE")


def test_pickup_at_the_window(http: Any, token: Any, cloud: Any, machine: str) -> None:
    case = Delivery(http, token, cloud, machine, "PICKUP")
    case.wait_for("READY_FOR_PICKUP")
    collect = json.dumps({"collectedBy": "张伟", "note": "本人持身份证领取"})
    by_applicant = http.post(f"/applications/{case.id}/pickup", headers=case.citizen,
                             body=collect)
    assert (by_applicant.status_code, json.loads(by_applicant.body)["code"]) == (
        403, "FORBIDDEN")
    window = token("window-delivery", "window", dept="GZ-ZWFW")
    answer = http.post(f"/applications/{case.id}/pickup", headers=window, body=collect)
    assert answer.status_code == 200, answer.body
    completed = json.loads(answer.body)
    assert completed["status"] == "COMPLETED"
    assert completed["timeline"][-1]["event"] == "COLLECTED"
    assert completed["timeline"][-1]["actor"] == "window-delivery"
    finished = case.finished()
    assert finished["status"] == "SUCCEEDED"
    output = json.loads(finished["output"])  # ids and times only: no free text
    assert (set(output), output["applicationId"]) == ({"applicationId", "collectedAt"}, case.id)
    second = http.post(f"/applications/{case.id}/pickup", headers=window, body=collect)
    assert (second.status_code, json.loads(second.body)["code"]) == (409, "CONFLICT")
    assert case.get("/delivery")["status"] == "COLLECTED"
