"""人口库、法人库 over the API: the caller's own register record (`GET /me/register`), intake
refusing what the register refuses (422 with its code), and the exchange down: 503
`EXCHANGE_UNAVAILABLE` for a lookup, while intake still makes the draft (by upload)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.providers import exchange as simulator
from tests.support.data import CITIZEN_ID, permit_body
from tests.support.environment import environment
from tests.support.network import free_port

pytestmark = pytest.mark.integration


def test_a_person_and_a_company_read_their_own_register_record(http: Any, token: Any) -> None:
    person = http.get("/me/register", headers=token("citizen-me-register", "applicant",
                                                    idNumber=CITIZEN_ID))
    assert person.status_code == 200, person.body
    answer = json.loads(person.body)
    assert (answer["source"], answer["fields"]["name"]) == ("PERSON_REGISTER", "张伟")
    company = http.get("/me/register", headers=token("builder-me-register", "applicant",
                                                     creditCode=simulator.BUILDER))
    assert json.loads(company.body)["fields"]["legalRepresentative"] == "陈建国"


def test_a_revoked_company_is_refused_at_intake(http: Any, token: Any) -> None:
    window = token("window-registers-api", "window", dept="GZ-ZWFW")
    body = permit_body(applicant={"kind": "LEGAL", "name": "广州市天河区旧城贸易有限公司",
                                  "creditCode": simulator.REVOKED_COMPANY,
                                  "phone": "13812345678"})
    refused = http.post("/applications", headers=window, body=json.dumps(body))
    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert json.loads(refused.body)["code"] == "COMPANY_REVOKED"


def test_with_the_exchange_down_a_lookup_is_503_and_intake_goes_on(
        http: Any, token: Any) -> None:
    citizen = token("citizen-exchange-down", "applicant", idNumber=CITIZEN_ID)
    with environment({"EXCHANGE_URL": f"http://127.0.0.1:{free_port()}"}):
        down = http.get("/me/register", headers=citizen)
        draft = http.post("/applications", headers=citizen, body=json.dumps(permit_body()))
    assert down.status_code == 503
    assert json.loads(down.body)["code"] == "EXCHANGE_UNAVAILABLE"
    assert int(down.headers["Retry-After"]) >= 1
    assert draft.status_code == 201, draft.body
    shown = json.loads(draft.body)
    assert shown["registerCheck"]["status"] == "UNAVAILABLE"
    assert "address" not in shown["applicant"]
