"""Intake against the person and company registers (人口库、法人库), through the exchange
simulator the local cloud runs: the applicant is pre-filled from the register, refused when
the register says so, every lookup leaves an access record, and with the exchange down intake
still works (the materials are then uploaded)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.providers import exchange as simulator
from tests.support.data import CITIZEN_ID, permit_body
from tests.support.environment import environment
from tests.support.network import free_port

pytestmark = pytest.mark.integration


def legal(code: str, name: str) -> dict[str, Any]:
    return permit_body(applicant={"kind": "LEGAL", "name": name, "creditCode": code,
                                  "phone": "13812345678"})


def person(id_number: str, name: str) -> dict[str, Any]:
    return permit_body(applicant={"kind": "PERSON", "name": name, "idNumber": id_number,
                                  "phone": "13812345678"})


def lookups(code: str, case_id: str | None = None) -> list[Any]:
    from yiwang.people.access_log import AccessRecord, applicant_subject

    found = AccessRecord.query(AccessRecord.key(applicant_subject(code)))
    return [r for r in found if r.resource_kind.endswith("-register")
            and (case_id is None or r.case_id == case_id)]


def test_a_person_is_prefilled_from_the_register_and_the_lookup_recorded(table: None) -> None:
    from yiwang.applications import drafts
    from yiwang.people.access import Caller

    citizen = Caller("citizen-register-1", "applicant", id_number=CITIZEN_ID)
    record = drafts.create_draft(citizen, permit_body())
    assert record.applicant["address"] == simulator.PEOPLE[CITIZEN_ID]["address"]
    assert record.register_check["source"] == "PERSON_REGISTER"
    assert record.register_check["status"] == "VERIFIED"
    assert record.register_check["prefilled"] == ["address"]
    [lookup] = lookups(CITIZEN_ID, record.application_id)
    assert (lookup.staff, lookup.purpose, lookup.resource_kind) == (
        "citizen-register-1", "INTAKE_CHECK", "person-register")


def test_window_staff_entering_for_a_company_get_its_legal_representative(table: None) -> None:
    from yiwang.applications import drafts
    from yiwang.people.access import Caller

    window = Caller("window-register-1", "window", dept="GZ-ZWFW")
    company = simulator.COMPANIES[simulator.BUILDER]
    record = drafts.create_draft(window, legal(simulator.BUILDER, company["name"]))
    assert record.applicant["legalRepresentative"] == company["legalRepresentative"]
    [lookup] = lookups(simulator.BUILDER, record.application_id)
    assert (lookup.staff, lookup.role, lookup.resource_kind) == (
        "window-register-1", "window", "company-register")


@pytest.mark.parametrize("body, code", [
    (legal(simulator.REVOKED_COMPANY, "广州市天河区旧城贸易有限公司"), "COMPANY_REVOKED"),
    (legal(simulator.CANCELLED_COMPANY, "广州市白云区已注销商贸有限公司"), "COMPANY_CANCELLED"),
    (legal(simulator.BUILDER, "广州市天河建设有限公司"), "NAME_MISMATCH"),
    (person(CITIZEN_ID, "张三"), "NAME_MISMATCH"),
    (person(simulator.DECEASED_ID, "赵德明"), "PERSON_DECEASED"),
    (person("440106199003071231", "路人甲"), "PERSON_NOT_FOUND"),
], ids=["revoked", "cancelled", "company-name", "person-name", "deceased", "not-found"])
def test_the_register_refuses_and_the_refused_lookup_is_recorded(
        table: None, body: dict[str, Any], code: str) -> None:
    from yiwang.applications import drafts
    from yiwang.people.access import Caller
    from yiwang.platform.errors import Unprocessable

    window = Caller(f"window-refused-{code.lower()}", "window", dept="GZ-ZWFW")
    subject = body["applicant"].get("creditCode") or body["applicant"]["idNumber"]
    with pytest.raises(Unprocessable) as refused:
        drafts.create_draft(window, body)
    assert refused.value.code == code
    assert any(r.staff == window.sub for r in lookups(subject))


def test_with_the_exchange_down_intake_goes_on_by_upload(table: None) -> None:
    from yiwang.applications import drafts
    from yiwang.people.access import Caller

    citizen = Caller("citizen-register-down", "applicant", id_number=CITIZEN_ID)
    with environment({"EXCHANGE_URL": f"http://127.0.0.1:{free_port()}"}):
        record = drafts.create_draft(citizen, permit_body())
    assert record.register_check["status"] == "UNAVAILABLE"
    assert "address" not in record.applicant  # nothing filled: nothing was read
    assert record.required_materials == drafts.ApplicationRecord.load(
        record.application_id).required_materials
    [lookup] = lookups(CITIZEN_ID, record.application_id)  # the attempt is recorded too
    assert lookup.purpose == "INTAKE_CHECK"
