"""督办 over HTTP on the local cloud: a supervisor urges the department handling an application,
the urging's clock is carded by the deployed timeout check, the department sees it in its inbox
and replies, and the supervisors hear of the reply."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.support.aws import timeout_check
from tests.support.data import REQUIRED
from tests.support.journeys import Flow
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

PLANNING = "GZ-ZRZY"


@pytest.fixture
def flow(http: Any, token: Any, cloud: Any, request: Any) -> Flow:
    return Flow(http, token, cloud, request.node.name[-20:])


def test_a_supervisor_urges_and_the_department_replies(flow: Flow, token: Any) -> None:
    from yiwang.deadlines import clocks
    from yiwang.people import notices

    supervisor = token("supervisor-urging", "supervisor")
    planning = token("reviewer-urging", "reviewer", dept=PLANNING)
    for material in REQUIRED:
        flow.upload(material)
    flow.submit()
    body = {"target": "APPLICATION", "id": flow.id, "reason": "群众反映办理缓慢，请说明",
            "workingDays": 1}
    assert flow.http.post("/supervision/urgings", headers=planning,
                          body=json.dumps(body)).status_code == 403
    missing = flow.http.post("/supervision/urgings", headers=supervisor,
                             body=json.dumps({**body, "reason": ""}))
    assert {e["path"] for e in json.loads(missing.body)["errors"]} == {"reason"}
    created = flow.http.post("/supervision/urgings", headers=supervisor,
                             body=json.dumps(body, ensure_ascii=False))
    assert created.status_code == 201, created.body
    urging = json.loads(created.body)
    assert (urging["department"], urging["status"], urging["clock"]["kind"]) == (
        PLANNING, "OPEN", "URGING")
    eventually(lambda: [n for n in notices.inbox(f"DEPT#{PLANNING}")
                        if n.kind == "URGING" and urging["id"] in n.body])

    clock = clocks.get(f"URGING#{urging['id']}", "URGING")
    swept = timeout_check(flow.cloud, clock.deadline + timedelta(seconds=1))
    assert f"{urging['id']}:URGING" in swept["red"]
    listed = json.loads(flow.http.get("/supervision/urgings?status=OPEN", headers=planning).body)
    assert urging["id"] in [u["id"] for u in listed["urgings"]]
    assert json.loads(flow.http.get(f"/supervision/urgings/{urging['id']}",
                                    headers=planning).body)["clock"]["cards"] == ["RED"]
    replied = flow.http.post(f"/supervision/urgings/{urging['id']}/reply", headers=planning,
                             body=json.dumps({"reply": "已组织会审，明日办结"},
                                             ensure_ascii=False))
    assert replied.status_code == 200, replied.body
    assert json.loads(replied.body)["status"] == "REPLIED"
    again = flow.http.post(f"/supervision/urgings/{urging['id']}/reply", headers=planning,
                           body=json.dumps({"reply": "再次回复"}, ensure_ascii=False))
    assert again.status_code == 409
    eventually(lambda: [n for n in notices.inbox(clocks.SUPERVISORS)
                        if n.kind == "URGING_REPLIED" and urging["id"] in n.body])
