"""一次填报 over the API: the construction permit's form filled for a company from its register
record and its certificate library, each field with its source; at the draft a register-sourced
field left out is filled, and one the item does not let the applicant correct is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.providers import exchange as simulator
from tests.support.data import PERMIT, permit_body

pytestmark = pytest.mark.integration


def test_the_form_is_filled_with_its_sources(http: Any, token: Any) -> None:
    company = token("builder-prefill-1", "applicant", creditCode=simulator.BUILDER)
    answer = http.get(f"/items/{PERMIT}/prefill", headers=company)
    assert answer.status_code == 200, answer.body
    filled = json.loads(answer.body)
    assert filled["form"] == {"constructionUnit": simulator.COMPANIES[simulator.BUILDER]["name"],
                              "creditCode": simulator.BUILDER,
                              "landUsePermitNumber": "地字第440106202600123号"}
    assert filled["sources"]["creditCode"] == {"source": "register.creditCode",
                                               "correctable": False}
    assert filled["sources"]["landUsePermitNumber"]["source"].startswith("certificate.")


def company_body(**form: Any) -> dict[str, Any]:
    body = permit_body(applicant={"kind": "LEGAL", "name": simulator.COMPANIES[
        simulator.BUILDER]["name"], "creditCode": simulator.BUILDER, "phone": "13812345678"})
    body["form"].update(form)
    return body


def test_the_draft_fills_and_guards_register_fields(http: Any, token: Any) -> None:
    company = token("builder-prefill-2", "applicant", creditCode=simulator.BUILDER)
    draft = http.post("/applications", headers=company, body=json.dumps(company_body()))
    assert draft.status_code == 201, draft.body
    shown = json.loads(draft.body)
    assert shown["form"]["creditCode"] == simulator.BUILDER
    assert shown["registerCheck"]["formFilled"] == {"creditCode": "register.creditCode"}

    changed = http.post("/applications", headers=company, body=json.dumps(
        company_body(creditCode=simulator.FORGED_HOLDER)))
    assert changed.status_code == 400
    assert [e["path"] for e in json.loads(changed.body)["errors"]] == ["form.creditCode"]
