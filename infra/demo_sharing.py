"""`make demo`'s data-sharing path: the construction permit applied for by a company whose
land-use planning permit is in its certificate library (issued by another department, read
through the data-sharing exchange and verified against its issuer's key) and whose business
licence the company register confirms, so it uploads fewer files (材料免提交).

Run by `infra.demo` after the citizen's application; alone:
`python -m infra.demo_sharing [--api http://127.0.0.1:8000]`.
"""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Any

import requests

from infra.demo import (
    APPLICATION,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.demo_sharing", description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    before, after = run(parser.parse_args(argv).api)
    return 0 if after < before else 1


if __name__ == "__main__":
    sys.exit(main())
