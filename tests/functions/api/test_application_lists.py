"""`GET /applications` for each role over HTTP: applicants their own, reviewers their
department's, window staff their queue's, supervisors one status's; pages with nextToken."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.aws import calls
from tests.support.data import CITIZEN_ID, OTHER_ID, REQUIRED, permit_body
from tests.support.journeys import Flow
from yiwang.table.shards import SHARDS

pytestmark = pytest.mark.integration



def listing(http: Any, headers: dict[str, str], query: str = "", pages: int = 50
            ) -> list[dict[str, Any]]:
    """Every application of a list, following nextToken page by page."""
    found: list[dict[str, Any]] = []
    token = None
    for _ in range(pages):
        path = f"/applications?{query}" + (f"&nextToken={token}" if token else "")
        answer = http.get(path, headers=headers)
        assert answer.status_code == 200, answer.body
        page = json.loads(answer.body)
        found += page["applications"]
        token = page.get("nextToken")
        if not token:
            return found
    raise AssertionError(f"more than {pages} pages")


def ids(applications: list[dict[str, Any]]) -> list[str]:
    return [a["id"] for a in applications]


_CASES: dict[str, tuple[Flow, Flow]] = {}


@pytest.fixture
def reviewed(http: Any, token: Any, cloud: Any) -> tuple[Flow, Flow]:
    """One application in review by its three departments, one waiting for the window
    (made once for this module: the tests only read them, through their own client)."""
    if "cases" not in _CASES:
        in_review = Flow(http, token, cloud, "lists-review")
        for material in REQUIRED:
            in_review.upload(material)
        in_review.submit()
        assert in_review.decide(in_review.window, "ACCEPT", "材料齐全").status_code == 200
        for headers in in_review.reviewers.values():
            in_review.task(headers)  # every department's task is open
        waiting = Flow(http, token, cloud, "lists-window")
        waiting.submit()
        waiting.task(waiting.window)
        _CASES["cases"] = in_review, waiting
    return _CASES["cases"]


def test_reviewers_list_their_departments_applications_only(
        http: Any, token: Any, reviewed: tuple[Flow, Flow]) -> None:
    in_review, waiting = reviewed
    fire = listing(http, in_review.reviewers["GZ-XF"])
    assert in_review.id in ids(fire)
    assert waiting.id not in ids(fire)  # no task for the department yet
    assert len(ids(fire)) == len(set(ids(fire)))
    mine = next(a for a in fire if a["id"] == in_review.id)
    assert mine["status"] == "IN_REVIEW"
    assert mine["applicant"]["idNumber"] == CITIZEN_ID  # they handle the case
    police = token("reviewer-lists-ga", "reviewer", dept="GZ-GA")
    assert in_review.id not in ids(listing(http, police))
    in_review_only = listing(http, in_review.reviewers["GZ-ZJ"], "status=IN_REVIEW")
    assert in_review.id in ids(in_review_only)
    assert {a["status"] for a in in_review_only} == {"IN_REVIEW"}


def test_window_staff_list_their_queue(http: Any, reviewed: tuple[Flow, Flow]) -> None:
    in_review, waiting = reviewed
    submitted = listing(http, waiting.window, "status=SUBMITTED")
    assert waiting.id in ids(submitted)
    assert in_review.id not in ids(submitted)
    assert in_review.id in ids(listing(http, waiting.window, "status=IN_REVIEW"))


def test_applicants_still_list_only_their_own(
        http: Any, token: Any, reviewed: tuple[Flow, Flow]) -> None:
    in_review, waiting = reviewed
    own = listing(http, in_review.citizen)
    assert {in_review.id, waiting.id} <= set(ids(own))
    assert {a["applicant"]["idNumber"] for a in own} == {CITIZEN_ID}
    stranger = token("citizen-lists-other", "applicant", idNumber=OTHER_ID)
    assert not {in_review.id, waiting.id} & set(ids(listing(http, stranger)))
    submitted = listing(http, in_review.citizen, "status=SUBMITTED&limit=5")
    assert waiting.id in ids(submitted) and in_review.id not in ids(submitted)


def test_supervisors_list_by_status_page_by_page(
        http: Any, token: Any, reviewed: tuple[Flow, Flow]) -> None:
    in_review, waiting = reviewed
    supervisor = token("sup-lists", "supervisor")
    reviewing = listing(http, supervisor, "status=IN_REVIEW")
    assert in_review.id in ids(reviewing) and waiting.id not in ids(reviewing)
    assert {a["status"] for a in reviewing} == {"IN_REVIEW"}
    seen = next(a for a in reviewing if a["id"] == in_review.id)
    assert seen["applicant"]["idNumber"] == "1101**********002X"  # supervisors see it masked
    assert waiting.id in ids(listing(http, supervisor, "status=SUBMITTED"))

    drafts = [json.loads(http.post("/applications", headers=in_review.citizen,
                                   body=json.dumps(permit_body())).body)["id"]
              for _ in range(2)]
    first = json.loads(http.get("/applications?status=DRAFT&limit=1", headers=supervisor).body)
    assert ids(first["applications"]) == drafts[1:] and first["nextToken"]  # newest first
    second = json.loads(http.get(f"/applications?status=DRAFT&limit=1&nextToken="
                                 f"{first['nextToken']}", headers=supervisor).body)
    assert ids(second["applications"]) == drafts[:1]
    one_by_one = listing(http, supervisor, "status=DRAFT&limit=1", pages=1000)
    assert ids(one_by_one) == ids(listing(http, supervisor, "status=DRAFT&limit=100"))
    assert len(one_by_one) == len(set(ids(one_by_one)))


def test_bad_list_requests_are_validation_problems(
        http: Any, token: Any, reviewed: tuple[Flow, Flow]) -> None:
    in_review, _ = reviewed
    supervisor = token("sup-lists-2", "supervisor")
    for query, path in (("", "status"), ("status=LOST", "status"),
                        ("status=DRAFT&limit=0", "limit"), ("status=DRAFT&limit=x", "limit"),
                        ("status=DRAFT&nextToken=not-a-token", "nextToken")):
        answer = http.get(f"/applications?{query}", headers=supervisor)
        assert answer.status_code == 400, query
        problem = json.loads(answer.body)
        assert problem["code"] == "VALIDATION_FAILED"
        assert path in {e["path"] for e in problem["errors"]}
    # A token continues only the list that gave it: a department's is not a supervisor's.
    page = json.loads(http.get("/applications?limit=1", headers=in_review.window).body)
    assert page.get("nextToken")
    reused = http.get(f"/applications?status=DRAFT&nextToken={page['nextToken']}",
                      headers=supervisor)
    assert reused.status_code == 400
    other = http.get(f"/applications?nextToken={page['nextToken']}",
                     headers=in_review.reviewers["GZ-ZJ"])
    assert other.status_code == 400


SUMMARY = {"id", "itemCode", "itemVersion", "status", "applicant", "createdAt", "submittedAt",
           "region"}
"""A list row's fields (`deadlines` too in a department's list); the detail has the rest."""


def test_a_page_is_its_index_query_and_rows_are_summaries(
        http: Any, token: Any, reviewed: tuple[Flow, Flow]) -> None:
    in_review, waiting = reviewed
    with calls() as own_calls:
        own = json.loads(http.get("/applications", headers=in_review.citizen).body)
    assert own_calls == ["dynamodb.Query"]  # no Query per row for attachments and timeline
    assert own["applications"] and all(set(a) == SUMMARY for a in own["applications"])
    row = own["applications"][0]
    detail = json.loads(http.get(f"/applications/{row['id']}", headers=in_review.citizen).body)
    assert row == {name: detail[name] for name in SUMMARY}

    supervisor = token("sup-lists-3", "supervisor")
    with calls() as status_calls:
        reviewing = json.loads(http.get("/applications?status=IN_REVIEW",
                                        headers=supervisor).body)
    # One Query per shard of the status (one page each: a page needs at most limit + 1 rows
    # from any shard), then the staff read's access records (yiwang.people.access_log: one
    # PutItem for one application with an applicant, a BatchWriteItem for more; other tests'
    # applications may be listed).
    applicants = [a for a in reviewing["applications"] if a.get("applicant")]
    recorded = "dynamodb.PutItem" if len(applicants) == 1 else "dynamodb.BatchWriteItem"
    assert status_calls == ["dynamodb.Query"] * SHARDS + [recorded]
    seen = reviewing["applications"][0]
    assert set(seen) == SUMMARY
    assert seen["applicant"] == json.loads(http.get(
        f"/applications/{seen['id']}", headers=supervisor).body)["applicant"]  # masked alike
    assert seen["applicant"]["idNumber"].count("*") > 0

    reviewer = in_review.reviewers["GZ-XF"]
    with calls() as department_calls:
        fire = json.loads(http.get("/applications?limit=2", headers=reviewer).body)
    # The department's tasks, then their applications at once (another batch only if the
    # tasks read repeat applications), then the staff read's access records.
    assert department_calls[:2] == ["dynamodb.Query", "dynamodb.BatchGetItem"]
    assert set(department_calls[:-1]) == {"dynamodb.Query", "dynamodb.BatchGetItem"}
    shown = [a for a in fire["applications"] if a.get("applicant")]
    assert department_calls[-1] == ("dynamodb.PutItem" if len(shown) == 1
                                    else "dynamodb.BatchWriteItem")
    assert len(department_calls) <= 5, department_calls
    mine = next(a for a in listing(http, reviewer) if a["id"] == in_review.id)
    assert set(mine) == SUMMARY | {"deadlines"}
    deadlines = json.loads(http.get(f"/applications/{in_review.id}",
                                    headers=reviewer).body)["deadlines"]
    assert mine["deadlines"] == {"decideBy": {"GZ-XF": deadlines["decideBy"]["GZ-XF"]}}
    assert len(fire["applications"]) <= 2

    queued = next(a for a in listing(http, waiting.window, "status=SUBMITTED")
                  if a["id"] == waiting.id)
    accept_by = json.loads(http.get(f"/applications/{waiting.id}",
                                    headers=waiting.window).body)["deadlines"]["acceptBy"]
    assert queued["deadlines"] == {"acceptBy": accept_by}
