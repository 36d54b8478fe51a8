"""一件事一次办 over the API: a theme defined from published items (its merged form checked
against each item's schema), and the restaurant theme end to end on the embedded cloud: one
form with its shared fields asked once, three linked applications reviewed in parallel, one
refused and explained in the theme's view, one payment for the others, one pickup, and one
notice per step of the theme."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from infra.providers import payment
from tests.support.data import COMPANY, FOOD_LICENCE, RESTAURANT, theme_case_body
from tests.support.journeys import Flow
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

THEME = "KB-CANYIN"
LICENCE = "11440100MB2C98765R-XK-0001"
"""营业执照核发: 市场监管, fee 50.00 yuan."""
SIGNBOARD = "11440100MB2E00317R-XK-0015"
"""户外招牌设置审批: 城管, fee 20.00 yuan."""
ADDRESS = theme_case_body()["form"]["premisesAddress"]
UPLOADS = {LICENCE: ["application-form", "representative-identity", "premises-proof"],
           FOOD_LICENCE: ["application-form", "layout", "representative-identity"],
           SIGNBOARD: ["signboard-design", "premises-proof"]}
THEME_STEPS = ["THEME_SUBMITTED", "THEME_ACCEPTED", "THEME_APPLICATION_REFUSED",
               "THEME_PAYMENT_ORDERED", "THEME_PAID", "THEME_READY_FOR_PICKUP",
               "THEME_COMPLETED"]


def restaurant_case() -> dict[str, Any]:
    """One submission of 开办餐饮店: the merged form asks the shared fields once."""
    return theme_case_body()


def member(http: Any, cloud: Any, citizen: dict[str, str], application_id: str) -> Flow:
    """A `Flow` over one application of the case (to upload and decide as for any other)."""
    flow = Flow.__new__(Flow)
    flow.http, flow.cloud, flow.citizen, flow.id = http, cloud, citizen, application_id
    return flow


def case_view(http: Any, headers: dict[str, str], case_id: str) -> dict[str, Any]:
    answer = http.get(f"/theme-cases/{case_id}", headers=headers)
    assert answer.status_code == 200, answer.body
    return json.loads(answer.body)


def case_is(http: Any, headers: dict[str, str], case_id: str, status: str) -> dict[str, Any]:
    return eventually(lambda: (view := case_view(http, headers, case_id))["status"] == status
                      and view, timeout=60, what=f"theme case {status}")


def restaurant_people(token: Any) -> tuple[dict[str, str], ...]:
    """Headers of a fresh company applicant, the window, 市场监管 and 城管 reviewers."""
    return (token(f"restaurant-{uuid.uuid4().hex[:6]}", "applicant", creditCode=RESTAURANT),
            token("theme-window", "window"),
            token("theme-reviewer-scjg", "reviewer", dept="GZ-SCJG"),
            token("theme-reviewer-cg", "reviewer", dept="GZ-CG"))


def accepted_case(http: Any, cloud: Any, citizen: dict[str, str], window: dict[str, str]
                  ) -> tuple[dict[str, Any], dict[str, str], dict[str, Flow]]:
    """A restaurant case made, its required materials uploaded once, submitted and accepted
    at the window: the case as made, item code → application id, item code → its `Flow`."""
    created = http.post(f"/themes/{THEME}/applications", headers=citizen,
                        body=json.dumps(restaurant_case(), ensure_ascii=False))
    assert created.status_code == 201, created.body
    case = json.loads(created.body)
    ids = {a["itemCode"]: a["id"] for a in case["applications"]}
    flows = {code: member(http, cloud, citizen, i) for code, i in ids.items()}
    for material in case["materials"]:
        if material["required"]:
            first = material["items"][0]
            flows[first["itemCode"]].upload(first["materialId"])
    assert http.post(f"/theme-cases/{case['id']}/submit", headers=citizen).status_code == 202
    for flow in flows.values():
        assert flow.decide(window, "ACCEPT", "予以受理").status_code == 200
    return case, ids, flows


def test_a_theme_whose_mapping_breaks_an_item_is_refused_with_the_paths(
        http: Any, token: Any) -> None:
    admin = token("theme-admin", "admin")
    sample = json.loads(http.get(f"/themes/{THEME}").body)
    broken = {key: copy.deepcopy(sample[key]) for key in ("name", "items", "fields",
                                                          "extraFields")}
    broken["code"] = f"T-{uuid.uuid4().hex[:8].upper()}"
    broken["fields"][0]["maps"][2]["field"] = "shopName"  # the signboard form has no shopName
    broken["fields"][3]["schema"] = {"type": "integer"}  # 经营场所地址 is text in every item
    broken["extraFields"][LICENCE] = ["businessScope"]  # registeredCapitalYuan no longer asked
    answer = http.post("/themes", headers=admin, body=json.dumps(broken))
    assert answer.status_code == 422, answer.body
    problem = json.loads(answer.body)
    assert problem["code"] == "FIELDS_UNPROCESSABLE"
    paths = {error["path"] for error in problem["errors"]}
    assert paths == {"fields[0].maps[2].field", "fields[3].maps[0].field",
                     "fields[3].maps[1].field", "fields[3].maps[2].field",
                     "fields[3].maps[3].field", "items[0]", "items[2]"}, problem["errors"]
    assert any("registeredCapitalYuan" in e["message"] for e in problem["errors"])
    assert json.loads(http.get(f"/themes/{broken['code']}").body)["code"] == "NOT_FOUND"
    # An applicant may not define one at all; an administrator's sound definition is kept.
    sound = {**copy.deepcopy(broken), "fields": sample["fields"],
             "extraFields": sample["extraFields"]}
    assert http.post("/themes", headers=token("theme-citizen", "applicant", creditCode=RESTAURANT),
                     body=json.dumps(sound)).status_code == 403
    created = http.post("/themes", headers=admin, body=json.dumps(sound))
    assert created.status_code == 201, created.body
    assert broken["code"] in {t["code"] for t in json.loads(http.get("/themes").body)["themes"]}
    # Replaced as a whole, checked again; the path names the theme.
    renamed = http.put(f"/themes/{broken['code']}", headers=admin,
                       body=json.dumps({**sound, "name": "开办小吃店"}, ensure_ascii=False))
    assert renamed.status_code == 200, renamed.body
    assert json.loads(http.get(f"/themes/{broken['code']}").body)["name"] == "开办小吃店"
    assert http.put(f"/themes/{broken['code']}", headers=admin,
                    body=json.dumps(broken)).status_code == 422
    assert http.put(f"/themes/{THEME}", headers=admin,
                    body=json.dumps(sound)).status_code == 400  # another theme's code
    # The material list is de-duplicated: 法定代表人身份证明 and 经营场所使用证明 once each.
    materials = json.loads(created.body)["materials"]
    shared = {m["id"]: [use["itemCode"] for use in m["items"]] for m in materials
              if len(m["items"]) > 1}
    assert shared == {"representative-identity": [LICENCE, FOOD_LICENCE],
                      "premises-proof": [LICENCE, SIGNBOARD]}


def test_a_three_item_theme_one_form_one_payment_one_refusal_one_pickup(
        http: Any, token: Any, cloud: Any) -> None:
    citizen, window, market, city = restaurant_people(token)

    # One form: each shared field asked once, filled into every item that needs it.
    theme = json.loads(http.get(f"/themes/{THEME}").body)
    address = next(f for f in theme["fields"] if f["name"] == "premisesAddress")
    assert len({m["itemCode"] for m in address["maps"]}) == 3
    key = {"Idempotency-Key": uuid.uuid4().hex}
    created = http.post(f"/themes/{THEME}/applications", headers={**citizen, **key},
                        body=json.dumps(restaurant_case(), ensure_ascii=False))
    assert created.status_code == 201, created.body
    case = json.loads(created.body)
    again = http.post(f"/themes/{THEME}/applications", headers={**citizen, **key},
                      body=json.dumps(restaurant_case(), ensure_ascii=False))
    assert json.loads(again.body)["id"] == case["id"]  # the same key: the same case
    case_id, ids = case["id"], {a["itemCode"]: a["id"] for a in case["applications"]}
    assert case["status"] == "DRAFT" and set(ids) == {LICENCE, FOOD_LICENCE, SIGNBOARD}
    forms = {code: json.loads(http.get(f"/applications/{i}", headers=citizen).body)["form"]
             for code, i in ids.items()}
    assert forms[LICENCE]["premisesAddress"] == ADDRESS
    assert forms[FOOD_LICENCE]["businessPremises"] == forms[FOOD_LICENCE]["residence"] == ADDRESS
    assert forms[SIGNBOARD]["signboardAddress"] == ADDRESS
    assert forms[SIGNBOARD]["unitName"] == forms[FOOD_LICENCE]["operatorName"]
    assert {json.loads(http.get(f"/applications/{i}", headers=citizen).body)["themeCaseId"]
            for i in ids.values()} == {case_id}
    # The applicant's list leads to the case: each of its rows names it.
    listed = json.loads(http.get("/applications?limit=100", headers=citizen).body)
    assert {a["id"]: a.get("themeCaseId") for a in listed["applications"]
            if a["id"] in ids.values()} == {i: case_id for i in ids.values()}

    # A field that breaks one item's schema is reported where the applicant filled it.
    wrong = restaurant_case()
    wrong["form"]["premisesAddress"] = "天河"
    wrong["itemForms"][SIGNBOARD]["widthM"] = -1
    refused = http.post(f"/themes/{THEME}/applications", headers=citizen,
                        body=json.dumps(wrong, ensure_ascii=False))
    assert refused.status_code == 400
    assert {e["path"] for e in json.loads(refused.body)["errors"]} == {
        "form.premisesAddress", f"itemForms.{SIGNBOARD}.widthM"}

    # Each material uploaded once, to the first application that needs it; on submission it
    # is stored for every other application of the case that needs it.
    flows = {code: member(http, cloud, citizen, i) for code, i in ids.items()}
    uploaded = 0
    for material in case["materials"]:
        if material["required"]:
            first = material["items"][0]
            flows[first["itemCode"]].upload(first["materialId"])
            uploaded += 1
    assert uploaded == 7  # nine required files across the three items, two of them shared
    submitted = http.post(f"/theme-cases/{case_id}/submit", headers=citizen)
    assert submitted.status_code == 202, submitted.body
    for code, materials in UPLOADS.items():
        record = json.loads(http.get(f"/applications/{ids[code]}", headers=citizen).body)
        assert set(materials) <= {a["materialId"] for a in record["attachments"]
                                  if a["status"] == "STORED"}, (code, record["attachments"])

    # Each application on its own lifecycle, the departments in parallel; the food licence
    # is refused.
    for flow in flows.values():
        assert flow.decide(window, "ACCEPT", "材料齐全，予以受理").status_code == 200
    assert flows[FOOD_LICENCE].decide(
        market, "REJECT", "经营场所与污染源距离不足25米，不符合食品经营许可条件").status_code == 200
    assert flows[LICENCE].decide(market, "APPROVE", "同意").status_code == 200
    assert flows[SIGNBOARD].decide(city, "APPROVE", "同意").status_code == 200

    # One payment for the two fees; the refused application is out of it.
    view = case_is(http, citizen, case_id, "AWAITING_PAYMENT")
    order = view["pending"]["payment"]
    assert order["amountFen"] == 5000 + 2000
    assert {a["applicationId"] for a in order["applications"]} == {ids[LICENCE], ids[SIGNBOARD]}
    body, headers = payment.callback(order["orderId"], order["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    paid = http.post("/webhooks/payment", headers=headers, body=body)
    assert paid.status_code == 200 and json.loads(paid.body)["status"] == "PAID", paid.body
    again = http.post("/webhooks/payment", headers=headers, body=body)  # the provider retries
    assert again.status_code == 200 and json.loads(again.body)["status"] == "PAID"

    # Certificates handed over together, once every approved one is issued.
    case_is(http, citizen, case_id, "READY_FOR_PICKUP")
    handed = http.post(f"/theme-cases/{case_id}/pickup", headers=window,
                       body=json.dumps({"collectedBy": "王芳"}, ensure_ascii=False))
    assert handed.status_code == 200, handed.body
    view = case_is(http, citizen, case_id, "COMPLETED")
    statuses = {a["itemCode"]: a["status"] for a in view["applications"]}
    assert statuses == {LICENCE: "COMPLETED", SIGNBOARD: "COMPLETED", FOOD_LICENCE: "REJECTED"}
    refusal = next(a for a in view["applications"] if a["itemCode"] == FOOD_LICENCE)["refusal"]
    assert refusal["reasons"] == [{
        "department": "GZ-SCJG", "departmentName": "广州市市场监督管理局", "decision": "REJECT",
        "opinion": "经营场所与污染源距离不足25米，不符合食品经营许可条件"}]
    # Another company sees nothing of it (as for a case that does not exist).
    other = token("theme-other", "applicant", creditCode=COMPANY)
    assert http.get(f"/theme-cases/{case_id}", headers=other).status_code == 404

    # One notice per step of the theme, none per application.
    mine = set(ids.values())

    def inbox() -> list[dict[str, Any]] | None:
        page = json.loads(http.get("/me/notices?limit=100", headers=citizen).body)["notices"]
        ours = [n for n in page if n["applicationId"] in mine]
        seen.append(sorted(n["kind"] for n in ours))
        return ours if len(ours) >= len(THEME_STEPS) and \
            any(n["kind"] == "THEME_COMPLETED" for n in ours) else None

    seen: list[list[str]] = []
    try:
        notices = eventually(inbox, timeout=60, what="the theme's notices")
    finally:
        print("theme notices seen last:", seen[-1:])

    assert sorted(n["kind"] for n in notices) == sorted(THEME_STEPS), \
        [n["kind"] for n in notices]
    assert all(case_id in n["title"] for n in notices)
    payment_notice = next(n for n in notices if n["kind"] == "THEME_PAYMENT_ORDERED")
    assert "70.00" in payment_notice["body"]


def test_a_refusal_that_comes_last_drops_out_of_the_one_order(
        http: Any, token: Any, cloud: Any) -> None:
    citizen, window, market, city = restaurant_people(token)
    case, ids, flows = accepted_case(http, cloud, citizen, window)
    assert flows[LICENCE].decide(market, "APPROVE", "同意").status_code == 200
    assert flows[FOOD_LICENCE].decide(market, "APPROVE", "同意").status_code == 200
    # The licence waits for its fee; the signboard's fee may still come: no order yet.
    eventually(lambda: flows[LICENCE].view()["status"] == "AWAITING_PAYMENT", timeout=60)
    assert "pending" not in case_view(http, citizen, case["id"])
    assert flows[SIGNBOARD].decide(city, "REJECT", "招牌尺寸超出街道设置规范").status_code == 200
    view = case_is(http, citizen, case["id"], "AWAITING_PAYMENT")
    order = view["pending"]["payment"]
    assert order["amountFen"] == 5000
    assert [a["applicationId"] for a in order["applications"]] == [ids[LICENCE]]
    signboard = next(a for a in view["applications"] if a["itemCode"] == SIGNBOARD)
    assert signboard["refusal"]["reasons"][0]["opinion"] == "招牌尺寸超出街道设置规范"
    # Nothing to hand over yet.
    early = http.post(f"/theme-cases/{case['id']}/pickup", headers=window,
                      body=json.dumps({"collectedBy": "王芳"}, ensure_ascii=False))
    assert early.status_code == 409, early.body
    # Paying less than the theme's order is flagged, never taken as paid.
    body, headers = payment.callback(order["orderId"], 2000, secret=payment.LOCAL_SECRET)
    short = json.loads(http.post("/webhooks/payment", headers=headers, body=body).body)
    assert short["status"] == "PENDING" and short["flags"][0].startswith("AMOUNT_MISMATCH")
    assert flows[LICENCE].view()["status"] == "AWAITING_PAYMENT"


def test_an_applicant_lists_their_own_theme_cases_newest_first(
        http: Any, token: Any, cloud: Any) -> None:
    from tests.support.data import CITIZEN_ID

    citizen = token(f"restaurant-{uuid.uuid4().hex[:6]}", "applicant", creditCode=RESTAURANT)
    made = []
    for _ in range(2):
        created = http.post(f"/themes/{THEME}/applications", headers=citizen,
                            body=json.dumps(restaurant_case(), ensure_ascii=False))
        assert created.status_code == 201, created.body
        made.append(json.loads(created.body))
    older, newer = made
    assert http.post(f"/theme-cases/{older['id']}/submit", headers=citizen).status_code == 202

    def listed(headers: dict[str, str], query: str = "") -> dict[str, Any]:
        answer = http.get(f"/theme-cases{query}", headers=headers)
        assert answer.status_code == 200, answer.body
        return json.loads(answer.body)

    rows = {row["id"]: row for row in listed(citizen, "?limit=100")["themeCases"]}
    order = [case_id for case_id in rows if case_id in {older["id"], newer["id"]}]
    assert order == [newer["id"], older["id"]]  # newest first
    assert rows[older["id"]]["status"] == "SUBMITTED" and "submittedAt" in rows[older["id"]]
    assert rows[newer["id"]]["status"] == "DRAFT"
    assert rows[newer["id"]]["themeName"] == newer["themeName"]
    assert [a["id"] for a in rows[newer["id"]]["applications"]] == [
        a["id"] for a in newer["applications"]]
    # Page by page: every case once, in the same order.
    seen, query = [], "?limit=1"
    while True:
        page = listed(citizen, query)
        assert len(page["themeCases"]) <= 1
        seen += [row["id"] for row in page["themeCases"]]
        if "nextToken" not in page:
            break
        query = f"?limit=1&nextToken={page['nextToken']}"
    assert seen == list(rows)
    # Another applicant's list holds none of them; a token from nowhere is refused.
    stranger = token(f"citizen-{uuid.uuid4().hex[:6]}", "applicant", idNumber=CITIZEN_ID)
    assert not {older["id"], newer["id"]} & {
        row["id"] for row in listed(stranger, "?limit=100")["themeCases"]}
    refused = http.get("/theme-cases?nextToken=bm90LW91cnM", headers=citizen)
    assert refused.status_code == 400 and b"nextToken" in refused.body
    assert http.get("/theme-cases?limit=0", headers=citizen).status_code == 400


def test_a_fee_waived_after_the_order_opened_is_taken_out_of_it(
        http: Any, token: Any, cloud: Any) -> None:
    citizen, window, market, city = restaurant_people(token)
    office = token("theme-admin", "admin")
    case, ids, flows = accepted_case(http, cloud, citizen, window)
    assert flows[LICENCE].decide(market, "APPROVE", "同意").status_code == 200
    assert flows[FOOD_LICENCE].decide(market, "APPROVE", "同意").status_code == 200
    assert flows[SIGNBOARD].decide(city, "APPROVE", "同意").status_code == 200
    opened = case_is(http, citizen, case["id"], "AWAITING_PAYMENT")["pending"]["payment"]
    shares = {a["applicationId"]: a["amountFen"] for a in opened["applications"]}
    assert ids[SIGNBOARD] in shares and opened["amountFen"] == sum(shares.values())

    # 减免: the office waives the signboard's fee; the theme's order is replaced by one
    # for the other fees, and the signboard goes on as paid.
    waived = http.post(f"/applications/{ids[SIGNBOARD]}/fee-waiver", headers=office,
                       body=json.dumps({"reason": "小微企业招牌费用减免"}, ensure_ascii=False))
    assert waived.status_code == 200, waived.body
    replaced = eventually(
        lambda: (order := case_view(http, citizen, case["id"]).get("pending", {})
                 .get("payment")) and order["orderId"] != opened["orderId"] and order,
        timeout=60, what="the theme's order without the waived fee")
    assert replaced["amountFen"] == opened["amountFen"] - shares[ids[SIGNBOARD]]
    assert ids[SIGNBOARD] not in {a["applicationId"] for a in replaced["applications"]}
    eventually(lambda: flows[SIGNBOARD].view()["status"] not in {"AWAITING_PAYMENT", "PAID"},
               timeout=60, what="the signboard past its waived fee")

    # The first order is no longer payable: paying it is flagged, and settles nothing.
    body, headers = payment.callback(opened["orderId"], opened["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    stale = json.loads(http.post("/webhooks/payment", headers=headers, body=body).body)
    assert stale["status"] == "SUPERSEDED" and stale["flags"][0].startswith("SUPERSEDED")
    assert flows[LICENCE].view()["status"] == "AWAITING_PAYMENT"
    body, headers = payment.callback(replaced["orderId"], replaced["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    paid = json.loads(http.post("/webhooks/payment", headers=headers, body=body).body)
    assert paid["status"] == "PAID", paid
    case_is(http, citizen, case["id"], "READY_FOR_PICKUP")
