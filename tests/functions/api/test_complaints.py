"""投诉建议 over HTTP on the local cloud: registration routed with a working-day deadline, the
department's return and a supervisor's reroute, acceptance deemed by the timeout check,
extension, resolution and revisit, merging, refusal with a reason code, private content, and
urgency grading; the complaint lifecycle execution follows along."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.aws import timeout_check
from tests.support.data import CITIZEN_ID, NEIGHBOUR_ID
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

FOOD = "GZ-SCJG"  # 广州市市场监督管理局
POLICE = "GZ-GA"


class Desk:
    """The people around complaints, signed in, and what they see."""

    def __init__(self, http: Any, token: Any, cloud: Any, suffix: str) -> None:
        self.http, self.cloud, self.token, self.suffix = http, cloud, token, suffix
        self.citizen = token(f"complainant-{suffix}", "applicant", idNumber=CITIZEN_ID)
        self.neighbour = token(f"neighbour-{suffix}", "applicant", idNumber=NEIGHBOUR_ID)
        self.window = token(f"window-{suffix}", "window")
        self.supervisor = token(f"supervisor-{suffix}", "supervisor")

    def department(self, code: str) -> dict[str, str]:
        return self.token(f"reviewer-{code}-{self.suffix}", "reviewer", dept=code)

    def register(self, headers: dict[str, str] | None = None, **fields: Any) -> Any:
        body = {"category": "COMPLAINT", "channel": "WEB", "subject": "办事排队时间过长",
                "content": "窗口只开了一个，等了两个小时。", "contact": "13800138000",
                "department": FOOD, **fields}
        body = {name: value for name, value in body.items() if value is not None}
        return self.http.post("/complaints", headers=headers or self.citizen,
                              body=json.dumps(body, ensure_ascii=False))

    def registered(self, headers: dict[str, str] | None = None, **fields: Any) -> str:
        answer = self.register(headers, **fields)
        assert answer.status_code == 201, answer.body
        return json.loads(answer.body)["id"]

    def act(self, complaint_id: str, action: str, headers: dict[str, str],
            body: dict[str, Any] | None = None) -> Any:
        return self.http.post(f"/complaints/{complaint_id}/{action}", headers=headers,
                              body=json.dumps(body or {}, ensure_ascii=False))

    def view(self, complaint_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        answer = self.http.get(f"/complaints/{complaint_id}", headers=headers or self.citizen)
        assert answer.status_code == 200, answer.body
        return json.loads(answer.body)

    def due(self, start: str, working_days: int) -> str:
        answer = self.http.get(f"/calendar/due?from={quote(start)}&workingDays={working_days}")
        return json.loads(answer.body)["due"]

    def state(self, complaint_id: str) -> tuple[str, str]:
        """The execution's status and the last state it entered."""
        sfn = self.cloud.client("stepfunctions")
        arn = self.cloud.outputs["ComplaintStateMachineArn"].replace(
            ":stateMachine:", ":execution:") + f":{complaint_id}"
        status = sfn.describe_execution(executionArn=arn)["status"]
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events
                   if e["type"].endswith("StateEntered")]
        return status, entered[-1] if entered else ""

    def reaches(self, complaint_id: str, state: str) -> None:
        eventually(lambda: self.state(complaint_id)[1] == state)


@pytest.fixture
def desk(http: Any, token: Any, cloud: Any, request: Any) -> Desk:
    return Desk(http, token, cloud, request.node.name[-24:])


def events(view: dict[str, Any]) -> list[str]:
    return [entry["event"] for entry in view["history"]]


def test_registered_complaint_is_routed_with_a_working_day_deadline(desk: Desk) -> None:
    answer = desk.register()
    assert answer.status_code == 201, answer.body
    receipt = json.loads(answer.body)
    assert receipt["status"] == "ROUTED"
    assert receipt["department"] == FOOD
    view = desk.view(receipt["id"])
    assert receipt["dueAt"] == view["dueAt"] == desk.due(view["createdAt"], 7)  # 我要投诉: 7
    assert view["dueAt"].endswith("23:59:59+08:00")
    assert (view["category"], view["urgency"], view["extended"]) == ("COMPLAINT", None, False)
    assert events(view) == ["REGISTERED"]
    desk.reaches(receipt["id"], "AwaitAcceptance")
    assert desk.http.get("/complaints/TS2026000000000000", headers=desk.citizen
                         ).status_code == 404
    consult = desk.view(desk.registered(category="CONSULT"))
    assert consult["dueAt"] == desk.due(consult["createdAt"], 3)  # 我要咨询: 3


def test_routing_by_application_by_rules_and_by_default(desk: Desk) -> None:
    from tests.support.data import permit_body

    drafted = desk.http.post("/applications", headers=desk.citizen,
                             body=json.dumps(permit_body()))
    application = json.loads(drafted.body)["id"]
    about = desk.register(department=None, applicationId=application)
    assert json.loads(about.body)["department"] == "GZ-ZRZY"  # the item's lead department
    food = desk.register(department=None, subject="食品经营许可证办理太慢")
    assert json.loads(food.body)["department"] == FOOD  # the routing rules
    other = desk.register(department=None, subject="网站打不开", content="首页一直转圈。")
    assert json.loads(other.body)["department"] == "GZ-ZWFW"  # the rules' default
    unknown = desk.register(department="GZ-NOWHERE")
    assert unknown.status_code == 400
    assert json.loads(unknown.body)["errors"][0]["path"] == "department"
    strangers = desk.register(desk.neighbour, department=None, applicationId=application)
    assert strangers.status_code == 404  # someone else's application


def test_only_window_staff_take_phone_complaints_and_grade_at_once(desk: Desk) -> None:
    assert desk.register(channel="PHONE").status_code == 403
    assert desk.register(urgency="URGENT").status_code == 403  # staff grade the urgency
    phoned = desk.registered(desk.window, channel="PHONE", urgency="GENERAL_URGENT")
    view = desk.view(phoned, desk.window)
    assert (view["urgency"], view["limitDays"]) == ("GENERAL_URGENT", 5)
    assert view["dueAt"] == desk.due(view["createdAt"], 5)
    invalid = desk.register(category="PRAISE", channel="FAX")
    assert invalid.status_code == 400
    assert {e["path"] for e in json.loads(invalid.body)["errors"]} == {"category", "channel"}


def test_returned_then_rerouted_by_a_supervisor(desk: Desk) -> None:
    complaint = desk.registered()
    food, police = desk.department(FOOD), desk.department(POLICE)
    assert desk.act(complaint, "return", food, {}).status_code == 400  # a reason is required
    assert desk.act(complaint, "return", police, {"reason": "不是我们"}).status_code == 404
    returned = desk.act(complaint, "return", food, {"reason": "属于公安部门职责"})
    assert returned.status_code == 200, returned.body
    assert json.loads(returned.body)["status"] == "RETURNED"
    desk.reaches(complaint, "AwaitReroute")
    assert desk.act(complaint, "route", food, {"department": POLICE}).status_code == 403
    rerouted = desk.act(complaint, "route", desk.supervisor, {"department": POLICE})
    assert rerouted.status_code == 200, rerouted.body
    view = json.loads(rerouted.body)
    assert (view["status"], view["department"]) == ("ROUTED", POLICE)
    assert desk.act(complaint, "route", desk.supervisor, {"department": FOOD}
                    ).status_code == 409  # only after a return
    assert desk.act(complaint, "accept", food, {}).status_code == 404  # no longer theirs
    assert desk.act(complaint, "accept", police, {}).status_code == 200
    assert desk.act(complaint, "accept", police, {}).status_code == 409  # once
    desk.reaches(complaint, "AwaitResolution")
    assert events(desk.view(complaint)) == ["REGISTERED", "RETURNED", "REROUTED", "ACCEPTED"]
    queue = json.loads(desk.http.get("/complaints?status=ACCEPTED", headers=police).body)
    assert complaint in [c["id"] for c in queue["complaints"]]
    theirs = json.loads(desk.http.get("/complaints", headers=food).body)["complaints"]
    assert complaint not in [c["id"] for c in theirs]


def test_deemed_accepted_after_one_working_day_then_too_late_to_return(desk: Desk) -> None:
    complaint = desk.registered()
    desk.reaches(complaint, "AwaitAcceptance")
    view = desk.view(complaint)
    later = datetime.fromisoformat(desk.due(view["createdAt"], 2))
    swept = timeout_check(desk.cloud, later)
    assert f"DEEM_COMPLAINT_ACCEPTED:{complaint}" in swept["actions"]
    view = desk.view(complaint)
    assert view["status"] == "ACCEPTED"
    assert view["history"][-1]["event"] == "DEEMED_ACCEPTED"
    assert view["history"][-1]["actor"] == "system"
    late = desk.act(complaint, "return", desk.department(FOOD), {"reason": "不属于本部门"})
    assert late.status_code == 409
    desk.reaches(complaint, "AwaitResolution")  # the sweep completed the waiting step


def test_one_extension_applied_for_and_approved(desk: Desk) -> None:
    food = desk.department(FOOD)
    complaint = desk.registered()
    early = desk.act(complaint, "extend", food, {"workingDays": 3, "reason": "需现场核查"})
    assert early.status_code == 409  # accept it first
    assert desk.act(complaint, "accept", food).status_code == 200
    before = desk.view(complaint)["dueAt"]
    assert desk.act(complaint, "extend", food, {"workingDays": 8, "reason": "太复杂"}
                    ).status_code == 422  # more than the 7-day limit
    missing = desk.act(complaint, "extend", food, {"workingDays": 3})
    assert json.loads(missing.body)["errors"][0]["path"] == "reason"
    asked = desk.act(complaint, "extend", food, {"workingDays": 7, "reason": "需现场核查"})
    assert asked.status_code == 200, asked.body
    view = json.loads(asked.body)  # applied for: a supervisor decides (art. 32 (五))
    assert (view["extended"], view["extension"]["status"], view["dueAt"]) == (
        False, "REQUESTED", before)
    assert desk.act(complaint, "extension", food, {"approve": True}).status_code == 403
    approved = desk.act(complaint, "extension", desk.supervisor, {"approve": True})
    assert approved.status_code == 200, approved.body
    view = json.loads(approved.body)
    assert (view["extended"], view["extension"]["status"]) == (True, "APPROVED")
    assert view["dueAt"] == desk.due(before, 7)
    again = desk.act(complaint, "extend", food, {"workingDays": 1, "reason": "再延一天"})
    assert again.status_code == 409
    assert json.loads(again.body)["code"] == "CONFLICT"


def test_resolved_then_revisited_and_closed(desk: Desk) -> None:
    food = desk.department(FOOD)
    complaint = desk.registered()
    assert desk.act(complaint, "resolve", food, {"result": "已增开窗口"}).status_code == 409
    assert desk.act(complaint, "accept", food).status_code == 200
    assert desk.act(complaint, "revisit", desk.citizen, {"satisfied": True}).status_code == 409
    resolved = desk.act(complaint, "resolve", food, {"result": "已增开两个窗口，高峰期限时取号"})
    assert json.loads(resolved.body)["status"] == "RESOLVED"
    desk.reaches(complaint, "AwaitRevisit")
    assert desk.act(complaint, "revisit", desk.neighbour, {"satisfied": False}
                    ).status_code == 404  # only the complainant answers
    assert desk.act(complaint, "revisit", desk.citizen, {"satisfied": "yes"}).status_code == 400
    closed = desk.act(complaint, "revisit", desk.citizen, {"satisfied": True, "comment": "满意"})
    assert closed.status_code == 200, closed.body
    view = json.loads(closed.body)
    assert view["status"] == "CLOSED"
    assert view["revisit"] == {"satisfied": True, "comment": "满意"}
    assert view["resolution"]["result"] == "已增开两个窗口，高峰期限时取号"
    assert events(view) == ["REGISTERED", "ACCEPTED", "RESOLVED", "REVISITED"]
    eventually(lambda: desk.state(complaint) == ("SUCCEEDED", "Closed"))


def test_the_same_matter_is_merged_into_one(desk: Desk) -> None:
    kept = desk.registered(desk.window, channel="PHONE")
    merged = desk.registered()
    assert desk.act(merged, "merge", desk.department(FOOD), {"intoId": kept}
                    ).status_code == 403
    assert desk.act(merged, "merge", desk.supervisor, {"intoId": merged}).status_code == 422
    assert desk.act(merged, "merge", desk.supervisor, {}).status_code == 400
    answer = desk.act(merged, "merge", desk.supervisor, {"intoId": kept})
    assert answer.status_code == 200, answer.body
    mine = desk.view(merged)  # the complainant sees where it went
    assert (mine["status"], mine["mergedInto"]) == ("MERGED", kept)
    assert desk.view(kept, desk.window)["mergedIds"] == [merged]
    assert desk.act(merged, "merge", desk.supervisor, {"intoId": kept}).status_code == 409
    eventually(lambda: desk.state(merged) == ("SUCCEEDED", "Merged"))


def test_refused_with_a_reason_code(desk: Desk) -> None:
    complaint = desk.registered()
    wrong = desk.act(complaint, "reject", desk.supervisor, {"reasonCode": "BORING"})
    assert wrong.status_code == 400
    assert [e["path"] for e in json.loads(wrong.body)["errors"]] == ["reasonCode"]
    assert desk.act(complaint, "reject", desk.department(FOOD),
                    {"reasonCode": "ABUSE"}).status_code == 403
    refused = desk.act(complaint, "reject", desk.supervisor,
                       {"reasonCode": "OTHER_PROCEDURE", "detail": "属于行政复议事项"})
    assert refused.status_code == 200, refused.body
    view = json.loads(refused.body)
    assert view["status"] == "NOT_ACCEPTED"
    assert view["rejection"]["reasonCode"] == "OTHER_PROCEDURE"
    assert desk.act(complaint, "reject", desk.supervisor, {"reasonCode": "ABUSE"}
                    ).status_code == 409
    eventually(lambda: desk.state(complaint) == ("SUCCEEDED", "NotAccepted"))


def test_a_complaint_is_shown_only_to_those_handling_it(desk: Desk) -> None:
    complaint = desk.registered(private=True, content="涉及我公司的投标报价")
    for who in (desk.citizen, desk.department(FOOD), desk.supervisor):
        view = desk.view(complaint, who)
        assert view["content"] == "涉及我公司的投标报价"
        assert view["contact"] == "13800138000"
        assert view["withheld"] == []
    admin = desk.token(f"admin-{desk.suffix}", "admin")
    other_window = desk.token(f"window-other-{desk.suffix}", "window")
    public = desk.registered(content="排队两小时")
    for shown in (complaint, public):
        # Anyone else is told there is no such complaint, exactly as for an unknown id.
        for who in (desk.department(POLICE), desk.neighbour, admin, other_window):
            answer = desk.http.get(f"/complaints/{shown}", headers=who)
            unknown = desk.http.get("/complaints/TS2026000000000000", headers=who)
            assert answer.status_code == unknown.status_code == 404, answer.body
            assert json.loads(answer.body)["code"] == json.loads(unknown.body)["code"]


def test_grading_the_urgency_sets_the_limit(desk: Desk) -> None:
    complaint = desk.registered()
    assert desk.act(complaint, "urgency", desk.citizen, {"urgency": "URGENT"}).status_code == 403
    assert desk.act(complaint, "urgency", desk.supervisor, {"urgency": "SOON"}
                    ).status_code == 400
    urgent = json.loads(desk.act(complaint, "urgency", desk.supervisor,
                                 {"urgency": "URGENT"}).body)
    assert (urgent["urgency"], urgent["limitDays"]) == ("URGENT", 3)
    assert urgent["dueAt"] == desk.due(urgent["createdAt"], 3)
    normal = json.loads(desk.act(complaint, "urgency", desk.supervisor,
                                 {"urgency": "NORMAL"}).body)
    # 普通 is 15 working days, but a grading never lengthens the complaint's own 7.
    assert (normal["urgency"], normal["limitDays"]) == ("NORMAL", 7)
    assert normal["dueAt"] == desk.due(normal["createdAt"], 7)
    from yiwang.deadlines import clocks

    handling = clocks.get(f"COMPLAINT#{complaint}", "HANDLING")
    assert handling.deadline.astimezone(
        datetime.fromisoformat(normal["dueAt"]).tzinfo).isoformat() == normal["dueAt"]


def test_unsatisfied_twice_goes_to_the_supervisors(desk: Desk) -> None:
    food = desk.department(FOOD)
    complaint = desk.registered()
    assert desk.act(complaint, "accept", food).status_code == 200
    assert desk.act(complaint, "resolve", food, {"result": "已增开窗口"}).status_code == 200
    reopened = json.loads(desk.act(complaint, "revisit", desk.citizen,
                                   {"satisfied": False, "comment": "仍要排队"}).body)
    assert (reopened["status"], reopened["reopened"]) == ("ACCEPTED", 1)
    desk.reaches(complaint, "AwaitResolution")
    assert desk.act(complaint, "resolve", food, {"result": "增开三个窗口"}).status_code == 200
    desk.reaches(complaint, "AwaitRevisit")
    escalated = json.loads(desk.act(complaint, "revisit", desk.citizen,
                                    {"satisfied": False}).body)
    assert escalated["status"] == "ESCALATED"
    desk.reaches(complaint, "AwaitConclusion")
    assert desk.act(complaint, "conclude", food, {"conclusion": "x"}).status_code == 403
    closed = desk.act(complaint, "conclude", desk.supervisor, {"conclusion": "督促增设取号机"})
    assert json.loads(closed.body)["status"] == "CLOSED", closed.body
    eventually(lambda: desk.state(complaint) == ("SUCCEEDED", "Closed"))


def test_an_invalid_complaint(desk: Desk) -> None:
    food = desk.department(FOOD)
    complaint = desk.registered()
    assert desk.act(complaint, "accept", food).status_code == 200
    wrong = desk.act(complaint, "invalid", food, {"reasonCode": "BORING", "reason": "x"})
    assert [e["path"] for e in json.loads(wrong.body)["errors"]] == ["reasonCode"]
    assert desk.act(complaint, "invalid", desk.supervisor,
                    {"reasonCode": "UNFOUNDED", "reason": "x"}).status_code == 403
    invalid = desk.act(complaint, "invalid", food,
                       {"reasonCode": "UNVERIFIABLE", "reason": "投诉人无法联系，无法核实"})
    view = json.loads(invalid.body)
    assert (view["status"], view["invalidation"]["reasonCode"]) == ("INVALID", "UNVERIFIABLE")
    eventually(lambda: desk.state(complaint) == ("SUCCEEDED", "Invalid"))
