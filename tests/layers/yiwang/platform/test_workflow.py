"""The workflow module against a Step Functions client stub (botocore's Stubber: the real
client's request validation, no engine needed)."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.stub import Stubber

from yiwang.platform import workflow

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:lifecycle"


@pytest.fixture
def sfn():
    client = botocore.session.get_session().create_client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x")
    with Stubber(client) as stub:
        client.stub = stub
        yield client
        stub.assert_no_pending_responses()


def test_start_names_the_execution_after_its_subject(sfn) -> None:
    arn = workflow.execution_arn(MACHINE, "A1")
    sfn.stub.add_response("start_execution", {"executionArn": arn, "startDate": 0},
                          {"stateMachineArn": MACHINE, "name": "A1",
                           "input": '{"applicationId": "A1"}'})
    assert workflow.start(sfn, MACHINE, "A1", {"applicationId": "A1"}) == arn
    assert arn == "arn:aws:states:us-east-1:123456789012:execution:lifecycle:A1"


def test_a_repeated_start_answers_the_existing_execution(sfn) -> None:
    sfn.stub.add_client_error("start_execution", "ExecutionAlreadyExists")
    assert workflow.start(sfn, MACHINE, "A1", {}) == workflow.execution_arn(MACHINE, "A1")


@pytest.mark.parametrize("code", sorted(workflow.NO_LONGER_WAITING))
def test_a_token_that_no_longer_waits_is_false_for_resume_and_fail(sfn, code: str) -> None:
    sfn.stub.add_client_error("send_task_success", code)
    sfn.stub.add_client_error("send_task_failure", code)
    assert workflow.resume(sfn, "token", {"ok": True}) is False
    assert workflow.fail(sfn, "token", "PaymentExpired", {"orderId": "O1"}) is False


def test_a_waiting_step_is_resumed(sfn) -> None:
    sfn.stub.add_response("send_task_success", {},
                          {"taskToken": "token", "output": '{"decision": "APPROVE"}'})
    assert workflow.resume(sfn, "token", {"decision": "APPROVE"}) is True


def test_other_engine_errors_propagate(sfn) -> None:
    sfn.stub.add_client_error("send_task_success", "ThrottlingException")
    with pytest.raises(sfn.exceptions.ClientError):
        workflow.resume(sfn, "token", {})
