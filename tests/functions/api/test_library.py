"""证照库 over the API: the holder's library, a certificate's life (暂扣、恢复、吊销、注销, audited,
by the issuing department only), `POST /certificates/verify` answering the standing, expiry,
staff lookups only for a case they handle (recorded), and other issuers' certificates counted
only when their issuer's published key verifies them (a forged one is refused)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from infra.providers import exchange as simulator
from tests.functions.api.test_certificates import issued
from tests.support.data import CITIZEN_ID
from tests.support.journeys import Flow

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/json"}


def envelope_of(http: Any, token: Any, number: str) -> dict[str, Any]:
    holder = token("library-holder", "applicant", idNumber=CITIZEN_ID)
    return json.loads(http.get(f"/certificates/{number}", headers=holder).body)


def verify(http: Any, envelope: dict[str, Any]) -> dict[str, Any]:
    return json.loads(http.post("/certificates/verify", headers=JSON,
                               body=json.dumps(envelope, ensure_ascii=False)).body)


def standing(http: Any, headers: dict[str, str], number: str, to: str) -> Any:
    return http.post(f"/certificates/{number}/standing", headers=headers, body=json.dumps(
        {"standing": to, "reason": "未按许可内容施工", "authority": "穗规划资源罚〔2026〕12号"},
        ensure_ascii=False))


def test_the_holder_lists_their_library(http: Any, token: Any) -> None:
    number = issued()
    mine = http.get("/me/certificates", headers=token("library-1", "applicant",
                                                     idNumber=CITIZEN_ID))
    assert mine.status_code == 200, mine.body
    library = json.loads(mine.body)
    listed = {c["number"]: c for c in library["certificates"]}
    assert listed[number]["standing"] == "VALID" and listed[number]["source"] == "PLATFORM"
    assert library["exchange"] == "AVAILABLE"


def test_suspend_lift_revoke_each_audited_and_verify_follows(http: Any, token: Any) -> None:
    from yiwang.fulfilment.certificates import CertificateRecord
    from yiwang.table.records import AuditRecord

    number = issued()
    envelope = envelope_of(http, token, number)
    lead = token("library-reviewer", "reviewer", dept="GZ-ZRZY")
    other = token("library-unrelated", "reviewer", dept="GZ-GA")
    assert standing(http, other, number, "SUSPENDED").status_code == 404
    assert standing(http, token("library-citizen", "applicant", idNumber=CITIZEN_ID),
                    number, "SUSPENDED").status_code == 403

    assert standing(http, lead, number, "SUSPENDED").status_code == 200
    assert verify(http, envelope)["standing"] == "SUSPENDED"
    assert verify(http, envelope)["valid"] is False
    assert standing(http, lead, number, "VALID").status_code == 200  # 恢复
    assert verify(http, envelope) == {"valid": True, "standing": "VALID"}
    assert standing(http, lead, number, "REVOKED").status_code == 200
    revoked = verify(http, envelope)
    assert (revoked["valid"], revoked["standing"]) == (False, "REVOKED")
    assert "穗规划资源罚〔2026〕12号" in revoked["reason"]
    again = standing(http, lead, number, "VALID")
    assert again.status_code == 409  # revoked is final
    trail = [a.event for a in AuditRecord.query(
        CertificateRecord.key(number), AuditRecord.sk.startswith(AuditRecord.SORT_PREFIX))]
    assert trail == ["CERTIFICATE_SUSPENDED", "CERTIFICATE_REINSTATED", "CERTIFICATE_REVOKED"]


def test_an_expired_certificate_verifies_as_expired(http: Any) -> None:
    from yiwang.fulfilment import library

    record = library.load(issued())
    until = date.fromisoformat(json.loads(record.document)["validity"]["to"])
    assert library.standing_of(record, until) == library.Standing.VALID
    assert library.standing_of(record, until.replace(year=until.year + 1)) == "EXPIRED"
    assert library.verdict(record.number, until.replace(year=until.year + 1))["valid"] is False


def test_staff_see_a_holders_library_only_for_a_case_they_handle(
        http: Any, token: Any, cloud: Any) -> None:
    from yiwang.people.access_log import AccessRecord, applicant_subject

    flow = Flow(http, token, cloud, "library-case")
    flow.submit()
    path = f"/applications/{flow.id}/holder-certificates"
    before = {r.sk for r in AccessRecord.query(AccessRecord.key(applicant_subject(CITIZEN_ID)))}
    seen = http.get(path, headers=flow.window)
    assert seen.status_code == 200, seen.body
    assert http.get(path, headers=token("library-ga", "reviewer", dept="GZ-GA")
                    ).status_code == 404
    assert http.get(path, headers=token("library-b", "applicant", idNumber=CITIZEN_ID)
                    ).status_code == 403
    new = [r for r in AccessRecord.query(AccessRecord.key(applicant_subject(CITIZEN_ID)))
           if r.sk not in before]
    assert {(r.purpose, r.case_id) for r in new} >= {("CERTIFICATE_LOOKUP", flow.id),
                                                     ("CERTIFICATE_CHECK", flow.id)}


def test_another_issuers_certificate_counts_only_with_its_issuers_signature(
        http: Any, token: Any) -> None:
    builder = json.loads(http.get("/me/certificates", headers=token(
        "library-builder", "applicant", creditCode=simulator.BUILDER)).body)
    [land] = [c for c in builder["certificates"] if c["source"] == "EXCHANGE"]
    assert land["typeCode"] == "LAND_USE_PLANNING_PERMIT" and land["standing"] == "VALID"
    assert builder["refused"] == []

    forged = json.loads(http.get("/me/certificates", headers=token(
        "library-forged", "applicant", creditCode=simulator.FORGED_HOLDER)).body)
    assert [c for c in forged["certificates"] if c["source"] == "EXCHANGE"] == []
    [refused] = forged["refused"]
    assert "forged" in refused["reason"]
