"""电子证照 over HTTP: the holder (or staff) reads a certificate; anyone verifies one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from tests.support.data import CITIZEN_ID, COMPANY, FOOD_LICENCE, OTHER_ID, PLANNING_PERMIT
from tests.support.environment import environment

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def signing_key_id(cloud: Any) -> str:
    """A signing key in the local cloud (until the template declares one)."""
    return cloud.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")[
        "KeyMetadata"]["KeyId"]


@pytest.fixture
def api(http: Any, signing_key_id: str) -> Iterator[Any]:
    """The app with the certificate routes (registered here if app.py does not yet) and
    SIGNING_KEY_ID set, as the stack will give it."""
    import app as api_module

    from chalicelib.routes import certificates as certificate_routes

    if "/certificates/verify" not in api_module.app.routes:
        api_module.app.register_blueprint(certificate_routes.routes)
        for path in ("/certificates/{number}", "/certificates/verify"):
            for entry in api_module.app.routes[path].values():
                entry.view_function = api_module.answering_domain_errors(entry.view_function)
    with environment({"SIGNING_KEY_ID": signing_key_id}), Client(api_module.app) as client:
        yield client.http


def issued(person: bool = True) -> str:
    """The number of a certificate issued for an application the departments approved (the
    application is written directly: the lifecycle before issuing is not under test)."""
    from yiwang.applications.records import ApplicationRecord
    from yiwang.catalogue.items import get_item
    from yiwang.fulfilment import certificates

    item = get_item(PLANNING_PERMIT if person else FOOD_LICENCE)
    application_id = f"YWTEST{uuid.uuid4().hex[:12].upper()}"
    now = datetime.now(UTC)
    applicant = ({"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID, "phone": "13812345678"}
                 if person else {"kind": "LEGAL", "name": "广州粤味餐饮管理有限公司",
                                 "creditCode": COMPANY, "phone": "13812345678"})
    form = ({"projectName": "天河区珠江新城幼儿园改扩建工程", "floorsAbove": 4} if person
            else {"operatorName": "广州粤味餐饮管理有限公司", "businessFormat": "餐饮服务经营者"})
    ApplicationRecord(
        ApplicationRecord.key(application_id), "META", application_id=application_id,
        status="PAID" if person else "IN_REVIEW", item_code=item.code,
        item_version=item.version, owner_sub="holder", applicant=applicant, form=form,
        delivery={"method": "PICKUP"}, created_at=now,
        gsi1pk=f"APPLICANT#{applicant.get('idNumber') or applicant.get('creditCode')}",
        gsi1sk=now.isoformat()).save()
    return certificates.issue(application_id).number


def test_the_holder_reads_the_certificate_and_it_verifies(api: Any, token: Any) -> None:
    number = issued()
    citizen = token("holder-1", "applicant", idNumber=CITIZEN_ID)
    answer = api.get(f"/certificates/{number}", headers=citizen)
    assert answer.status_code == 200, answer.body
    envelope = json.loads(answer.body)
    assert envelope["document"]["number"] == number
    assert envelope["document"]["holder"] == {"name": "张伟", "code": CITIZEN_ID,
                                              "codeKind": "111"}
    assert {"signature", "algorithm", "keyId", "publicKeyPem"} <= set(envelope)
    verdict = api.post("/certificates/verify", headers={"Content-Type": "application/json"},
                       body=json.dumps(envelope, ensure_ascii=False))
    assert verdict.status_code == 200
    assert json.loads(verdict.body) == {"valid": True, "standing": "VALID"}

    company = token("holder-2", "applicant", creditCode=COMPANY)
    legal = issued(person=False)
    assert api.get(f"/certificates/{legal}", headers=company).status_code == 200
    assert api.get(f"/certificates/{number}", headers=company).status_code == 404


def test_staff_read_it_and_a_stranger_gets_404(api: Any, token: Any) -> None:
    number = issued()
    stranger = token("stranger-1", "applicant", idNumber=OTHER_ID)
    answer = api.get(f"/certificates/{number}", headers=stranger)
    assert answer.status_code == 404
    assert json.loads(answer.body)["code"] == "NOT_FOUND"
    unknown = api.get(f"/certificates/{number[:-1]}X", headers=stranger)
    assert unknown.status_code == 404
    assert api.get(f"/certificates/{number}").status_code == 401
    window = token("window-1", "window")
    assert api.get(f"/certificates/{number}", headers=window).status_code == 200


def test_verify_is_public_and_any_change_is_invalid(api: Any, token: Any) -> None:
    number = issued(person=False)
    holder = token("holder-3", "applicant", creditCode=COMPANY)
    envelope = json.loads(api.get(f"/certificates/{number}", headers=holder).body)
    json_type = {"Content-Type": "application/json"}

    just_signed = {"document": envelope["document"], "signature": envelope["signature"]}
    answer = api.post("/certificates/verify", headers=json_type, body=json.dumps(just_signed))
    assert answer.status_code == 200
    assert json.loads(answer.body) == {"valid": True, "standing": "VALID"}

    tampered = json.loads(json.dumps(envelope))
    tampered["document"]["validity"]["to"] = "2099-12-31"
    verdict = json.loads(api.post("/certificates/verify", headers=json_type,
                                  body=json.dumps(tampered)).body)
    assert verdict["valid"] is False and verdict["reason"]

    raw = json.dumps(envelope, ensure_ascii=False)
    one_byte = raw.replace("粤味", "粤昧", 1)
    verdict = json.loads(api.post("/certificates/verify", headers=json_type,
                                  body=one_byte.encode()).body)
    assert verdict["valid"] is False

    duplicated = raw[:-1] + ', "document": {}}'
    verdict = json.loads(api.post("/certificates/verify", headers=json_type,
                                  body=duplicated.encode()).body)
    assert verdict == {"valid": False, "reason": "the certificate has the key 'document' twice"}

    malformed = api.post("/certificates/verify", headers=json_type, body="{not json")
    assert malformed.status_code == 400
    assert json.loads(malformed.body)["code"] == "VALIDATION_FAILED"
