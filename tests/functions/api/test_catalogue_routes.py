"""The catalogue routes (openapi.yaml, `/items`) on the deployed stack: public reads, problem
answers, versions through the administrators' routes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.data import FOOD_LICENCE, PLANNING_PERMIT

pytestmark = pytest.mark.integration
pytest.importorskip("chalicelib.auth")  # the admin routes sit behind its `bearer` authorizer

# `http` (the app's test client, sample items seeded) and `token` come from conftest.py.
Token = Callable[..., dict[str, str]]

def body(answer: Any) -> Any:
    return json.loads(answer.body)


def item_payload(code: str, **changes: Any) -> dict[str, Any]:
    payload = {
        "code": code, "name": "临时占用城市道路审批", "category": "行政许可",
        "kind": "PROMISED", "leadDepartment": "TEST-JT", "coDepartments": [],
        "statutoryDays": 20, "promisedDays": 7, "feeFen": 0,
        "formSchema": {"type": "object", "required": ["roadName"],
                       "properties": {"roadName": {"type": "string", "title": "占用道路名称"}}},
        "materials": [{"id": "site-plan", "name": "占道平面示意图", "required": True,
                       "formats": ["pdf", "jpg"], "maxBytes": 10485760}],
        "legalBasis": "《城市道路管理条例》第三十一条", "applicantKinds": ["PERSON", "LEGAL"],
        "deliveryMethods": ["PICKUP"],
    }
    return {**payload, **changes}


def assert_problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = body(answer)
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


# --- public reads ---------------------------------------------------------------------------


def test_list_items(http: Any) -> None:
    answer = http.get("/items")
    assert answer.status_code == 200
    items = body(answer)["items"]
    planning = next(i for i in items if i["code"] == PLANNING_PERMIT)
    assert planning == {
        "code": PLANNING_PERMIT, "name": "建设工程规划许可证核发", "category": "行政许可",
        "kind": "PROMISED", "leadDepartment": "GZ-ZRZY", "feeFen": 50000, "promisedDays": 15,
        "version": 1, "standing": "ACTIVE"}
    assert len({i["code"] for i in items}) == len(items)


def test_list_items_filtered(http: Any) -> None:
    fire = {i["code"] for i in body(http.get("/items?department=GZ-XF"))["items"]}
    assert PLANNING_PERMIT in fire and FOOD_LICENCE not in fire
    found = body(http.get(f"/items?q={quote('食品经营')}"))["items"]
    assert [i["code"] for i in found] == [FOOD_LICENCE]
    assert body(http.get("/items?department=GZ-SCJG&q=nothing-like-this"))["items"] == []


def test_get_item(http: Any) -> None:
    answer = http.get(f"/items/{PLANNING_PERMIT}")
    assert answer.status_code == 200
    item = body(answer)
    assert (item["version"], item["status"]) == (1, "PUBLISHED")
    assert (item["leadDepartment"], item["coDepartments"]) == ("GZ-ZRZY", ["GZ-ZJ", "GZ-XF"])
    assert item["formSchema"]["type"] == "object"
    drawings = next(m for m in item["materials"] if m["id"] == "site-plan")
    assert drawings == {"id": "site-plan", "name": "建设工程设计方案总平面图", "required": True,
                        "formats": ["pdf", "dwg", "dxf"], "maxBytes": 2147483648,
                        "laterAllowed": False}


def test_unknown_item_is_a_404_problem(http: Any) -> None:
    problem = assert_problem(http.get("/items/NO-SUCH-ITEM"), 404, "NOT_FOUND")
    assert "NO-SUCH-ITEM" in problem["detail"]
    assert_problem(http.get(f"/items/{PLANNING_PERMIT}?version=42"), 404, "NOT_FOUND")


def test_a_bad_version_is_a_validation_problem(http: Any) -> None:
    for bad in ("abc", "0", "-1", "1.5"):
        problem = assert_problem(http.get(f"/items/{PLANNING_PERMIT}?version={bad}"), 400,
                                 "VALIDATION_FAILED")
        assert [e["path"] for e in problem["errors"]] == ["version"]


# --- administrators -------------------------------------------------------------------------


def test_versions_through_the_admin_routes(http: Any, token: Token) -> None:
    admin = token("admin-1", "admin")
    code = f"TEST{uuid.uuid4().hex[:10].upper()}-XK-0001"

    created = http.post("/items", headers=admin, body=json.dumps(item_payload(code)))
    assert created.status_code == 201, created.body
    assert (body(created)["version"], body(created)["status"]) == (1, "DRAFT")
    assert_problem(http.get(f"/items/{code}"), 404, "NOT_FOUND")  # a draft is not public

    published = http.post(f"/items/{code}/publish", headers=admin)
    assert published.status_code == 200
    assert (body(published)["version"], body(published)["status"]) == (1, "PUBLISHED")

    changed = item_payload(code, promisedDays=3, feeFen=1500)
    drafted = http.put(f"/items/{code}", headers=admin, body=json.dumps(changed))
    assert drafted.status_code == 201, drafted.body
    assert (body(drafted)["version"], body(drafted)["status"]) == (2, "DRAFT")
    assert body(http.get(f"/items/{code}"))["version"] == 1
    assert_problem(http.get(f"/items/{code}?version=2"), 404, "NOT_FOUND")

    assert http.post(f"/items/{code}/publish", headers=admin).status_code == 200
    current = body(http.get(f"/items/{code}"))
    assert (current["version"], current["feeFen"], current["promisedDays"]) == (2, 1500, 3)
    earlier = body(http.get(f"/items/{code}?version=1"))
    assert (earlier["version"], earlier["feeFen"], earlier["promisedDays"]) == (1, 0, 7)
    listed = next(i for i in body(http.get("/items?department=TEST-JT"))["items"]
                  if i["code"] == code)
    assert listed["version"] == 2

    assert_problem(http.post(f"/items/{code}/publish", headers=admin), 409, "CONFLICT")
    assert_problem(http.post("/items", headers=admin, body=json.dumps(item_payload(code))),
                   409, "CONFLICT")


def test_drafting_needs_the_reform_office_or_the_items_own_department(
        http: Any, token: Token) -> None:
    # 事项管理 (#12): a department drafts its own items; publishing stays the office's.
    payload = json.dumps(item_payload(f"TEST{uuid.uuid4().hex[:10].upper()}-XK-0001"))
    anonymous = http.post("/items", headers={"Content-Type": "application/json"}, body=payload)
    assert anonymous.status_code == 401
    window = token("window-1", "window")
    assert_problem(http.post("/items", headers=window, body=payload), 403, "FORBIDDEN")
    reviewer = token("reviewer-1", "reviewer", dept="GZ-ZRZY")
    refused = assert_problem(http.post("/items", headers=reviewer, body=payload), 400,
                             "VALIDATION_FAILED")  # the payload's lead is TEST-JT, not theirs
    assert [e["path"] for e in refused["errors"]] == ["leadDepartment"]
    unrelated = token("reviewer-2", "reviewer", dept="GZ-GA")
    assert_problem(http.put(f"/items/{PLANNING_PERMIT}", headers=unrelated, body=payload), 404,
                   "NOT_FOUND")
    assert_problem(http.post(f"/items/{PLANNING_PERMIT}/publish", headers=reviewer), 403,
                   "FORBIDDEN")


def test_bad_input_is_a_400_listing_every_error(http: Any, token: Token) -> None:
    admin = token("admin-1", "admin")
    assert_problem(http.post("/items", headers=admin, body="{not json"), 400,
                   "VALIDATION_FAILED")
    assert_problem(http.post("/items", headers=admin, body="[]"), 400, "VALIDATION_FAILED")
    bad = item_payload("TEST-BAD-1", promisedDays=30, feeFen=-5,
                       formSchema={"type": "object", "required": "roadName"})
    problem = assert_problem(http.post("/items", headers=admin, body=json.dumps(bad)), 400,
                             "VALIDATION_FAILED")
    assert {e["path"] for e in problem["errors"]} == {
        "promisedDays", "feeFen", "formSchema.required"}
    assert_problem(http.get("/items/TEST-BAD-1"), 404, "NOT_FOUND")
