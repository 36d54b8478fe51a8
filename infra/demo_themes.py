"""`make demo`, the theme path (一件事一次办): opening a restaurant (开办餐饮店) end to end.

A company fills ONE form (its shared fields asked once) for three items - 营业执照, 食品经营许可证,
户外招牌设置 - uploads the de-duplicated materials, submits once; the window accepts each, the
market regulator and the city administration review in parallel (the food licence is refused
here, to show how a refusal reads in the theme), the company pays the other two fees as ONE
order, and the window hands both certificates over at once. Printed step by step, with the
theme's notices at the end.
"""

from __future__ import annotations

import copy
from typing import Any

import requests

from infra.demo import Portal, decide, eventually, step, upload
from infra.providers import payment

THEME = "KB-CANYIN"
RESTAURANT = "91440106MA59B1234B"  # 广州市天河区粤味餐饮有限公司 (the 法人库 knows it)
LICENCE = "11440100MB2C98765R-XK-0001"
FOOD_LICENCE = "11440100MB2C98765R-XK-0102"
SIGNBOARD = "11440100MB2E00317R-XK-0015"
THEME_CASE: dict[str, Any] = {
    "applicant": {"kind": "LEGAL", "name": "广州市天河区粤味餐饮有限公司",
                  "creditCode": RESTAURANT, "phone": "13812345678"},
    "form": {"companyName": "广州市天河区粤味餐饮有限公司", "creditCode": RESTAURANT,
             "legalRepresentative": "王芳", "premisesAddress": "广州市天河区天河路385号首层",
             "phone": "13812345678"},
    "itemForms": {
        LICENCE: {"businessScope": "餐饮服务；食品销售", "registeredCapitalYuan": 500000},
        FOOD_LICENCE: {"businessFormat": "餐饮服务经营者", "businessItems": ["热食类食品制售"],
                       "foodSafetyManager": "李强", "premisesAreaM2": 120},
        SIGNBOARD: {"signboardText": "粤味餐厅", "widthM": 6, "heightM": 1.2},
    },
    "delivery": {"method": "PICKUP"},
}
"""One submission of 开办餐饮店 (the tests' too: `tests.support.data.theme_case_body`)."""


def case_in(company: Portal, case_id: str, status: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        view = company.call("GET", f"/theme-cases/{case_id}")
        return view if view["status"] == status else None
    return eventually(probe, f"the theme case {status}")


def run(api: str) -> bool:
    """The restaurant theme end to end; True when it completed as shown."""
    company = Portal(api, "company-yuewei", "applicant", creditCode=RESTAURANT)
    window = Portal(api, "window-01", "window")
    market = Portal(api, "reviewer-GZ-SCJG", "reviewer", dept="GZ-SCJG")
    city = Portal(api, "reviewer-GZ-CG", "reviewer", dept="GZ-CG")

    theme = requests.get(f"{api}/themes/{THEME}", timeout=10).json()
    asked = sum(len(f["maps"]) for f in theme["fields"])
    step(f"theme 一件事一次办: {theme['name']} - {', '.join(theme['itemNames'].values())}; "
         f"{len(theme['fields'])} shared fields fill {asked} item fields; "
         f"{len(theme['materials'])} materials (de-duplicated)")
    case = company.call("POST", f"/themes/{THEME}/applications", copy.deepcopy(THEME_CASE),
                        expect=201)
    case_id = case["id"]
    step(f"company fills one form: theme case {case_id} with "
         f"{len(case['applications'])} linked applications")
    for material in case["materials"]:  # once each: the case shares it on submission
        if material["required"]:
            first = material["items"][0]
            upload(company, first["applicationId"], first["materialId"], "开办餐饮店")
            step(f"  uploaded {material['name']} once, for {len(material['items'])} item(s)")
    company.call("POST", f"/theme-cases/{case_id}/submit", expect=202)
    step("company submits once; each application starts its own lifecycle")

    ids = {a["itemCode"]: a["id"] for a in case["applications"]}
    for application_id in ids.values():
        decide(window, application_id, "ACCEPT", "材料齐全，予以受理")
    step("window accepts all three (受理)")
    decide(market, ids[FOOD_LICENCE], "REJECT", "经营场所与污染源距离不足25米")
    step("  市场监管局 refuses the food licence (不予许可)")
    decide(market, ids[LICENCE], "APPROVE", "同意")
    decide(city, ids[SIGNBOARD], "APPROVE", "同意")
    step("  市场监管局 and 城管局 approve the licence and the signboard (并联审批)")

    order = case_in(company, case_id, "AWAITING_PAYMENT")["pending"]["payment"]
    step(f"one order for the theme: {order['orderId']}, {order['amountFen'] / 100:.2f} 元 "
         f"for {len(order['applications'])} applications")
    status, answer = payment.pay(order["orderId"], order["amountFen"], api=api)
    step(f"payment provider calls back once (signed): {status} {answer}")

    case_in(company, case_id, "READY_FOR_PICKUP")
    window.call("POST", f"/theme-cases/{case_id}/pickup", {"collectedBy": "王芳"})
    view = case_in(company, case_id, "COMPLETED")
    step(f"window hands both certificates over at once; theme case {view['status']}")
    for application in view["applications"]:
        why = application.get("refusal", {}).get("reasons", [])
        step(f"  {application['itemName']}: {application['status']}"
             + (f" - {why[0]['departmentName']}: {why[0]['opinion']}" if why else ""))

    def told() -> list[dict[str, Any]] | None:
        notices = [n for n in company.call("GET", "/me/notices?limit=100")["notices"]
                   if n["applicationId"] in ids.values()]
        return notices if any(n["kind"] == "THEME_COMPLETED" for n in notices) else None

    notices = eventually(told, "the theme's notices")
    step(f"company's inbox: {len(notices)} notices for the theme, one per step")
    for notice in reversed(notices):
        print(f"    {notice['kind']:<28} {notice['title']}")
    listed = company.call("GET", "/theme-cases?limit=5")["themeCases"]
    mine = next(row for row in listed if row["id"] == case_id)
    step(f"company's theme cases (GET /theme-cases): {mine['themeName']} {mine['id']} "
         f"{mine['status']}, last step {mine.get('lastStep')}")
    return view["status"] == "COMPLETED"
