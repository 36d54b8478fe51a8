"""材料免提交 over the API: a company applying for the construction permit is offered its
land-use planning permit (another issuer's, through the exchange) and its business licence
(the company register); choosing them records checked references (核验, audited) that
pre-review counts as present and the case shows; a forged certificate is refused; a platform
certificate revoked while a case relies on it withdraws the reference."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.providers import exchange as simulator
from tests.functions.api.test_certificates import issued
from tests.support.data import CITIZEN_ID, permit_body

pytestmark = pytest.mark.integration
LAND = "地字第440106202600123号"


def company_draft(http: Any, token: Any, code: str, sub: str) -> tuple[dict[str, str], str]:
    headers = token(sub, "applicant", creditCode=code)
    body = permit_body(applicant={"kind": "LEGAL", "name": simulator.COMPANIES[code]["name"],
                                  "creditCode": code, "phone": "13812345678"})
    answer = http.post("/applications", headers=headers, body=json.dumps(body))
    assert answer.status_code == 201, answer.body
    return headers, json.loads(answer.body)["id"]


def test_a_company_satisfies_two_materials_without_files(http: Any, token: Any) -> None:
    from yiwang.applications import prereview
    from yiwang.applications.records import ApplicationRecord

    headers, app = company_draft(http, token, simulator.BUILDER, "builder-reuse-1")
    record = ApplicationRecord.load(app)
    assert {"land-documents", "business-licence"} <= set(record.required_materials)

    offered = json.loads(http.get(f"/applications/{app}/material-offers", headers=headers).body)
    options = {o["materialId"]: o["options"] for o in offered["offers"]}
    assert [o["number"] for o in options["land-documents"]] == [LAND]
    assert options["business-licence"] == [{"source": "COMPANY_REGISTER"}]

    land = http.post(f"/applications/{app}/material-references", headers=headers,
                     body=json.dumps({"materialId": "land-documents", "source": "EXCHANGE",
                                      "number": LAND}, ensure_ascii=False))
    assert land.status_code == 201, land.body
    licence = http.post(f"/applications/{app}/material-references", headers=headers,
                        body=json.dumps({"materialId": "business-licence",
                                         "source": "COMPANY_REGISTER"}))
    assert licence.status_code == 201, licence.body
    again = http.post(f"/applications/{app}/material-references", headers=headers,
                      body=json.dumps({"materialId": "business-licence",
                                       "source": "COMPANY_REGISTER"}))
    assert again.status_code == 409

    defects = prereview.automatic_checks(ApplicationRecord.load(app)).defects
    assert {d["materialId"] for d in defects} == {
        "application-form", "site-plan", "architectural-drawings", "fire-design"}
    detail = json.loads(http.get(f"/applications/{app}", headers=headers).body)
    shown = {r["materialId"]: r for r in detail["materialReferences"]}
    assert shown["land-documents"]["content"]["content"]["landUsePermitNumber"] == LAND
    assert shown["business-licence"]["content"]["legalRepresentative"] == "陈建国"
    verified = [e for e in detail["timeline"] if e["event"] == "MATERIAL_VERIFIED"]
    assert {e["detail"]["source"] for e in verified} == {"EXCHANGE", "COMPANY_REGISTER"}


def test_a_forged_certificate_is_refused(http: Any, token: Any) -> None:
    headers, app = company_draft(http, token, simulator.FORGED_HOLDER, "forged-reuse-1")
    refused = http.post(f"/applications/{app}/material-references", headers=headers,
                        body=json.dumps({"materialId": "land-documents", "source": "EXCHANGE",
                                         "number": "地字第440104202600777号"},
                                        ensure_ascii=False))
    assert refused.status_code == 422
    problem = json.loads(refused.body)
    assert problem["code"] == "REFERENCE_REFUSED" and "forged" in problem["detail"]


def test_someone_elses_certificate_and_a_person_using_the_company_register_are_refused(
        http: Any, token: Any) -> None:
    headers, app = company_draft(http, token, simulator.BUILDER, "builder-reuse-2")
    number = issued()  # the citizen's, not the company's
    theirs = http.post(f"/applications/{app}/material-references", headers=headers,
                       body=json.dumps({"materialId": "land-documents", "source": "PLATFORM",
                                        "number": number}))
    assert theirs.status_code == 422
    citizen = token("citizen-reuse", "applicant", idNumber=CITIZEN_ID)
    draft = json.loads(http.post("/applications", headers=citizen,
                                 body=json.dumps(permit_body())).body)["id"]
    wrong = http.post(f"/applications/{draft}/material-references", headers=citizen,
                      body=json.dumps({"materialId": "land-documents",
                                       "source": "COMPANY_REGISTER"}))
    assert wrong.status_code == 422


def test_a_revoked_certificate_withdraws_the_reference_of_an_open_case(
        http: Any, token: Any) -> None:
    from yiwang.applications.records import ApplicationRecord
    from yiwang.fulfilment.reuse import MaterialReference

    number = issued()
    citizen = token("citizen-reuse-revoked", "applicant", idNumber=CITIZEN_ID)
    app = json.loads(http.post("/applications", headers=citizen,
                               body=json.dumps(permit_body())).body)["id"]
    # A reference as `reference` records it (no sample item accepts a platform certificate).
    MaterialReference(ApplicationRecord.key(app), MaterialReference.sort_key("land-documents"),
                      application_id=app, material_id="land-documents", source="PLATFORM",
                      number=number, content={}, digest="0" * 64,
                      verified_at=datetime.now(UTC), verified_by="test",
                      gsi1pk=f"CERTREF#{number}", gsi1sk=app).save()
    record = ApplicationRecord.load(app)
    record.update(actions=[ApplicationRecord.stored_materials.set(["land-documents"])])

    lead = token("reuse-reviewer", "reviewer", dept="GZ-ZRZY")
    revoked = http.post(f"/certificates/{number}/standing", headers=lead, body=json.dumps(
        {"standing": "REVOKED", "reason": "以欺骗手段取得", "authority": "穗规划资源〔2026〕3号"},
        ensure_ascii=False))
    assert revoked.status_code == 200, revoked.body
    assert "land-documents" not in ApplicationRecord.load(app).stored_materials
    detail = json.loads(http.get(f"/applications/{app}", headers=citizen).body)
    assert detail["materialReferences"][0]["status"] == "WITHDRAWN"
    assert "MATERIAL_REFERENCE_WITHDRAWN" in [e["event"] for e in detail["timeline"]]


def test_the_new_portal_requests_make_at_most_three_aws_calls(http: Any, token: Any) -> None:
    from tests.support.aws import calls

    made: dict[str, list[str]] = {}
    with calls() as draft_calls:
        headers, app = company_draft(http, token, simulator.BUILDER, "builder-reuse-calls")
    made["POST /applications (company)"] = list(draft_calls)
    # A published item version is read once per process and cached (it never changes): the
    # first offers of a version in a cold API costs one GetItem more.
    http.get(f"/applications/{app}/material-offers", headers=headers)
    steps = {
        "GET /me/register": lambda: http.get("/me/register", headers=headers),
        "GET /me/certificates": lambda: http.get("/me/certificates", headers=headers),
        "GET material-offers": lambda: http.get(f"/applications/{app}/material-offers",
                                                headers=headers),
        "POST material-references": lambda: http.post(
            f"/applications/{app}/material-references", headers=headers,
            body=json.dumps({"materialId": "business-licence", "source": "COMPANY_REGISTER"})),
    }
    for name, request in steps.items():
        with calls() as step_calls:
            assert request().status_code in {200, 201}, name
        made[name] = list(step_calls)
    print("\n".join(f"{name}: {len(ops)} {ops}" for name, ops in made.items()))
    assert all(len(ops) <= 3 for ops in made.values()), made
