"""收费 end to end against the local cloud: a real execution waits on the payment order
function (`lambda:invoke.waitForTaskToken`), and the provider's signed callback
(`POST /webhooks/payment`) settles the order and resumes it, once."""

from __future__ import annotations

import importlib
import json
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from tests.support.data import CITIZEN_ID, permit_body
from tests.support.environment import environment
from tests.support.network import free_port
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

FEE = 50000  # 建设工程规划许可证核发 (the sample item of permit_body)
PROVIDER_URL = "http://127.0.0.1:8100"
NEW_ROUTES = ("/webhooks/payment", "/applications/{application_id}/fee-waiver")


@pytest.fixture
def api(cloud_env: dict[str, str], seeded: None) -> Iterator[Any]:
    """The app's test client (as the `http` fixture), with the payments blueprint registered
    when app.py does not register it yet."""
    from chalicelib.aws import aws

    with environment({**cloud_env, "STAGE": "local"}, also=[aws]):
        import app as api_module

        if "/dev/token" not in api_module.app.routes:
            api_module = importlib.reload(api_module)
        if "/webhooks/payment" not in api_module.app.routes:
            from chalicelib.routes import payments as payment_routes

            api_module.app.register_blueprint(payment_routes.routes)
            for path in NEW_ROUTES:
                for entry in api_module.app.routes[path].values():
                    entry.view_function = api_module.answering_domain_errors(
                        entry.view_function)
        with Client(api_module.app) as client:
            yield client.http


@pytest.fixture
def secret(api: Any) -> bytes:
    """The secret the API checks callbacks with (the local stage's, unless the env sets one)."""
    from yiwang.fulfilment import payment_provider
    from yiwang.platform.config import settings

    return payment_provider.webhook_secret(settings())


@pytest.fixture(scope="module")
def waiting_machine(cloud: Any) -> str:
    """A state machine whose only state is the payment step the lead's lifecycle will have,
    calling the payment order function created from its folder (the template has no such
    function yet)."""
    from infra.localcloud.packaging import upload_code
    from infra.localcloud.server import REPO_ROOT

    s3, lambda_, iam = cloud.client("s3"), cloud.client("lambda"), cloud.client("iam")
    key = upload_code(REPO_ROOT / "functions/payment_order",
                      lambda k, b: s3.put_object(Bucket="yiwang-deployment", Key=k, Body=b))
    suffix = uuid.uuid4().hex[:8]
    role = iam.create_role(RoleName=f"payment-{suffix}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]}))
    fn = lambda_.create_function(
        FunctionName=f"payment-order-{suffix}", Runtime="python3.12",
        Role=role["Role"]["Arn"], Handler="app.handler", Timeout=30,
        Code={"S3Bucket": "yiwang-deployment", "S3Key": key},
        Layers=[cloud.outputs["DomainLayerArn"]],
        Environment={"Variables": {
            "TABLE_NAME": cloud.outputs["TableName"], "STAGE": cloud.outputs["Stage"],
            "POWERTOOLS_SERVICE_NAME": "yiwang", "POWERTOOLS_METRICS_NAMESPACE": "Yiwang",
            "PAYMENT_PROVIDER_URL": PROVIDER_URL}})
    definition = {"StartAt": "AwaitPayment", "States": {"AwaitPayment": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": fn["FunctionArn"], "Payload": {
            "applicationId.$": "$.applicationId", "taskToken.$": "$$.Task.Token"}},
        "TimeoutSeconds": 604800, "ResultPath": "$.payment", "End": True}}}
    machine = cloud.client("stepfunctions").create_state_machine(
        name=f"payment-{suffix}", definition=json.dumps(definition),
        roleArn=role["Role"]["Arn"])
    return machine["stateMachineArn"]


def sign_in(api: Any, sub: str, role: str, **claims: str) -> dict[str, str]:
    answer = api.post("/dev/token", headers={"Content-Type": "application/json"},
                      body=json.dumps({"sub": sub, "role": role, **claims}))
    assert answer.status_code == 200, answer.body
    return {"Authorization": f"Bearer {json.loads(answer.body)['token']}",
            "Content-Type": "application/json"}


def awaiting_payment(api: Any, cloud: Any, machine: str, sub: str) -> tuple[str, str, Any]:
    """An application in IN_REVIEW, then a real execution waiting on its payment order:
    (application id, execution ARN, the order)."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.fulfilment import payments

    citizen = sign_in(api, sub, "applicant", idNumber=CITIZEN_ID)
    answer = api.post("/applications", headers=citizen, body=json.dumps(permit_body()))
    assert answer.status_code == 201, answer.body
    application_id = json.loads(answer.body)["id"]
    # Set, not moved: the status table has no short cut from DRAFT (the steps are skipped);
    # its list shard with it, so the supervisors' lists stay true.
    ApplicationRecord.load(application_id).update(
        actions=ApplicationRecord.moved_to("IN_REVIEW", application_id))
    execution = cloud.client("stepfunctions").start_execution(
        stateMachineArn=machine, name=application_id,
        input=json.dumps({"applicationId": application_id}))
    # The function's last write is the application's status.
    assert eventually(lambda: ApplicationRecord.load(application_id).status
                      == "AWAITING_PAYMENT"), "the payment order function did not finish"
    orders = payments.orders_of(application_id)
    assert len(orders) == 1
    return application_id, execution["executionArn"], orders[0]


def signed(secret: bytes, body: dict[str, Any], at: float | None = None
           ) -> tuple[bytes, dict[str, str]]:
    from yiwang.platform.signatures import sign

    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time() if at is None else at))
    return raw, {"Content-Type": "application/json", "X-Yiwang-Timestamp": stamp,
                 "X-Yiwang-Signature": sign(secret, stamp, raw)}


def deliver(api: Any, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    answer = api.post("/webhooks/payment", headers=headers, body=raw)
    return answer.status_code, json.loads(answer.body)


def paid_event(order_id: str, amount: int = FEE, status: str = "SUCCESS",
               transaction_id: str | None = None) -> dict[str, Any]:
    return {"orderId": order_id, "transactionId": transaction_id or f"T{uuid.uuid4().hex}",
            "amountFen": amount, "status": status, "paidAt": "2026-11-23T10:00:00+08:00"}


def snapshot(application_id: str) -> tuple[Any, ...]:
    """Everything a callback may change: the order(s), the application, its audit trail."""
    from yiwang.applications import lifecycle
    from yiwang.applications.records import ApplicationRecord
    from yiwang.fulfilment import payments

    return (
        [(o.status, list(o.flags or []), o.transaction_id) for o in
         payments.orders_of(application_id)],
        ApplicationRecord.load(application_id).status,
        [(a.event, a.to_status) for a in lifecycle.audit_of(application_id)],
    )


def status_of(cloud: Any, execution_arn: str) -> dict[str, Any]:
    return cloud.client("stepfunctions").describe_execution(executionArn=execution_arn)


def test_payment_settles_the_order_and_resumes_the_execution_once(
        api: Any, cloud: Any, waiting_machine: str, secret: bytes) -> None:
    from yiwang.applications import lifecycle
    from yiwang.applications.records import ApplicationRecord
    from yiwang.fulfilment import payments

    application_id, execution_arn, order = awaiting_payment(api, cloud, waiting_machine,
                                                            "payer-1")
    # The pending order: the item version's fee, payable on the provider's page for 7 days.
    assert order.status == "PENDING" and int(order.amount_fen) == FEE
    assert ApplicationRecord.load(application_id).status == "AWAITING_PAYMENT"
    pending = payments.pending_payment(application_id)
    assert pending is not None and pending["orderId"] == order.order_id
    assert pending["amountFen"] == FEE
    assert pending["payUrl"].startswith(f"{PROVIDER_URL}/pay/{order.order_id}?amount={FEE}")
    assert (order.expires_at - order.created_at).days == 7
    ordered = [a for a in lifecycle.audit_of(application_id)
               if a.event == "PAYMENT_ORDERED"]
    assert [(a.from_status, a.to_status) for a in ordered] == [("IN_REVIEW", "AWAITING_PAYMENT")]
    assert ordered[0].detail.as_dict() == {"orderId": order.order_id, "amountFen": FEE}
    assert status_of(cloud, execution_arn)["status"] == "RUNNING"
    before = snapshot(application_id)

    # Forged: signed with another secret → 401 BAD_SIGNATURE, nothing changed.
    raw, headers = signed(b"not-the-secret", paid_event(order.order_id))
    status, problem = deliver(api, raw, headers)
    assert (status, problem["code"]) == (401, "BAD_SIGNATURE")
    # Tampered: the amount changed after signing.
    raw, headers = signed(secret, paid_event(order.order_id, amount=1))
    status, problem = deliver(api, raw.replace(b'"amountFen": 1,', f'"amountFen": {FEE},'
                                               .encode()), headers)
    assert (status, problem["code"]) == (401, "BAD_SIGNATURE")
    # Unsigned.
    status, problem = deliver(api, raw, {"Content-Type": "application/json"})
    assert (status, problem["code"]) == (401, "BAD_SIGNATURE")
    # Stale: correctly signed ten minutes ago → 401 STALE_WEBHOOK.
    raw, headers = signed(secret, paid_event(order.order_id), at=time.time() - 600)
    status, problem = deliver(api, raw, headers)
    assert (status, problem["code"]) == (401, "STALE_WEBHOOK")
    assert snapshot(application_id) == before

    # Wrong amount → 200 with the flag; never treated as paid; the execution still waits.
    raw, headers = signed(secret, paid_event(order.order_id, amount=FEE - 1,
                                             transaction_id="T-SHORT-1"))
    status, answer = deliver(api, raw, headers)
    flag = f"AMOUNT_MISMATCH paid {FEE - 1} owed {FEE} (txn T-SHORT-1)"
    assert (status, answer) == (200, {"orderId": order.order_id, "status": "PENDING",
                                      "flags": [flag]})
    order.refresh()
    assert order.status == "PENDING" and order.flags == [flag]
    assert ApplicationRecord.load(application_id).status == "AWAITING_PAYMENT"
    flagged = [a for a in lifecycle.audit_of(application_id) if a.event == "PAYMENT_FLAGGED"]
    assert len(flagged) == 1 and flagged[0].detail.as_dict()["flag"] == flag
    time.sleep(0.3)
    assert status_of(cloud, execution_arn)["status"] == "RUNNING"

    # The right amount → order PAID, application PAID, execution resumed with the payment.
    event = paid_event(order.order_id, transaction_id="T-GOOD-1")
    raw, headers = signed(secret, event)
    status, answer = deliver(api, raw, headers)
    assert (status, answer) == (200, {"orderId": order.order_id, "status": "PAID",
                                      "flags": [flag]})
    order.refresh()
    assert (order.status, order.transaction_id) == ("PAID", "T-GOOD-1")
    assert ApplicationRecord.load(application_id).status == "PAID"
    assert payments.pending_payment(application_id) is None
    finished = eventually(lambda: (d := status_of(cloud, execution_arn))["status"] != "RUNNING"
                          and d)
    assert finished["status"] == "SUCCEEDED", finished
    assert json.loads(finished["output"])["payment"] == {
        "orderId": order.order_id, "transactionId": "T-GOOD-1", "amountFen": FEE,
        "paidAt": "2026-11-23T02:00:00+00:00"}
    paid_audit = [a for a in lifecycle.audit_of(application_id) if a.event == "PAID"]
    assert len(paid_audit) == 1
    assert paid_audit[0].actor == "payment-provider"
    assert paid_audit[0].detail.as_dict()["transactionId"] == "T-GOOD-1"
    after = snapshot(application_id)

    # The same callback again (a retry by the provider, re-signed) → 200, no second effect.
    for again in (signed(secret, event), (raw, headers)):
        status, answer = deliver(api, *again)
        assert (status, answer["status"]) == (200, "PAID")
    assert snapshot(application_id) == after
    # Even once the idempotency record has expired (a day later), settling the same
    # transaction again finds the order paid by it and does nothing more.
    outcome = payments._settle(event, cloud.client("stepfunctions"), datetime.now(UTC))
    assert (outcome.status, outcome.effect) == ("PAID", "ALREADY_PAID")
    assert snapshot(application_id) == after


def test_failed_unknown_and_malformed_callbacks(
        api: Any, cloud: Any, waiting_machine: str, secret: bytes) -> None:
    from yiwang.applications import lifecycle
    from yiwang.fulfilment import payments
    from yiwang.platform.signatures import sign

    application_id, execution_arn, order = awaiting_payment(api, cloud, waiting_machine,
                                                            "payer-2")
    # FAILED is recorded; the order stays payable and the execution keeps waiting.
    raw, headers = signed(secret, paid_event(order.order_id, status="FAILED",
                                             transaction_id="T-FAIL-1"))
    status, answer = deliver(api, raw, headers)
    assert (status, answer) == (200, {"orderId": order.order_id, "status": "PENDING"})
    failures = [a for a in lifecycle.audit_of(application_id)
                if a.event == "PAYMENT_FAILED"]
    assert len(failures) == 1 and failures[0].detail.as_dict()["transactionId"] == "T-FAIL-1"
    assert payments.pending_payment(application_id)["orderId"] == order.order_id
    before = snapshot(application_id)
    # An order nobody issued → 404; a malformed (but signed) callback → 400 with every error.
    raw, headers = signed(secret, paid_event("NO-SUCH-ORDER"))
    status, problem = deliver(api, raw, headers)
    assert (status, problem["code"]) == (404, "NOT_FOUND")
    raw, headers = signed(secret, {"orderId": order.order_id, "amountFen": "500",
                                   "status": "PAID"})
    status, problem = deliver(api, raw, headers)
    assert (status, problem["code"]) == (400, "VALIDATION_FAILED")
    assert {e["path"] for e in problem["errors"]} == {"transactionId", "amountFen", "status"}
    raw = b"not json"
    stamp = str(int(time.time()))
    status, problem = deliver(api, raw, {"X-Yiwang-Timestamp": stamp,
                                         "X-Yiwang-Signature": sign(secret, stamp, raw)})
    assert (status, problem["code"]) == (400, "VALIDATION_FAILED")
    assert snapshot(application_id) == before
    assert status_of(cloud, execution_arn)["status"] == "RUNNING"


def test_opening_the_order_again_for_the_same_step_changes_nothing(
        api: Any, cloud: Any, waiting_machine: str) -> None:
    from yiwang.applications import lifecycle
    from yiwang.fulfilment import payments
    from yiwang.fulfilment.payment_provider import LocalPaymentProvider

    application_id, _, order = awaiting_payment(api, cloud, waiting_machine, "payer-3")
    again = payments.open_order(application_id, order.task_token,
                                LocalPaymentProvider(PROVIDER_URL))
    assert again.order_id == order.order_id
    assert [o.order_id for o in payments.orders_of(application_id)] == [order.order_id]
    assert [a.event for a in lifecycle.audit_of(application_id)].count(
        "PAYMENT_ORDERED") == 1


def test_the_simulator_pays_through_its_page_and_the_api_accepts_it(
        api: Any, cloud: Any, waiting_machine: str, secret: bytes) -> None:
    from infra.providers import payment as simulator
    from yiwang.applications.records import ApplicationRecord
    from yiwang.fulfilment import payments

    application_id, execution_arn, order = awaiting_payment(api, cloud, waiting_machine,
                                                            "payer-4")

    def through_the_api(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        assert url == "http://api.test/webhooks/payment"
        answer = api.post("/webhooks/payment", headers=headers, body=body)
        return answer.status_code, answer.body.decode()

    # `pay` with a FAILED status: signed as the API expects, recorded, still payable.
    status, answer = simulator.pay(order.order_id, FEE, "FAILED", api="http://api.test",
                                   secret=secret.decode(), send=through_the_api)
    assert (status, json.loads(answer)["status"]) == (200, "PENDING")

    # The pay page: GET shows the amount, pressing 支付 sends the signed callback.
    server = simulator.serve(free_port(), api="http://api.test", secret=secret.decode(),
                             send=through_the_api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        pay_url = order.pay_url.replace(PROVIDER_URL, f"http://127.0.0.1:{server.server_port}")
        page = urllib.request.urlopen(pay_url, timeout=10).read().decode()
        assert order.order_id in page and "支付" in page and "¥500.00" in page
        form = urllib.parse.urlencode({"amount": FEE, "status": "SUCCESS"}).encode()
        result = urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{server.server_port}/pay/{order.order_id}", data=form),
            timeout=30).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "支付成功" in result and "HTTP 200" in result
    assert ApplicationRecord.load(application_id).status == "PAID"
    assert payments.orders_of(application_id)[0].status == "PAID"
    finished = eventually(lambda: (d := status_of(cloud, execution_arn))["status"] != "RUNNING"
                          and d)
    assert finished["status"] == "SUCCEEDED"


def test_an_administrator_waives_the_fee(
        api: Any, cloud: Any, waiting_machine: str) -> None:
    from yiwang.applications.records import ApplicationRecord

    application_id, execution_arn, order = awaiting_payment(api, cloud, waiting_machine,
                                                            "payer-5")
    citizen = sign_in(api, "payer-5", "applicant", idNumber=CITIZEN_ID)
    refused = api.post(f"/applications/{application_id}/fee-waiver", headers=citizen,
                       body=json.dumps({"reason": "我想免费"}))
    assert refused.status_code == 403
    admin = sign_in(api, "admin-1", "admin")
    unreasoned = api.post(f"/applications/{application_id}/fee-waiver", headers=admin,
                          body=json.dumps({}))
    assert unreasoned.status_code == 400
    answer = api.post(f"/applications/{application_id}/fee-waiver", headers=admin,
                      body=json.dumps({"reason": "最低生活保障对象，依规减免"}))
    assert answer.status_code == 200, answer.body
    assert json.loads(answer.body)["status"] == "WAIVED"
    assert ApplicationRecord.load(application_id).status == "PAID"
    finished = eventually(lambda: (d := status_of(cloud, execution_arn))["status"] != "RUNNING"
                          and d)
    assert finished["status"] == "SUCCEEDED"
    assert json.loads(finished["output"])["payment"]["waived"] is True
    again = api.post(f"/applications/{application_id}/fee-waiver", headers=admin,
                     body=json.dumps({"reason": "again"}))
    assert again.status_code == 409
