"""经办人与转交 over HTTP on the local cloud (docs/rules.md §17): in a department whose tasks
have handlers, a handler sees and decides only their own task; the head sees all, reassigns
with a reason (the task keeps its deadline) and never decides; two claims at once, one wins;
a BY_STAGE department's task goes to its stage's handler as it opens; and a department left in
the default mode works as before."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from stdnum.cn import uscc

from tests.support.data import CITIZEN_ID
from tests.support.handlers import Department
from tests.support.journeys import ItemFlow
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def events(flow: ItemFlow, kind: str) -> list[dict[str, Any]]:
    """The application's timeline entries of `kind`, as its applicant sees them."""
    return [e for e in flow.view()["timeline"] if e["event"] == kind]


def test_a_handler_sees_and_decides_their_own_task_only(
        http: Any, token: Any, cloud: Any) -> None:
    dept = Department(http, token, "OWN_TASKS")
    flow = dept.in_review(cloud)
    waiting = eventually(lambda: dept.task_of("a", flow))
    assert waiting["handler"] is None
    assert dept.task_of("b", flow) is not None  # waiting to be claimed: every handler sees it
    refused = dept.decide("a", waiting["taskId"])
    assert refused.status_code == 409 and "claim" in json.loads(refused.body)["detail"]

    claimed = dept.post("a", f"/tasks/{waiting['taskId']}/claim")
    assert claimed.status_code == 200, claimed.body
    assert json.loads(claimed.body)["handler"] == dept.subs["a"]
    assert dept.task_of("a", flow)["handler"] == dept.subs["a"]

    # The colleague: gone from their list, and 404 to claim or decide, as an unknown task.
    assert dept.task_of("b", flow) is None
    for path in (f"/tasks/{waiting['taskId']}/claim", f"/tasks/{waiting['taskId']}/decision"):
        answer = dept.post("b", path, {"decision": "APPROVE", "opinion": "同意"}
                           if path.endswith("decision") else None)
        assert answer.status_code == 404, (path, answer.body)

    assert dept.decide("a", waiting["taskId"]).status_code == 200
    [audit] = events(flow, "TASK_CLAIMED")
    assert audit["actor"] == dept.subs["a"]
    assert (audit["detail"]["from"], audit["detail"]["to"]) == (None, dept.subs["a"])


def review_clock(flow: ItemFlow, department: str, cloud_env: dict[str, str]
                 ) -> tuple[Any, ...]:
    """The department's 审批 clock of the application: when it started, its deadline, status."""
    from tests.support.environment import environment
    from yiwang.applications.records import ApplicationRecord
    from yiwang.deadlines.clocks import ClockRecord

    with environment(cloud_env):
        clock = ClockRecord.get(ApplicationRecord.key(flow.id), f"CLOCK#REVIEW#{department}")
    return clock.started_at, clock.deadline, clock.status


def test_the_head_reassigns_with_a_reason_keeping_the_deadline_but_never_decides(
        http: Any, token: Any, cloud: Any, cloud_env: dict[str, str]) -> None:
    dept = Department(http, token, "OWN_TASKS")
    flow = dept.in_review(cloud)
    task = eventually(lambda: dept.task_of("head", flow))
    task_id, due = task["taskId"], task["dueAt"]
    clock = review_clock(flow, dept.code, cloud_env)
    assert dept.post("head", f"/tasks/{task_id}/claim").status_code == 404
    assert dept.post("a", f"/tasks/{task_id}/reassign",
                     {"handler": dept.subs["b"], "reason": "调岗"}).status_code == 404

    given = dept.post("head", f"/tasks/{task_id}/reassign",
                      {"handler": dept.subs["a"], "reason": "按分工交经办人甲办理"})
    assert given.status_code == 200, given.body
    assert dept.decide("head", task_id).status_code == 404  # not in the handler's place
    to_self = dept.post("head", f"/tasks/{task_id}/reassign",
                        {"handler": dept.subs["head"], "reason": "自己办"})
    assert to_self.status_code == 400, to_self.body
    blank = dept.post("head", f"/tasks/{task_id}/reassign",
                      {"handler": dept.subs["b"], "reason": "  "})
    assert blank.status_code == 400, blank.body

    moved = dept.post("head", f"/tasks/{task_id}/reassign",
                      {"handler": dept.subs["b"], "reason": "经办人甲休假，转交乙"})
    assert moved.status_code == 200, moved.body
    after = json.loads(moved.body)
    assert (after["taskId"], after["dueAt"], after["handler"]) == (task_id, due,
                                                                  dept.subs["b"])
    assert dept.task_of("a", flow) is None
    assert dept.task_of("b", flow)["dueAt"] == due
    assert review_clock(flow, dept.code, cloud_env) == clock  # the same clock, still running
    assert [t["taskId"] for t in dept.tasks("head", f"&handler={dept.subs['b']}")
            if t["applicationId"] == flow.id] == [task_id]
    assert not [t for t in dept.tasks("head", f"&handler={dept.subs['a']}")
                if t["applicationId"] == flow.id]
    assert dept.decide("a", task_id).status_code == 404
    assert dept.decide("head", task_id).status_code == 404

    assert dept.decide("b", task_id).status_code == 200
    [assigned] = events(flow, "TASK_ASSIGNED")
    [reassigned] = events(flow, "TASK_REASSIGNED")
    assert assigned["actor"] == reassigned["actor"] == dept.subs["head"]
    assert {k: reassigned["detail"][k] for k in ("taskId", "from", "to", "reason")} == {
        "taskId": task_id, "from": dept.subs["a"], "to": dept.subs["b"],
        "reason": "经办人甲休假，转交乙"}
    late = dept.post("head", f"/tasks/{task_id}/reassign",
                     {"handler": dept.subs["a"], "reason": "再转"})
    assert late.status_code == 409, late.body


def test_two_claims_at_once_one_wins_the_other_conflicts(
        http: Any, token: Any, cloud: Any, cloud_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.environment import environment
    from yiwang.applications import handlers
    from yiwang.people.access import REVIEWER, Caller
    from yiwang.platform.errors import Conflict

    dept = Department(http, token, "OWN_TASKS")
    flow = dept.in_review(cloud)
    task_id = eventually(lambda: dept.task_of("a", flow))["taskId"]
    # Both read the task unclaimed before either writes: the conditional write decides.
    both_read = threading.Barrier(2, timeout=30)
    read = handlers.load_with_handling

    def read_then_wait(identifier: str) -> Any:
        found = read(identifier)
        if found[0].handler is None:
            both_read.wait()
        return found

    monkeypatch.setattr(handlers, "load_with_handling", read_then_wait)
    outcomes: dict[str, str] = {}

    def claim(name: str) -> None:
        with environment(cloud_env):
            try:
                handlers.claim(Caller(dept.subs[name], REVIEWER, dept=dept.code), task_id)
                outcomes[name] = "claimed"
            except Conflict:
                outcomes[name] = "conflict"

    threads = [threading.Thread(target=claim, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes.values()) == ["claimed", "conflict"], outcomes
    winner = next(name for name, outcome in outcomes.items() if outcome == "claimed")
    assert dept.task_of(winner, flow)["handler"] == dept.subs[winner]
    assert len(events(flow, "TASK_CLAIMED")) == 1


def test_by_stage_the_stage_handler_gets_the_task_as_it_opens(
        http: Any, token: Any, cloud: Any) -> None:
    stage_handler = f"stage-{uuid.uuid4().hex[:6]}"
    dept = Department(http, token, "BY_STAGE", stageHandlers={"REVIEW": stage_handler})
    dept.staff["stage"] = dept.reviewer(stage_handler, "HANDLER")
    flow = dept.in_review(cloud)
    task = eventually(lambda: dept.task_of("stage", flow))
    assert task["handler"] == stage_handler
    assert dept.task_of("a", flow) is None
    assert dept.task_of("head", flow)["handler"] == stage_handler
    assert dept.post("a", f"/tasks/{task['taskId']}/claim").status_code == 404
    [assigned] = events(flow, "TASK_ASSIGNED")
    assert (assigned["actor"], assigned["detail"]["to"]) == ("system", stage_handler)
    assert dept.decide("stage", task["taskId"]).status_code == 200


def test_the_default_mode_lets_every_reviewer_of_the_department_decide(
        http: Any, token: Any, cloud: Any) -> None:
    dept = Department(http, token, "DEPARTMENT")
    flow = dept.in_review(cloud)
    task = eventually(lambda: dept.task_of("a", flow))
    assert task["handler"] is None and dept.task_of("b", flow) is not None
    assert dept.post("a", f"/tasks/{task['taskId']}/claim").status_code == 409
    assert dept.decide("b", task["taskId"]).status_code == 200


def test_the_department_setting_and_the_position_claim_are_checked(
        http: Any, token: Any) -> None:
    admin = token("admin-handlers", "admin")
    code = f"GZ-H{uuid.uuid4().hex[:8].upper()}"
    first = "11440100MB2H" + uuid.uuid4().hex[:5].upper()
    body = {"name": "经办人测试局", "creditCode": first + uscc.calc_check_digit(first)}
    bad = http.put(f"/departments/{code}", headers=admin, body=json.dumps(
        {**body, "handlerMode": "ANYONE", "stageHandlers": {"PAYMENT": "x"}}))
    assert bad.status_code == 400, bad.body
    assert {e["path"] for e in json.loads(bad.body)["errors"]} >= {"handlerMode",
                                                                  "stageHandlers"}
    made = http.put(f"/departments/{code}", headers=admin, body=json.dumps(body))
    assert json.loads(made.body)["handlerMode"] == "DEPARTMENT"

    def dev_token(**claims: str) -> Any:
        return http.post("/dev/token", headers={"Content-Type": "application/json"},
                         body=json.dumps(claims))

    assert dev_token(sub="x", role="reviewer", dept=code, position="BOSS").status_code == 400
    assert dev_token(sub="x", role="applicant", idNumber=CITIZEN_ID,
                     position="HEAD").status_code == 400
    me = http.get("/me", headers=token("head-me", "reviewer", dept=code, position="HEAD"))
    assert json.loads(me.body)["position"] == "HEAD"
