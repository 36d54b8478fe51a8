"""好差评 over HTTP on the local cloud: the applicant rates a completed construction permit once;
a bad review goes to 规划 (the lead department) with a 5-working-day rectification clock, is
verified, can be ruled invalid only by an administrator, extended once, rectified and
revisited."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.data import OTHER_ID
from tests.support.journeys import Flow, complete
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def done(http: Any, token: Any, cloud: Any, request: Any) -> Flow:
    """A construction permit taken through the whole lifecycle to COMPLETED."""
    flow = Flow(http, token, cloud, request.node.name[-20:])
    complete(flow)
    return flow


@pytest.fixture
def flow(http: Any, token: Any, cloud: Any, request: Any) -> Flow:
    return Flow(http, token, cloud, request.node.name[-20:])


def post(flow: Flow, path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return flow.http.post(path, headers=headers, body=json.dumps(body, ensure_ascii=False))


def read(answer: Any) -> Any:
    return json.loads(answer.body)


def test_a_completed_application_is_rated_once(done: Flow, token: Any) -> None:
    first = post(done, f"/applications/{done.id}/rating", done.citizen,
                 {"level": 5, "comment": "一次办成，很满意"})
    assert first.status_code == 201, first.body
    rating = read(first)
    assert (rating["id"], rating["level"], rating["levelName"], rating["status"]) == (
        done.id, 5, "非常满意", "RECORDED")
    assert rating["rectification"] is None  # a good rating needs nothing more
    second = post(done, f"/applications/{done.id}/rating", done.citizen, {"level": 1,
                                                                          "comment": "改评"})
    assert second.status_code == 409 and read(second)["code"] == "CONFLICT"
    assert read(done.http.get(f"/ratings/{done.id}", headers=done.citizen))["level"] == 5
    stranger = token("citizen-stranger", "applicant", idNumber=OTHER_ID)
    assert done.http.get(f"/ratings/{done.id}", headers=stranger).status_code == 404
    assert post(done, f"/applications/{done.id}/rating", done.window,
                {"level": 5}).status_code == 403


def test_an_application_not_completed_cannot_be_rated(flow: Flow) -> None:
    answer = post(flow, f"/applications/{flow.id}/rating", flow.citizen, {"level": 4})
    assert answer.status_code == 409
    invalid = post(flow, f"/applications/{flow.id}/rating", flow.citizen, {"level": 0})
    assert invalid.status_code == 400 and read(invalid)["errors"][0]["path"] == "level"


def test_a_bad_review_is_verified_rectified_and_revisited(done: Flow, token: Any) -> None:
    planning, fire = done.reviewers["GZ-ZRZY"], done.reviewers["GZ-XF"]
    admin = token("admin-ratings", "admin")
    rated = post(done, f"/applications/{done.id}/rating", done.citizen,
                 {"level": 1, "comment": "窗口多次让我补材料，每次说法不一"})
    assert rated.status_code == 201, rated.body
    review = read(rated)
    assert (review["bad"], review["status"], review["department"]) == (
        True, "VERIFYING", "GZ-ZRZY")
    clock = review["rectification"]
    assert (clock["status"], clock["limitDays"], clock["step"]) == ("RUNNING", 5, "差评整改")
    due = read(done.http.get(f"/calendar/due?from={quote(review['createdAt'])}&workingDays=5"))
    assert clock["deadline"] == due["due"]

    queue = read(done.http.get("/ratings?bad=true&status=VERIFYING", headers=planning))
    assert done.id in [r["id"] for r in queue["ratings"]]
    assert done.id not in [r["id"] for r in read(done.http.get(
        "/ratings?bad=true", headers=fire))["ratings"]]
    assert done.http.get("/ratings", headers=done.citizen).status_code == 403
    assert post(done, f"/ratings/{done.id}/verify", fire,
                {"valid": True, "note": "x"}).status_code == 404

    proposed = post(done, f"/ratings/{done.id}/verify", planning,
                    {"valid": False, "note": "经核实属于误评"})
    assert read(proposed)["status"] == "INVALIDATION_REQUESTED"
    assert read(proposed)["rectification"]["status"] == "PAUSED"
    self_ruled = post(done, f"/ratings/{done.id}/invalidate", planning,
                      {"approve": True, "note": "无效"})
    assert self_ruled.status_code == 403  # only the rating administrators rule it invalid
    refused = post(done, f"/ratings/{done.id}/invalidate", admin,
                   {"approve": False, "note": "评价人反映的问题属实，应整改"})
    assert read(refused)["status"] == "RECTIFYING"
    assert read(refused)["rectification"]["status"] == "RUNNING"

    too_long = post(done, f"/ratings/{done.id}/extend", planning,
                    {"workingDays": 10, "reason": "情况复杂"})
    assert too_long.status_code == 422
    extended = post(done, f"/ratings/{done.id}/extend", planning,
                    {"workingDays": 2, "reason": "需与住建部门共同整改"})
    assert extended.status_code == 200, extended.body
    assert read(extended)["extension"]["workingDays"] == 2
    assert read(extended)["rectification"]["deadline"] > read(refused)["rectification"][
        "deadline"]
    assert post(done, f"/ratings/{done.id}/extend", planning,
                {"workingDays": 1, "reason": "再延"}).status_code == 409

    rectified = post(done, f"/ratings/{done.id}/rectify", planning,
                     {"measures": "制定一次性告知清单，窗口统一口径"})
    assert read(rectified)["status"] == "RECTIFIED"  # real-name: a revisit before it closes
    assert read(rectified)["rectification"]["status"] == "STOPPED"
    closed = post(done, f"/ratings/{done.id}/revisit", admin,
                  {"satisfied": True, "note": "电话回访，评价人表示满意"})
    assert read(closed)["status"] == "CLOSED"
    history = [h["event"] for h in read(done.http.get(f"/ratings/{done.id}",
                                                      headers=planning))["history"]]
    assert history == ["RATED", "INVALIDATION_REQUESTED", "INVALIDATION_REFUSED", "EXTENDED",
                       "RECTIFIED", "REVISITED"]
    # The department heard of the bad review in its inbox, the citizen of the extension.
    eventually(lambda: notices_of("DEPT#GZ-ZRZY", done.id, "BAD_REVIEW"))
    eventually(lambda: notices_of(done.citizen_sub, done.id, "RATING_EXTENDED"))


def notices_of(recipient: str, application_id: str, kind: str) -> list[Any]:
    from yiwang.people import notices

    return [n for n in notices.inbox(recipient)
            if n.application_id == application_id and n.kind == kind]


def test_an_administrator_rules_a_bad_review_invalid(done: Flow, token: Any) -> None:
    planning = done.reviewers["GZ-ZRZY"]
    admin = token("admin-ratings", "admin")
    supervisor = token("supervisor-ratings", "supervisor")
    post(done, f"/applications/{done.id}/rating", done.citizen,
         {"level": 2, "comment": "不满意", "anonymous": True})
    assert read(done.http.get(f"/ratings/{done.id}", headers=planning))["rater"] is None
    early = post(done, f"/ratings/{done.id}/invalidate", admin, {"approve": True, "note": "x"})
    assert early.status_code == 409  # nothing proposed yet
    post(done, f"/ratings/{done.id}/verify", planning, {"valid": False, "note": "恶意差评"})
    ruled = post(done, f"/ratings/{done.id}/invalidate", admin,
                 {"approve": True, "note": "复核：评价与办件无关"})
    assert (read(ruled)["status"], read(ruled)["rectification"]["status"]) == (
        "INVALID", "STOPPED")
    invalid = read(done.http.get("/ratings?bad=true&status=INVALID", headers=supervisor))
    assert done.id in [r["id"] for r in invalid["ratings"]]
