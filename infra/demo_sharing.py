"""`make demo`'s data-sharing paths: the construction permit applied for by a company whose
land-use planning permit is in its certificate library (issued by another department, read
through the data-sharing exchange and verified against its issuer's key) and whose business
licence the company register confirms, so it uploads fewer files (材料免提交); then an agent
applying for a person under the person's authorisation (授权代办), until it is revoked.

Run by `infra.demo` after the citizen's application; alone:
`python -m infra.demo_sharing [--api http://127.0.0.1:8000]`.
"""

from __future__ import annotations

import argparse
import copy
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from infra.demo import (
    APPLICATION,
    CITIZEN_ID,
    DEPARTMENTS,
    PERMIT,
    Portal,
    decide,
    eventually,
    status_is,
    step,
    upload,
)
from infra.providers import exchange, payment

COMPANY = exchange.BUILDER
"""广州市天河建设发展有限公司 in the simulated company register."""


def company_application() -> dict[str, Any]:
    """The demo's construction-permit application, made by the company (no address: the
    register fills its legal representative and address)."""
    body = copy.deepcopy(APPLICATION)
    body["applicant"] = {"kind": "LEGAL", "name": exchange.COMPANIES[COMPANY]["name"],
                         "creditCode": COMPANY, "phone": "13812345678"}
    body["form"]["constructionUnit"] = exchange.COMPANIES[COMPANY]["name"]
    body["form"]["creditCode"] = COMPANY
    return body


def required_files(item: dict[str, Any], kind: str) -> list[str]:
    """The materials an applicant of `kind` must give before submitting, as files."""
    return [m["id"] for m in item["materials"] if m["required"] and not m["laterAllowed"]
            and kind in m.get("applicantKinds", [kind])]


def run(api: str) -> tuple[int, int]:
    """Apply as the company up to its certificate; (files before, files uploaded)."""
    company = Portal(api, "company-tianhe-build", "applicant", creditCode=COMPANY)
    window = Portal(api, "window-01", "window")
    reviewers = {code: Portal(api, f"reviewer-{code}", "reviewer", dept=code)
                 for code in DEPARTMENTS}
    item = requests.get(f"{api}/items/{PERMIT}", timeout=10).json()
    before = required_files(item, "LEGAL")
    step(f"company {COMPANY} applies for {item['name']}: {len(before)} materials "
         f"to give as files without data sharing ({', '.join(before)})")
    mine = company.call("GET", "/me/certificates")
    for certificate in mine["certificates"]:
        step(f"  certificate library (证照库): {certificate['type']} {certificate['number']} "
             f"from {certificate.get('issuingBody')}, {certificate['standing']} "
             f"({certificate['source']})")

    draft = company.call("POST", "/applications", company_application(), expect=201)
    application_id = draft["id"]
    check = draft["registerCheck"]
    step(f"draft {application_id}: the company register (法人库) says {check['status']}; "
         f"filled {', '.join(check['prefilled'])}: legal representative "
         f"{draft['applicant'].get('legalRepresentative')}")
    offers = company.call("GET", f"/applications/{application_id}/material-offers")["offers"]
    referenced = []
    for offer in offers:
        if not offer["options"]:
            continue
        option = offer["options"][0]
        ref = company.call("POST", f"/applications/{application_id}/material-references",
                           {"materialId": offer["materialId"], **option}, expect=201)
        referenced.append(offer["materialId"])
        step(f"  {offer['name']}: satisfied by {ref['source']} {ref.get('number') or ''} "
             f"(核验, {ref['status']}) - no file")
    uploaded = [m for m in before if m not in referenced]
    for material in uploaded:
        upload(company, application_id, material)
    step(f"materials as files: {len(before)} before, {len(uploaded)} now "
         f"({len(referenced)} satisfied by the library and the register)")
    company.call("POST", f"/applications/{application_id}/submit", expect=202)
    decide(window, application_id, "ACCEPT", "材料齐全（证照库、法人库核验），予以受理")
    eventually(status_is(company, application_id, "IN_REVIEW"), "review")
    step("window accepts (受理): pre-review counted the referenced materials present")
    case = reviewers["GZ-ZRZY"].call("GET", f"/applications/{application_id}")
    for ref in case["materialReferences"]:
        step(f"  reviewer sees {ref['materialId']} from {ref['source']}: "
             f"{sorted(ref['content'])[:6]}")
    for code, name in DEPARTMENTS.items():
        decide(reviewers[code], application_id, "APPROVE", f"{name}：同意")
    view = eventually(status_is(company, application_id, "AWAITING_PAYMENT"), "the fee")
    order = view["pending"]["payment"]
    payment.pay(order["orderId"], order["amountFen"], api=api)
    view = eventually(status_is(company, application_id, "DISPATCHED", "READY_FOR_PICKUP"),
                      "the certificate")
    step(f"company's certificate issued: {view['certificate']['number']}; "
         f"it is now in the company's library too")
    return len(before), len(uploaded)


AGENT_ID = "110101199003071233"
"""李娜 in the simulated person register: the citizen's agent."""


def agent_path(api: str) -> bool:
    """张伟 authorises 李娜 for the construction permit; she applies in his name, he sees it in
    his list; once he revokes the authority her next step is refused. Whether all held."""
    principal = Portal(api, "citizen-zhangwei", "applicant", idNumber=CITIZEN_ID)
    agent = Portal(api, "agent-lina", "applicant", idNumber=AGENT_ID)
    authorisation = principal.call("POST", "/me/agents", {
        "agent": {"idNumber": AGENT_ID, "name": "李娜"}, "principalName": "张伟",
        "scope": [PERMIT], "expiresAt": (datetime.now(UTC) + timedelta(days=30)).isoformat()},
        expect=201)
    letter = requests.put(authorisation["letterUploadUrl"], timeout=10,
                          data="%PDF-1.7\n授权委托书：兹委托李娜代为办理建设工程规划许可证".encode(),
                          headers={"Content-Type": "application/pdf"})
    letter.raise_for_status()
    step(f"张伟 authorises 李娜 (授权代办) {authorisation['id']}: scope {authorisation['scope']}, "
         f"until {authorisation['expiresAt']}, letter uploaded")
    body = {**copy.deepcopy(APPLICATION), "agent": {"authorisationId": authorisation["id"]}}
    draft = agent.call("POST", "/applications", body, expect=201)
    step(f"李娜 drafts {draft['id']} for {draft['applicant']['name']} as agent "
         f"{draft['agent']['name']} ({draft['agent']['authorisationId']})")
    upload(agent, draft["id"], "application-form")
    listed = principal.call("GET", "/applications")["applications"]
    seen = draft["id"] in {a["id"] for a in listed}
    step(f"张伟 sees it in his own list: {seen}")
    principal.call("POST", f"/me/agents/{authorisation['id']}/revoke")
    answer = requests.post(f"{api}/applications/{draft['id']}/submit", headers=agent.headers,
                           timeout=30)
    code = answer.json().get("code")
    step(f"张伟 revokes the authority; 李娜's submit is refused: {answer.status_code} {code}")
    return seen and code == "AGENT_AUTHORITY_ENDED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.demo_sharing", description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    api = parser.parse_args(argv).api
    before, after = run(api)
    return 0 if after < before and agent_path(api) else 1


if __name__ == "__main__":
    sys.exit(main())
