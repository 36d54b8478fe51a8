"""事项管理 over the API on the local cloud: a department drafts its items and submits them, the
reform office (审改部门, administrators) returns them with reasons or publishes them; a
published version never changes and applications keep the version they were made under; the
office suspends, resumes and abolishes items from an effective date (new applications refused,
running ones go on); item kinds and who may touch whose items."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.journey import simple_item
from tests.support.data import CITIZEN_ID
from tests.support.journeys import ItemFlow, status_is

pytestmark = pytest.mark.integration

DEPARTMENT = "GZ-GA"  # 公安: the department that drafts its items here
OTHER = "GZ-ZRZY"  # 规划: a department with no part in them


def body(answer: Any) -> Any:
    return json.loads(answer.body)


def send(http: Any, method: str, path: str, headers: dict[str, str],
         payload: Any = None) -> Any:
    data = json.dumps(payload, ensure_ascii=False) if payload is not None else None
    return getattr(http, method)(path, headers=headers, **({"body": data} if data else {}))


def new_code() -> str:
    return f"GOV{uuid.uuid4().hex[:8].upper()}-GG-0101"


def problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.body
    found = body(answer)
    assert found["code"] == code, found
    return found


def draft_body(code: str) -> dict[str, Any]:
    return {"itemCode": code,
            "applicant": {"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                          "phone": "13812345678"},
            "form": {"address": "广州市天河区华夏路16号"}, "delivery": {"method": "PICKUP"}}


def shanghai_today() -> str:
    from yiwang.catalogue.standing import today

    return today().isoformat()


@pytest.fixture
def office(token: Any) -> dict[str, str]:
    return token("reform-office-1", "admin")


@pytest.fixture
def department(token: Any) -> dict[str, str]:
    return token("ga-reviewer-1", "reviewer", dept=DEPARTMENT)


def published(http: Any, office: dict[str, str], **changes: Any) -> str:
    """A simple item of DEPARTMENT, published by the office; its code."""
    code = new_code()
    created = send(http, "post", "/items", office, {**simple_item(code, DEPARTMENT), **changes})
    assert created.status_code == 201, created.body
    assert send(http, "post", f"/items/{code}/publish", office).status_code == 200
    return code


def queued(http: Any, headers: dict[str, str], query: str = "") -> dict[str, str]:
    """`GET /item-reviews`: code → status of the latest version."""
    answer = send(http, "get", f"/item-reviews{query}", headers)
    assert answer.status_code == 200, answer.body
    return {i["code"]: i["status"] for i in body(answer)["items"]}


def change(http: Any, office: dict[str, str], code: str, kind: str, effective: str,
           reason: str = "系统升级") -> Any:
    return send(http, "post", f"/items/{code}/standing", office,
                {"change": kind, "effectiveDate": effective, "reason": reason})


def flow_for(http: Any, token: Any, cloud: Any, code: str) -> ItemFlow:
    return ItemFlow(http, token, cloud, f"gov-{uuid.uuid4().hex[:6]}", draft_body(code),
                    [DEPARTMENT])


def carry_on(flow: ItemFlow) -> dict[str, Any]:
    """Accept, approve and hand over a submitted application; its view once ready."""
    assert flow.decide(flow.window, "ACCEPT", "材料齐全，予以受理").status_code == 200
    assert flow.decide(flow.reviewers[DEPARTMENT], "APPROVE", "同意").status_code == 200
    return status_is(flow, "READY_FOR_PICKUP", "AWAITING_PAYMENT")


# --- drafting and review --------------------------------------------------------------------


def test_a_department_drafts_the_office_returns_it_and_publishes_the_resubmission(
        http: Any, token: Any, office: dict[str, str], department: dict[str, str]) -> None:
    code = new_code()
    document = simple_item(code, DEPARTMENT)
    created = send(http, "post", "/items", department, document)
    assert created.status_code == 201, created.body
    assert (body(created)["version"], body(created)["status"]) == (1, "DRAFT")
    problem(send(http, "get", f"/items/{code}", department), 404, "NOT_FOUND")  # not public

    # The office publishes only what the department submitted.
    problem(send(http, "post", f"/items/{code}/versions/1/publish", office), 409, "CONFLICT")
    problem(send(http, "post", f"/items/{code}/publish", office), 409, "CONFLICT")
    submitted = send(http, "post", f"/items/{code}/versions/1/submit", department)
    assert body(submitted)["status"] == "SUBMITTED", submitted.body
    # It is in the office's review queue, and in its department's list, not in another's.
    assert queued(http, office, "?status=SUBMITTED")[code] == "SUBMITTED"
    assert queued(http, department)[code] == "SUBMITTED"
    other = token("zrzy-reviewer-2", "reviewer", dept=OTHER)
    assert code not in queued(http, other, f"?department={DEPARTMENT}")
    # While it is under review the department drafts nothing more.
    problem(send(http, "put", f"/items/{code}", department, document), 409, "CONFLICT")

    reasons = ["法律依据应写明条款", "材料名称与办事指南不一致"]
    returned = send(http, "post", f"/items/{code}/versions/1/return", office,
                    {"reasons": reasons})
    assert body(returned)["status"] == "RETURNED", returned.body
    seen = body(send(http, "get", f"/items/{code}/versions/1", department))
    assert (seen["status"], seen["review"]["returnReasons"]) == ("RETURNED", reasons)
    assert queued(http, department, "?status=RETURNED")[code] == "RETURNED"
    assert seen["review"]["origin"] == "DEPARTMENT"
    # A returned version is changed (a new draft), not submitted again as it was.
    problem(send(http, "post", f"/items/{code}/versions/1/submit", department), 409, "CONFLICT")
    changed = {**document, "legalBasis": "《居住证暂行条例》第九条"}
    redrafted = send(http, "put", f"/items/{code}", department, changed)
    assert (body(redrafted)["version"], body(redrafted)["status"]) == (2, "DRAFT")
    assert body(send(http, "post", f"/items/{code}/versions/2/submit",
                     department))["status"] == "SUBMITTED"
    # Only the latest version is published; then the item is public.
    problem(send(http, "post", f"/items/{code}/versions/1/publish", office), 409, "CONFLICT")
    done = send(http, "post", f"/items/{code}/versions/2/publish", office)
    assert (body(done)["version"], body(done)["status"]) == (2, "PUBLISHED"), done.body
    assert code not in queued(http, office)  # published: no longer in progress
    public = body(http.get(f"/items/{code}"))
    assert (public["version"], public["legalBasis"], public["standing"]) == (
        2, "《居住证暂行条例》第九条", "ACTIVE")

    trail = body(send(http, "get", f"/items/{code}/audit", department))["history"]
    assert [(e["event"], e["actor"], e["from"], e["to"]) for e in trail] == [
        ("ITEM_DRAFT_CREATED", "ga-reviewer-1", None, "DRAFT"),
        ("ITEM_SUBMITTED", "ga-reviewer-1", "DRAFT", "SUBMITTED"),
        ("ITEM_RETURNED", "reform-office-1", "SUBMITTED", "RETURNED"),
        ("ITEM_VERSION_DRAFTED", "ga-reviewer-1", None, "DRAFT"),
        ("ITEM_SUBMITTED", "ga-reviewer-1", "DRAFT", "SUBMITTED"),
        ("ITEM_PUBLISHED", "reform-office-1", "SUBMITTED", "PUBLISHED"),
    ]
    assert trail[2]["detail"]["reasons"] == reasons
    assert body(send(http, "get", f"/items/{code}/audit", office))["history"] == trail


def test_the_department_is_told_of_its_items_review_and_standing(
        http: Any, token: Any, office: dict[str, str], department: dict[str, str]) -> None:
    from tests.support.polling import eventually

    code = new_code()
    document = simple_item(code, DEPARTMENT)
    assert send(http, "post", "/items", department, document).status_code == 201
    assert send(http, "post", f"/items/{code}/versions/1/submit", department).status_code == 200
    reasons = ["法律依据应写明条款", "材料名称与办事指南不一致"]
    assert send(http, "post", f"/items/{code}/versions/1/return", office,
                {"reasons": reasons}).status_code == 200
    assert send(http, "put", f"/items/{code}", department,
                {**document, "legalBasis": "《居住证暂行条例》第九条"}).status_code == 201
    assert send(http, "post", f"/items/{code}/versions/2/submit", department).status_code == 200
    assert send(http, "post", f"/items/{code}/versions/2/publish", office).status_code == 200
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert change(http, office, code, "SUSPEND", tomorrow, "系统升级").status_code == 200

    def told(headers: dict[str, str]) -> list[dict[str, Any]]:
        page = body(http.get("/me/notices?limit=100", headers=headers))
        return [n for n in page["notices"] if code in n["title"]]

    # Any reviewer of the department reads the department's notices, newest first.
    colleague = token("ga-reviewer-2", "reviewer", dept=DEPARTMENT)
    notices = eventually(lambda: len(found := told(colleague)) >= 3 and found, timeout=60,
                         what="the department's three notices")
    assert [n["kind"] for n in notices] == ["ITEM_SUSPENDED", "ITEM_PUBLISHED", "ITEM_RETURNED"]
    suspended, published_, returned = notices
    assert "；".join(reasons) in returned["body"] and "第 1 版" in returned["title"]
    assert "第 2 版" in published_["title"]
    assert tomorrow in suspended["title"] and "系统升级" in suspended["body"]
    assert told(department) == notices
    # Read by one of them, read for the department; another department is told nothing.
    assert http.post(f"/me/notices/{returned['noticeId']}/read",
                     headers=department).status_code == 200
    assert [n["read"] for n in told(colleague)] == [False, False, True]
    assert told(token("zrzy-reviewer-3", "reviewer", dept=OTHER)) == []


def test_a_department_drafts_only_its_own_items(http: Any, token: Any, office: dict[str, str],
                                                department: dict[str, str]) -> None:
    other = token("zrzy-reviewer-1", "reviewer", dept=OTHER)
    code = published(http, office)
    # Someone else's item is as unknown to a department as an item that does not exist.
    for path, method, payload in ((f"/items/{code}", "put", simple_item(code, DEPARTMENT)),
                                  (f"/items/{code}/versions/1", "get", None),
                                  (f"/items/{code}/versions/1/submit", "post", None),
                                  (f"/items/{code}/audit", "get", None)):
        problem(send(http, method, path, other, payload), 404, "NOT_FOUND")
        unknown = path.replace(code, new_code())
        problem(send(http, method, unknown, other, payload), 404, "NOT_FOUND")
    # Nor does it create an item for another department, or hand its own to another.
    refused = problem(send(http, "post", "/items", other, simple_item(new_code(), DEPARTMENT)),
                      400, "VALIDATION_FAILED")
    assert [e["path"] for e in refused["errors"]] == ["leadDepartment"]
    handed = problem(send(http, "put", f"/items/{code}", department,
                          simple_item(code, OTHER)), 400, "VALIDATION_FAILED")
    assert [e["path"] for e in handed["errors"]] == ["leadDepartment"]
    # Reviewing and standing are the office's alone.
    for path, payload in ((f"/items/{code}/versions/1/publish", None),
                          (f"/items/{code}/versions/1/return", {"reasons": ["x"]}),
                          (f"/items/{code}/standing", {"change": "SUSPEND",
                                                       "effectiveDate": shanghai_today(),
                                                       "reason": "x"})):
        problem(send(http, "post", path, department, payload), 403, "FORBIDDEN")
    applicant = token("gov-applicant", "applicant", idNumber=CITIZEN_ID)
    problem(send(http, "get", f"/items/{code}/audit", applicant), 403, "FORBIDDEN")


def test_a_published_version_never_changes(http: Any, office: dict[str, str],
                                           department: dict[str, str]) -> None:
    code = published(http, office)
    first = body(http.get(f"/items/{code}?version=1"))
    redrafted = send(http, "put", f"/items/{code}", department,
                     {**simple_item(code, DEPARTMENT), "feeFen": 1000, "promisedDays": 3})
    assert body(redrafted)["version"] == 2
    assert send(http, "post", f"/items/{code}/versions/2/submit", department).status_code == 200
    assert send(http, "post", f"/items/{code}/versions/2/publish", office).status_code == 200
    # Nothing reaches version 1 any more: no review, no return, no second publication.
    for verb, payload in (("submit", None), ("return", {"reasons": ["改"]}), ("publish", None)):
        path = f"/items/{code}/versions/1/{verb}"
        who = department if verb == "submit" else office
        problem(send(http, "post", path, who, payload), 409, "CONFLICT")
    problem(send(http, "post", f"/items/{code}/versions/2/return", office, {"reasons": ["改"]}),
            409, "CONFLICT")  # published: no longer returned
    assert body(http.get(f"/items/{code}?version=1")) == first
    assert (first["feeFen"], first["promisedDays"]) == (0, 5)
    assert body(http.get(f"/items/{code}"))["feeFen"] == 1000


def test_an_application_is_decided_under_the_version_it_was_made_under(
        http: Any, token: Any, cloud: Any, office: dict[str, str]) -> None:
    code = published(http, office)  # v1: no fee, five promised days
    flow = flow_for(http, token, cloud, code)
    drafted_v2 = send(http, "put", f"/items/{code}", office,
                      {**simple_item(code, DEPARTMENT), "feeFen": 2000, "promisedDays": 3})
    assert drafted_v2.status_code == 201
    assert send(http, "post", f"/items/{code}/publish", office).status_code == 200
    flow.submit()
    view = carry_on(flow)
    # Decided under v1: no fee to pay (v2 asks 20 yuan), v1's five promised days.
    assert (view["itemVersion"], view["status"]) == (1, "READY_FOR_PICKUP")
    assert view["promise"]["promisedDays"] == 5


# --- kinds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "refused"), [
    ({"kind": "JOINT", "coDepartments": []}, ["coDepartments"]),
    ({"kind": "JOINT", "coDepartments": ["GZ-XF"]}, None),
    ({"kind": "INSTANT", "promisedDays": 0, "statutoryDays": 0, "coDepartments": ["GZ-XF"]},
     ["coDepartments"]),
    ({"kind": "INSTANT", "promisedDays": 0, "statutoryDays": 0}, None),
    ({"kind": "PROMISED", "coDepartments": ["GZ-XF"]}, None),
])
def test_kind_rules(http: Any, office: dict[str, str], changes: dict[str, Any],
                    refused: list[str] | None) -> None:
    code = new_code()
    answer = send(http, "post", "/items", office, {**simple_item(code, DEPARTMENT), **changes})
    if refused is None:
        assert answer.status_code == 201, answer.body
        assert body(answer)["kind"] == changes["kind"]
    else:
        assert [e["path"] for e in problem(answer, 400, "VALIDATION_FAILED")["errors"]] == refused


def test_a_joint_item_is_reviewed_by_each_of_its_departments(
        http: Any, token: Any, cloud: Any, office: dict[str, str]) -> None:
    code = published(http, office, kind="JOINT", coDepartments=["GZ-XF"])
    flow = ItemFlow(http, token, cloud, f"gov-{uuid.uuid4().hex[:6]}", draft_body(code),
                    [DEPARTMENT, "GZ-XF"])
    flow.submit()
    refused = flow.decide(flow.window, "DECIDE_ON_THE_SPOT", "当场办结")
    problem(refused, 422, "UNPROCESSABLE")  # 联办件: never decided on the spot
    assert flow.decide(flow.window, "ACCEPT", "材料齐全，予以受理").status_code == 200
    assert flow.decide(flow.reviewers[DEPARTMENT], "APPROVE", "同意").status_code == 200
    assert flow.view()["status"] != "READY_FOR_PICKUP"  # the co-department has not decided
    assert flow.decide(flow.reviewers["GZ-XF"], "APPROVE", "同意").status_code == 200
    view = status_is(flow, "READY_FOR_PICKUP")
    assert sorted(t["department"] for t in view["tasks"] if t["kind"] == "REVIEW") == sorted(
        [DEPARTMENT, "GZ-XF"])


# --- standing -------------------------------------------------------------------------------


def test_a_suspension_stops_new_applications_from_its_date_and_running_ones_go_on(
        http: Any, token: Any, cloud: Any, office: dict[str, str]) -> None:
    from yiwang.applications.lifecycle import submit
    from yiwang.catalogue.governance import open_item
    from yiwang.catalogue.standing import ItemSuspended, today
    from yiwang.people.access import Caller

    code = published(http, office)
    running = flow_for(http, token, cloud, code)
    running.submit()
    waiting = flow_for(http, token, cloud, code)  # a draft, not yet submitted

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    scheduled = change(http, office, code, "SUSPEND", today(tomorrow).isoformat())
    assert scheduled.status_code == 200, scheduled.body
    assert body(scheduled)["standing"] == "ACTIVE"  # not yet
    assert [c["standing"] for c in body(scheduled)["standingChanges"]] == ["SUSPENDED"]
    # Today the item still takes applications; from tomorrow it does not, nor their submission.
    assert send(http, "post", "/applications", waiting.citizen,
                draft_body(code)).status_code == 201
    with pytest.raises(ItemSuspended):
        open_item(code, tomorrow)
    citizen = Caller(waiting.citizen_sub, "applicant", id_number=CITIZEN_ID)
    with pytest.raises(ItemSuspended):
        submit(citizen, waiting.id, cloud.client("stepfunctions"),
               cloud.outputs["LifecycleStateMachineArn"], tomorrow)
    assert waiting.view()["status"] == "DRAFT"
    # One scheduled change at a time; never a date in the past.
    problem(change(http, office, code, "ABOLISH", today(tomorrow).isoformat()), 409, "CONFLICT")
    yesterday = today(datetime.now(UTC) - timedelta(days=1)).isoformat()
    refused = problem(change(http, office, published(http, office), "SUSPEND", yesterday),
                      400, "VALIDATION_FAILED")
    assert [e["path"] for e in refused["errors"]] == ["effectiveDate"]

    # Suspended from today: refused at once, in the list as suspended.
    now_code = published(http, office)
    now_running = flow_for(http, token, cloud, now_code)
    now_running.submit()
    now_waiting = flow_for(http, token, cloud, now_code)
    assert change(http, office, now_code, "SUSPEND", shanghai_today()).status_code == 200
    problem(send(http, "post", "/applications", now_waiting.citizen, draft_body(now_code)),
            422, "ITEM_SUSPENDED")
    problem(send(http, "post", f"/applications/{now_waiting.id}/submit", now_waiting.citizen),
            422, "ITEM_SUSPENDED")
    listed = next(i for i in body(http.get(f"/items?department={DEPARTMENT}"))["items"]
                  if i["code"] == now_code)
    assert listed["standing"] == "SUSPENDED"
    assert body(http.get(f"/items/{now_code}"))["standing"] == "SUSPENDED"
    # The application submitted before goes on to its end, under its version.
    assert carry_on(now_running)["status"] == "READY_FOR_PICKUP"

    # Resumed: the waiting draft is submitted; an item in force is not resumed.
    resumed = change(http, office, now_code, "RESUME", shanghai_today(), "升级完成")
    assert body(resumed)["standing"] == "ACTIVE", resumed.body
    now_waiting.submit()
    problem(change(http, office, now_code, "RESUME", shanghai_today()), 409, "CONFLICT")
    trail = body(send(http, "get", f"/items/{now_code}/audit", office))["history"]
    assert [(e["event"], e["from"], e["to"], e["detail"].get("reason")) for e in trail[-2:]] == [
        ("ITEM_SUSPEND", "ACTIVE", "SUSPENDED", "系统升级"),
        ("ITEM_RESUME", "SUSPENDED", "ACTIVE", "升级完成")]


def test_an_abolished_item_leaves_the_list_and_takes_no_application(
        http: Any, token: Any, cloud: Any, office: dict[str, str]) -> None:
    code = published(http, office)
    running = flow_for(http, token, cloud, code)
    running.submit()
    abolished = change(http, office, code, "ABOLISH", shanghai_today(), "依法取消该事项")
    assert body(abolished)["standing"] == "ABOLISHED", abolished.body
    listed = {i["code"] for i in body(http.get(f"/items?department={DEPARTMENT}"))["items"]}
    assert code not in listed
    assert body(http.get(f"/items/{code}"))["standing"] == "ABOLISHED"  # still readable
    problem(send(http, "post", "/applications", running.citizen, draft_body(code)),
            422, "ITEM_ABOLISHED")
    for kind in ("RESUME", "SUSPEND", "ABOLISH"):
        problem(change(http, office, code, kind, shanghai_today()), 409, "CONFLICT")
    assert carry_on(running)["status"] == "READY_FOR_PICKUP"


def test_a_resumption_scheduled_for_tomorrow_reopens_the_item_tomorrow(
        http: Any, office: dict[str, str]) -> None:
    from pynamodb.transactions import TransactWrite

    from yiwang.catalogue import governance
    from yiwang.catalogue.standing import ItemSuspended, today
    from yiwang.platform.errors import Conflict
    from yiwang.table.records import connection
    from yiwang.table.writes import write_or_conflict

    def submittable(code: str, now: datetime) -> bool:
        """Whether the submission's own condition on the item holds on `now`'s day."""
        def write() -> None:
            with TransactWrite(connection=connection()) as transaction:
                governance.check_open(transaction, code, now)
        try:
            write_or_conflict(write, "closed")
        except Conflict:
            return False
        return True

    code = published(http, office)
    now, tomorrow = datetime.now(UTC), datetime.now(UTC) + timedelta(days=1)
    assert submittable(code, now)
    assert change(http, office, code, "SUSPEND", shanghai_today()).status_code == 200
    resumed = change(http, office, code, "RESUME", today(tomorrow).isoformat(), "恢复办理")
    assert body(resumed)["standing"] == "SUSPENDED", resumed.body  # until tomorrow
    assert not submittable(code, now)
    with pytest.raises(ItemSuspended):
        governance.open_item(code, now)
    assert submittable(code, tomorrow)
    assert governance.open_item(code, tomorrow).standing == "ACTIVE"

