"""部门 registry over HTTP on the local cloud: signed-in callers read it, administrators create
and update departments (201/200, 409 on a concurrent change, 403 for anyone else); and a
department created through the API receives complaints routed to it and issues the
certificates of the items it leads."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from stdnum.cn import uscc

from tests.support.data import CITIZEN_ID
from tests.support.journeys import ItemFlow, complete

pytestmark = pytest.mark.integration


def credit_code(first_seventeen: str) -> str:
    """A valid 统一社会信用代码: the first 17 characters and their check character."""
    return first_seventeen + uscc.calc_check_digit(first_seventeen)


NEW_BODY = {"name": "广州市新设审批局", "creditCode": credit_code("11440100MB2E0123" + "4"),
            "region": "440100", "level": "CITY"}


def new_code() -> str:
    return f"GZ-T{uuid.uuid4().hex[:8].upper()}"


def put(http: Any, headers: dict[str, str], code: str, body: Any) -> Any:
    return http.put(f"/departments/{code}", headers=headers,
                    body=json.dumps(body, ensure_ascii=False))


def test_signed_in_callers_read_the_registry(http: Any, token: Any) -> None:
    citizen = token("dept-reader", "applicant", idNumber=CITIZEN_ID)
    listed = http.get("/departments", headers=citizen)
    assert listed.status_code == 200, listed.body
    codes = [d["code"] for d in json.loads(listed.body)["departments"]]
    assert {"GZ-GA", "GZ-SCJG", "GZ-ZRZY", "GZ-ZJ", "GZ-XF"} <= set(codes)
    assert codes == sorted(codes)

    one = http.get("/departments/GZ-SCJG", headers=citizen)
    assert one.status_code == 200, one.body
    department = json.loads(one.body)
    assert {k: department[k] for k in ("code", "name", "creditCode", "status")} == {
        "code": "GZ-SCJG", "name": "广州市市场监督管理局", "creditCode": "11440100MB2C98765R",
        "status": "ACTIVE"}
    assert department["createdAt"].endswith("+08:00")
    assert http.get("/departments/GZ-NOWHERE", headers=citizen).status_code == 404
    assert http.get("/departments").status_code == 401


def test_only_administrators_change_it(http: Any, token: Any) -> None:
    code = new_code()
    for role, claims in (("reviewer", {"dept": "GZ-GA"}), ("supervisor", {}), ("window", {}),
                         ("applicant", {"idNumber": CITIZEN_ID})):
        refused = put(http, token(f"dept-{role}", role, **claims), code, NEW_BODY)
        assert refused.status_code == 403, (role, refused.body)
    assert http.get(f"/departments/{code}", headers=token("dept-admin", "admin")
                    ).status_code == 404


def test_created_updated_and_a_concurrent_change_refused(http: Any, token: Any) -> None:
    admin = token("dept-admin", "admin")
    code = new_code()
    created = put(http, admin, code, NEW_BODY)
    assert created.status_code == 201, created.body
    first = json.loads(created.body)
    assert (first["code"], first["version"], first["region"]) == (code, 1, "440100")

    updated = put(http, admin, code, {**first, "name": "广州市新设审批局（更名）"})
    assert updated.status_code == 200, updated.body
    assert (json.loads(updated.body)["name"], json.loads(updated.body)["version"]) == (
        "广州市新设审批局（更名）", 2)

    stale = put(http, admin, code, {**first, "status": "INACTIVE"})  # still says version 1
    assert stale.status_code == 409, stale.body
    assert json.loads(stale.body)["code"] == "CONFLICT"

    bad = put(http, admin, code, {"name": "", "creditCode": "11440100MB2E01234X"})
    assert bad.status_code == 400
    assert {e["path"] for e in json.loads(bad.body)["errors"]} == {"name", "creditCode"}
    assert put(http, admin, "not a code", NEW_BODY).status_code == 400


def item_led_by(department: str) -> dict[str, Any]:
    return {
        "code": f"DEPT{uuid.uuid4().hex[:8].upper()}-QT-0101", "name": "新设部门测试事项",
        "category": "公共服务", "kind": "PROMISED", "leadDepartment": department,
        "coDepartments": [], "statutoryDays": 20, "promisedDays": 5, "feeFen": 0,
        "formSchema": {"type": "object", "required": ["address"],
                       "properties": {"address": {"type": "string", "minLength": 5}}},
        "materials": [], "legalBasis": "《测试条例》", "applicantKinds": ["PERSON"],
        "deliveryMethods": ["PICKUP"],
    }


def test_a_department_created_through_the_api_receives_complaints_and_issues_certificates(
        http: Any, token: Any, cloud: Any) -> None:
    admin = token("dept-admin-e2e", "admin")
    code = new_code()
    assert put(http, admin, code, NEW_BODY).status_code == 201

    # 投诉建议: routed to the new department, which sees it.
    citizen = token("dept-complainant", "applicant", idNumber=CITIZEN_ID)
    complaint = {"category": "COMPLAINT", "channel": "WEB", "subject": "新设部门窗口排队过长",
                 "content": "等了两个小时。", "contact": "13800138000", "department": code}
    registered = http.post("/complaints", headers=citizen,
                           body=json.dumps(complaint, ensure_ascii=False))
    assert registered.status_code == 201, registered.body
    receipt = json.loads(registered.body)
    assert receipt["department"] == code
    staff = token(f"reviewer-{code}", "reviewer", dept=code)
    seen = http.get(f"/complaints/{receipt['id']}", headers=staff)
    assert seen.status_code == 200, seen.body
    assert json.loads(seen.body)["department"] == code

    # 电子证照: an item it leads, applied for and approved, gets its certificate.
    item = item_led_by(code)
    assert http.post("/items", headers=admin,
                     body=json.dumps(item, ensure_ascii=False)).status_code == 201
    assert http.post(f"/items/{item['code']}/publish", headers=admin).status_code == 200
    draft = {"itemCode": item["code"],
             "applicant": {"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                           "phone": "13812345678"},
             "form": {"address": "广州市天河区华夏路16号"}, "delivery": {"method": "PICKUP"}}
    flow = ItemFlow(http, token, cloud, f"dept-{code}", draft, [code])
    view = complete(flow)
    number = view["certificate"]["number"]
    envelope = json.loads(http.get(f"/certificates/{number}", headers=flow.citizen).body)
    assert envelope["document"]["issuingBody"] == {"name": NEW_BODY["name"],
                                                   "code": NEW_BODY["creditCode"]}
    assert f".{NEW_BODY['creditCode']}." in number


def test_an_inactive_department_receives_no_complaints(http: Any, token: Any) -> None:
    admin = token("dept-admin-inactive", "admin")
    code = new_code()
    assert put(http, admin, code, {**NEW_BODY, "status": "INACTIVE"}).status_code == 201
    citizen = token("dept-complainant-2", "applicant", idNumber=CITIZEN_ID)
    refused = http.post("/complaints", headers=citizen, body=json.dumps(
        {"category": "COMPLAINT", "channel": "WEB", "subject": "已撤销部门",
         "content": "无人处理。", "contact": "13800138000", "department": code},
        ensure_ascii=False))
    assert refused.status_code == 400, refused.body
    assert json.loads(refused.body)["errors"][0]["path"] == "department"
