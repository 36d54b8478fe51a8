"""授权代办 over the API: a principal authorises an agent (scope, expiry, letter), the agent's
application carries both parties and is in the principal's list, the authority is checked at
the draft and at every step the agent takes (a revoked or expired one stops it with its own
code), an item outside the scope is refused; window staff entering for a walk-in applicant
(帮办) are recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.support.data import CITIZEN_ID, FOOD_LICENCE, OTHER_ID, PERMIT, permit_body

pytestmark = pytest.mark.integration
AGENT_NAME = "李娜"


def authorise(http: Any, principal: dict[str, str], **changes: Any) -> Any:
    body = {"agent": {"idNumber": OTHER_ID, "name": AGENT_NAME}, "principalName": "张伟",
            "scope": [PERMIT],
            "expiresAt": (datetime.now(UTC) + timedelta(days=30)).isoformat(), **changes}
    return http.post("/me/agents", headers=principal, body=json.dumps(body, ensure_ascii=False))


def agents_draft(http: Any, agent: dict[str, str], authorisation_id: str | None,
                 **changes: Any) -> Any:
    body = permit_body(**changes)
    if authorisation_id:
        body["agent"] = {"authorisationId": authorisation_id}
    return http.post("/applications", headers=agent, body=json.dumps(body, ensure_ascii=False))


def test_an_agent_applies_for_a_person_until_the_authority_is_revoked(
        http: Any, token: Any, cloud: Any) -> None:
    principal = token("principal-agency-1", "applicant", idNumber=CITIZEN_ID)
    agent = token("agent-agency-1", "applicant", idNumber=OTHER_ID)
    given = authorise(http, principal)
    assert given.status_code == 201, given.body
    authorisation = json.loads(given.body)
    letter = requests.put(authorisation["letterUploadUrl"], data=b"%PDF-1.7 letter",
                          headers={"Content-Type": "application/pdf"}, timeout=10)
    assert letter.status_code == 200
    assert agents_draft(http, agent, None).status_code == 403  # no authorisation named

    draft = agents_draft(http, agent, authorisation["id"])
    assert draft.status_code == 201, draft.body
    shown = json.loads(draft.body)
    assert shown["applicant"]["idNumber"] == CITIZEN_ID
    assert shown["agent"]["name"] == AGENT_NAME
    assert shown["agent"]["authorisationId"] == authorisation["id"]
    listed = json.loads(http.get("/applications", headers=principal).body)["applications"]
    assert shown["id"] in {a["id"] for a in listed}  # the principal sees it
    from yiwang.people.notices import inbox

    told = [n for n in inbox("principal-agency-1") if n.application_id == shown["id"]]
    assert [n.kind for n in told] == ["AGENT_APPLIED"] and AGENT_NAME in told[0].body

    step = http.post(f"/applications/{shown['id']}/attachments", headers=agent, body=json.dumps(
        {"materialId": "site-plan", "fileName": "p.pdf", "contentType": "application/pdf",
         "sizeBytes": 100, "sha256": "0" * 64}))
    assert step.status_code == 201, step.body
    revoked = http.post(f"/me/agents/{authorisation['id']}/revoke", headers=principal)
    assert revoked.status_code == 200 and json.loads(revoked.body)["status"] == "REVOKED"
    stopped = http.post(f"/applications/{shown['id']}/submit", headers=agent)
    assert stopped.status_code == 403
    assert json.loads(stopped.body)["code"] == "AGENT_AUTHORITY_ENDED"
    assert http.get(f"/applications/{shown['id']}", headers=agent).status_code == 200
    again = agents_draft(http, agent, authorisation["id"])
    assert json.loads(again.body)["code"] == "AGENT_AUTHORITY_ENDED"


def test_an_expired_authority_and_an_item_outside_the_scope_are_refused(
        http: Any, token: Any) -> None:
    from yiwang.people.agency import Authorisation

    principal = token("principal-agency-2", "applicant", idNumber=CITIZEN_ID)
    agent = token("agent-agency-2", "applicant", idNumber=OTHER_ID)
    authorisation = json.loads(authorise(http, principal).body)
    food_only = json.loads(authorise(http, principal, scope=[FOOD_LICENCE]).body)
    outside = agents_draft(http, agent, food_only["id"])  # the permit, not in its scope
    assert outside.status_code == 403
    assert json.loads(outside.body)["code"] == "AGENT_NOT_AUTHORISED"

    draft = json.loads(agents_draft(http, agent, authorisation["id"]).body)
    record = Authorisation.get(Authorisation.key(authorisation["id"]), "META")
    record.update(actions=[Authorisation.expires_at.set(datetime.now(UTC) - timedelta(
        minutes=1))])
    expired = http.post(f"/applications/{draft['id']}/attachments", headers=agent,
                        body=json.dumps({"materialId": "site-plan", "fileName": "p.pdf",
                                         "contentType": "application/pdf", "sizeBytes": 100,
                                         "sha256": "0" * 64}))
    assert expired.status_code == 403
    assert json.loads(expired.body)["code"] == "AGENT_AUTHORITY_ENDED"
    mine = json.loads(http.get("/me/agents", headers=principal).body)["authorisations"]
    assert {a["id"]: a["status"] for a in mine}[authorisation["id"]] == "EXPIRED"
    someone = token("stranger-agency", "applicant", idNumber=OTHER_ID)
    assert http.post(f"/me/agents/{authorisation['id']}/revoke",
                     headers=someone).status_code == 404


def test_window_staff_entering_for_a_walk_in_applicant_are_recorded(
        http: Any, token: Any) -> None:
    window = token("window-assist-1", "window", dept="GZ-ZWFW")
    draft = json.loads(http.post("/applications", headers=window,
                                 body=json.dumps(permit_body())).body)
    assert draft["assistedBy"] == "window-assist-1"
    created = draft["timeline"][0]
    assert created["detail"]["assistedBy"] == "window-assist-1"
