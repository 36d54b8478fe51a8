"""A decision and its workflow move together: the engine failing to take a decision leaves it
retryable (the same decision resumes the step), and what a decision hands its step stays far
below Step Functions' 256 KB state limit however large the legal input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.data import CITIZEN_ID
from tests.support.fakes import FakeStepFunctions
from tests.support.journeys import Flow, status_is
from tests.support.polling import eventually
from yiwang.applications import tasks
from yiwang.people.access import WINDOW, Caller
from yiwang.platform.errors import Conflict, Unavailable

pytestmark = pytest.mark.integration

STATE_LIMIT = 256 * 1024


def test_a_failed_resume_leaves_the_decision_retryable(http: Any, token: Any,
                                                        cloud: Any) -> None:
    flow = Flow(http, token, cloud, "resume-once")
    flow.submit()
    task_id = flow.task(flow.window)["taskId"]
    window = Caller("window-resume-once", WINDOW)
    sfn = FakeStepFunctions(cloud.client("stepfunctions"), failures=1)
    decision = {"decision": "NOT_ACCEPTED", "opinion": "不属于本机关职权范围"}

    with pytest.raises(Unavailable):
        tasks.decide(window, task_id, decision, sfn)
    assert tasks.load_task(task_id).resume_failed_at is not None
    assert flow.execution()["status"] == "RUNNING"  # the workflow did not move
    with pytest.raises(Conflict):  # the recorded decision stands
        tasks.decide(window, task_id, {**decision, "decision": "ACCEPT"}, sfn)

    tasks.decide(window, task_id, decision, sfn)  # the same decision again resumes it
    assert tasks.load_task(task_id).resume_failed_at is None
    assert json.loads(sfn.sent[-1]["output"])["decision"] == "NOT_ACCEPTED"
    eventually(lambda: flow.execution()["status"] == "SUCCEEDED")
    assert status_is(flow, "NOT_ACCEPTED")["status"] == "NOT_ACCEPTED"


def test_the_largest_decision_hands_its_step_ids_only(http: Any, token: Any,
                                                      cloud: Any) -> None:
    flow = Flow(http, token, cloud, "largest-decision")
    flow.submit()
    task_id = flow.task(flow.window)["taskId"]
    sfn = FakeStepFunctions(cloud.client("stepfunctions"))
    largest = {"decision": "SUPPLEMENT", "opinion": "意" * tasks.MAX_OPINION,
               "missing": ["缺" * 200] * tasks.MAX_MISSING}
    tasks.decide(Caller("window-largest", WINDOW), task_id, largest, sfn)
    output = sfn.sent[-1]["output"]
    assert json.loads(output) == {"taskId": task_id, "department": "WINDOW",
                                  "decision": "SUPPLEMENT"}
    assert len(output.encode()) < 1024
    # The whole execution's state (its input, every step's result so far) stays far below.
    history = cloud.client("stepfunctions").get_execution_history(
        executionArn=flow.execution()["executionArn"])["events"]
    largest_state = max(len(json.dumps(e, default=str).encode()) for e in history)
    assert largest_state < STATE_LIMIT // 4


def test_a_supplement_whose_resume_failed_is_sent_again(http: Any, token: Any,
                                                        cloud: Any) -> None:
    flow = Flow(http, token, cloud, "supplement-resume-once")
    flow.submit()
    missing = ["site-plan"]
    assert flow.decide(flow.window, "SUPPLEMENT", "请补齐", missing=missing).status_code == 200
    eventually(lambda: status_is(flow, "NEEDS_SUPPLEMENT"))
    owner = Caller(flow.citizen_sub, "applicant", id_number=CITIZEN_ID)
    supply = eventually(lambda: [t for t in tasks.tasks_of(flow.id)
                                 if t.kind == tasks.SUPPLEMENT and t.status == "PENDING"])
    sfn = FakeStepFunctions(cloud.client("stepfunctions"), failures=1)

    with pytest.raises(Unavailable):
        tasks.supplement(owner, flow.id, {}, sfn)
    assert tasks.load_task(supply[-1].task_id).resume_failed_at is not None
    tasks.supplement(owner, flow.id, {}, sfn)  # sent again: the workflow takes it now
    assert tasks.load_task(supply[-1].task_id).resume_failed_at is None
    assert json.loads(sfn.sent[-1]["output"])["decision"] == tasks.SUPPLIED
    # back to pre-review: the window has a new task for the next round
    eventually(lambda: len([t for t in tasks.tasks_of(flow.id)
                            if t.kind == tasks.PRE_REVIEW]) == 2)
