"""物流/送达 on the deployed table: waybills and shipments, courier events that arrive late,
twice or at the same time, pickup at the window, and the waiting execution resumed once.

The execution waits on a real task token: a one-state machine hands `{applicationId,
taskToken}` to a queue (`sqs:sendMessage.waitForTaskToken`), and the test plays the delivery
function's part with the token it reads there (tests/functions/api/test_delivery.py runs the
deployed function itself)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from infra.demo import APPLICATION
from tests.support.data import CITIZEN_ID, permit_body
from tests.support.environment import environment
from tests.support.fakes import FakeStepFunctions
from tests.support.polling import eventually
from yiwang.fulfilment import couriers
from yiwang.people.access import Caller
from yiwang.platform.config import ConfigurationError, load_settings
from yiwang.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed

CITIZEN = Caller("citizen-delivery", "applicant", id_number=CITIZEN_ID)
WINDOW = Caller("window-delivery", "window", dept="GZ-ZWFW")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def draft_body(method: str) -> dict[str, Any]:
    """The sample construction-permit application, delivered by `method`."""
    delivery = APPLICATION["delivery"] if method == "COURIER" else {"method": "PICKUP"}
    return permit_body(delivery=dict(delivery))


@pytest.fixture(scope="module")
def domain(cloud: Any, cloud_env: dict[str, str], seeded: None) -> Iterator[Any]:
    """`yiwang.fulfilment.delivery` bound to the deployed stack."""
    from yiwang.fulfilment import delivery

    with environment(cloud_env):
        yield delivery


def issued(method: str) -> str:
    """A new application, its certificate issued (the steps before are other modules')."""
    from yiwang.applications import drafts
    from yiwang.applications.records import ApplicationRecord

    record = drafts.create_draft(CITIZEN, draft_body(method))
    # Set, not moved: the status table has no short cut from DRAFT (the steps are skipped);
    # its list shard with it, so the supervisors' lists stay true.
    record.update(actions=ApplicationRecord.moved_to("CERTIFICATE_ISSUED", record.application_id))
    return record.application_id


class Waiting:
    """A running execution waiting in its only state for a task token, which the test holds."""

    def __init__(self, cloud: Any, application_id: str) -> None:
        self.sfn = cloud.client("stepfunctions")
        sqs = cloud.client("sqs")
        queue = sqs.create_queue(QueueName=f"delivery-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        definition = {"StartAt": "Deliver", "States": {"Deliver": {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": queue, "MessageBody": {
                "applicationId.$": "$.applicationId", "taskToken.$": "$$.Task.Token"}},
            "End": True}}}
        machine = self.sfn.create_state_machine(
            name=f"delivery-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/delivery-test")["stateMachineArn"]
        self.execution_arn = self.sfn.start_execution(
            stateMachineArn=machine, input=json.dumps({"applicationId": application_id}))[
            "executionArn"]
        messages = eventually(
            lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []),
            interval=0, what="the execution to hand out its task token")
        self.token = json.loads(messages[0]["Body"])["taskToken"]

    def finished(self) -> dict[str, Any]:
        return eventually(lambda: (described := self.sfn.describe_execution(
            executionArn=self.execution_arn))["status"] != "RUNNING" and described,
            what="the execution to end")


def trail(application_id: str) -> list[tuple[str, str | None, str | None]]:
    from yiwang.applications import lifecycle

    return [(a.event, a.from_status, a.to_status)
            for a in lifecycle.audit_of(application_id)]


def status_of(application_id: str) -> str:
    from yiwang.applications.records import ApplicationRecord

    return ApplicationRecord.load(application_id).status


def event(waybill_no: str, name: str, at: datetime, note: str | None = None) -> dict[str, Any]:
    return {"waybillNo": waybill_no, "event": name, "at": at.isoformat(),
            **({"note": note} if note else {})}


@pytest.fixture(scope="module")
def courier(cloud: Any) -> couriers.LocalCourier:
    """The courier simulator the local cloud serves beside it."""
    return couriers.LocalCourier(cloud.server.simulators.urls.courier)


def dispatched(domain: Any, cloud: Any, courier: Any) -> tuple[str, str, Waiting]:
    application_id = issued("COURIER")
    waiting = Waiting(cloud, application_id)
    shipment = domain.dispatch(application_id, waiting.token, courier, T0)
    return application_id, shipment.waybill_no, waiting


def test_local_courier_numbers_waybills_like_sf_express() -> None:
    from infra.providers import courier as simulator

    server = simulator.serve(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        numbers = {couriers.LocalCourier(url).create_waybill("YW1", "广州市天河区", "证照")
                   for _ in range(20)}
        assert all(re.fullmatch(r"SF\d{12}", n) for n in numbers) and len(numbers) == 20
    finally:
        server.shutdown()
        server.server_close()


def test_without_a_courier_url_nothing_makes_up_a_waybill(cloud_env: dict[str, str]) -> None:
    # The refusal names the setting to fix; no number is invented in the courier's place.
    env = {**cloud_env, "COURIER_PROVIDER_URL": ""}
    with environment(env), pytest.raises(
            ConfigurationError, match="COURIER_PROVIDER_URL"):
        couriers.courier_from_settings()
    with pytest.raises(TypeError):
        couriers.LocalCourier()  # type: ignore[call-arg] - the URL is not optional


def test_dispatch_creates_one_waybill_and_dispatches(domain: Any, cloud: Any,
                                                     courier: Any) -> None:
    from yiwang.applications.records import ApplicationRecord

    application_id, waybill_no, waiting = dispatched(domain, cloud, courier)
    shipment = domain.ShipmentRecord.of(application_id)
    assert (shipment.status, shipment.carrier, shipment.task_token) == (
        "CREATED", "SF", waiting.token)
    assert domain.application_of_waybill(waybill_no) == application_id
    record = ApplicationRecord.load(application_id)
    assert record.status == "DISPATCHED"
    assert record.delivery["waybillNo"] == waybill_no and record.delivery["method"] == "COURIER"
    from yiwang.applications import lifecycle

    audit = [a for a in lifecycle.audit_of(application_id) if a.event == "DISPATCHED"]
    assert len(audit) == 1 and audit[0].detail.as_dict()["waybillNo"] == waybill_no
    # The step retried (a new token): the same waybill, the newest token, no second audit.
    again = domain.dispatch(application_id, "a-newer-token", courier, T0)
    assert again.waybill_no == waybill_no
    assert domain.ShipmentRecord.of(application_id).task_token == "a-newer-token"
    assert [e for e, *_ in trail(application_id)].count("DISPATCHED") == 1


def test_dispatch_needs_an_issued_certificate_and_a_courier_delivery(domain: Any,
                                                                   courier: Any) -> None:
    from yiwang.applications import drafts

    draft = drafts.create_draft(CITIZEN, draft_body("COURIER")).application_id
    with pytest.raises(Conflict):
        domain.dispatch(draft, "token", courier)
    with pytest.raises(NotFound):
        domain.ShipmentRecord.of(draft)
    with pytest.raises(Conflict):
        domain.dispatch(issued("PICKUP"), "token", courier)


def test_events_out_of_order_never_move_the_status_back(domain: Any, cloud: Any,
                                                        courier: Any) -> None:
    application_id, waybill_no, waiting = dispatched(domain, cloud, courier)
    sfn = FakeStepFunctions(cloud.client("stepfunctions"))
    answer = domain.record_courier_event(event(waybill_no, "PICKED_UP", T0 + timedelta(hours=1)),
                                         sfn=sfn)
    assert answer == {"waybillNo": waybill_no, "event": "PICKED_UP", "recorded": True,
                      "advanced": True, "status": "PICKED_UP"}
    exception = domain.record_courier_event(event(
        waybill_no, "EXCEPTION", T0 + timedelta(hours=2), "地址不详，联系收件人"), sfn=sfn)
    assert exception["status"] == "PICKED_UP" and not exception["advanced"]
    assert domain.ShipmentRecord.of(application_id).exception is True
    delivered_at = T0 + timedelta(hours=5)
    delivered = domain.record_courier_event(event(waybill_no, "DELIVERED", delivered_at),
                                            sfn=sfn)
    assert delivered["status"] == "DELIVERED" and delivered["advanced"]
    assert status_of(application_id) == "COMPLETED"
    late = domain.record_courier_event(event(waybill_no, "IN_TRANSIT", T0 + timedelta(hours=3)),
                                       sfn=sfn)
    assert late == {"waybillNo": waybill_no, "event": "IN_TRANSIT", "recorded": True,
                    "advanced": False, "status": "DELIVERED"}
    shipment = domain.ShipmentRecord.of(application_id)
    assert [e.event for e in shipment.events] == ["PICKED_UP", "EXCEPTION", "DELIVERED",
                                                  "IN_TRANSIT"]
    assert shipment.status == "DELIVERED" and shipment.last_event_at == delivered_at
    assert [t for t in trail(application_id) if t[0] in {"DELIVERED", "COMPLETED"}] == [
        ("DELIVERED", "DISPATCHED", "DELIVERED"), ("COMPLETED", "DELIVERED", "COMPLETED")]
    assert len(sfn.completed) == 1
    finished = waiting.finished()
    assert finished["status"] == "SUCCEEDED"
    assert json.loads(finished["output"]) == {"waybillNo": waybill_no,
                                              "deliveredAt": delivered_at.isoformat()}
    from yiwang.applications.records import ApplicationRecord

    tracked = domain.tracking(ApplicationRecord.load(application_id))
    assert [e["event"] for e in tracked["events"]] == ["PICKED_UP", "EXCEPTION", "IN_TRANSIT",
                                                      "DELIVERED"]  # in the order they happened


def test_the_same_event_twice_has_one_effect(domain: Any, cloud: Any, courier: Any) -> None:
    application_id, waybill_no, _ = dispatched(domain, cloud, courier)
    sfn = FakeStepFunctions(cloud.client("stepfunctions"))
    picked = event(waybill_no, "PICKED_UP", T0 + timedelta(hours=1))
    first = domain.record_courier_event(picked, sfn=sfn)
    # Redelivered, with the time written in another offset: the same event.
    again = {**picked, "at": (T0 + timedelta(hours=1)).astimezone(SHANGHAI).isoformat()}
    assert domain.record_courier_event(again, sfn=sfn) == first
    assert len(domain.ShipmentRecord.of(application_id).events) == 1


def test_concurrent_deliveries_complete_once(domain: Any, cloud: Any, courier: Any) -> None:
    application_id, waybill_no, waiting = dispatched(domain, cloud, courier)
    sfn = FakeStepFunctions(cloud.client("stepfunctions"))
    callbacks = [event(waybill_no, "DELIVERED", T0 + timedelta(hours=4, minutes=n % 3))
                 for n in range(6)]  # three distinct events, each delivered twice
    answers: list[Any] = []

    def deliver(payload: dict[str, Any]) -> None:
        try:
            answers.append(domain.record_courier_event(payload, sfn=sfn))
        except Conflict as error:  # the same event still being processed: retried later
            answers.append(error)

    threads = [threading.Thread(target=deliver, args=(c,)) for c in callbacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for payload in callbacks:  # the courier retries what was refused
        domain.record_courier_event(payload, sfn=sfn)
    assert status_of(application_id) == "COMPLETED"
    steps = [t for t in trail(application_id) if t[0] in {"DELIVERED", "COMPLETED"}]
    assert steps == [("DELIVERED", "DISPATCHED", "DELIVERED"),
                     ("COMPLETED", "DELIVERED", "COMPLETED")]
    assert len(domain.ShipmentRecord.of(application_id).events) == 3
    assert len(sfn.completed) == 1  # a concurrent second try would be refused by Step Functions
    assert waiting.finished()["status"] == "SUCCEEDED"


def test_unknown_waybills_and_malformed_events_are_refused(domain: Any) -> None:
    with pytest.raises(NotFound):
        domain.record_courier_event(event("SF000000000000", "DELIVERED", T0))
    with pytest.raises(ValidationFailed) as refused:
        domain.record_courier_event({"waybillNo": "SF1", "event": "LOST", "at": "yesterday"})
    assert {e.path for e in refused.value.errors} == {"event"}
    with pytest.raises(ValidationFailed) as naive:
        domain.record_courier_event({"waybillNo": "SF1", "event": "DELIVERED",
                                     "at": "2026-11-23T10:00:00"})
    assert [e.path for e in naive.value.errors] == ["at"]


def test_pickup_at_the_window_completes_once(domain: Any, cloud: Any) -> None:
    application_id = issued("PICKUP")
    waiting = Waiting(cloud, application_id)
    domain.ready_for_pickup(application_id, waiting.token, T0)
    assert status_of(application_id) == "READY_FOR_PICKUP"
    sfn = FakeStepFunctions(cloud.client("stepfunctions"))
    with pytest.raises(Forbidden):
        domain.complete_pickup(CITIZEN, application_id, {"collectedBy": "张伟"}, sfn)
    with pytest.raises(ValidationFailed):
        domain.complete_pickup(WINDOW, application_id, {"collectedBy": ""}, sfn)
    collected_at = T0 + timedelta(days=1)
    record = domain.complete_pickup(WINDOW, application_id,
                                    {"collectedBy": "张伟", "note": "本人领取"}, sfn, collected_at)
    assert record.status == "COMPLETED"
    assert trail(application_id)[-1] == ("COLLECTED", "READY_FOR_PICKUP", "COMPLETED")
    with pytest.raises(Conflict):
        domain.complete_pickup(WINDOW, application_id, {"collectedBy": "张伟"}, sfn)
    assert len(sfn.completed) == 1
    finished = waiting.finished()
    assert finished["status"] == "SUCCEEDED"
    assert json.loads(finished["output"]) == {"applicationId": application_id,
                                              "collectedAt": collected_at.isoformat()}


def test_webhook_secret_comes_from_secrets_manager_the_environment_or_the_local_default(
        domain: Any, cloud: Any, cloud_env: dict[str, str], courier: Any) -> None:
    base = {"STAGE": "dev", "TABLE_NAME": "t"}
    assert couriers.courier_webhook_secret(load_settings(
        {**base, "STAGE": "local", "COURIER_WEBHOOK_SECRET": cloud_env[
            "COURIER_WEBHOOK_SECRET"]})) == b"local-courier-secret"
    assert couriers.courier_webhook_secret(load_settings(
        {**base, "COURIER_WEBHOOK_SECRET": "s3cret"})) == b"s3cret"
    with pytest.raises(ConfigurationError, match="COURIER_WEBHOOK_SECRET"):
        couriers.courier_webhook_secret(load_settings(base))
    arn = cloud.client("secretsmanager").create_secret(
        Name=f"yiwang/courier-{uuid.uuid4().hex[:8]}", SecretString="from-secrets-manager")["ARN"]
    assert couriers.courier_webhook_secret(load_settings(
        {**base, "COURIER_WEBHOOK_SECRET_ARN": arn})) == b"from-secrets-manager"
