"""个人信息访问留痕: staff reads of an application's or a complaint's personal data leave an
access record (who, whose, when, why); the applicant reading their own leaves none; supervisors
query the records by subject and by staff member, the subject always masked."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.support.aws import calls
from tests.support.data import CITIZEN_ID
from tests.support.journeys import Flow

pytestmark = pytest.mark.integration


def records_of(application_id: str) -> list[Any]:
    from yiwang.people.access_log import AccessRecord, applicant_subject

    return [r for r in AccessRecord.query(AccessRecord.key(applicant_subject(CITIZEN_ID)))
            if r.resource_id == application_id]


def access_log(http: Any, headers: dict[str, str], query: str) -> Any:
    return http.get(f"/supervision/access-log?{query}", headers=headers)


def test_a_staff_read_is_recorded_and_the_applicants_own_is_not(
        http: Any, token: Any, cloud: Any) -> None:
    flow = Flow(http, token, cloud, "access-log-1")
    assert flow.view()["id"] == flow.id  # the applicant reads their own
    assert records_of(flow.id) == []
    flow.submit()
    assert flow.decide(flow.window, "ACCEPT", "受理").status_code == 200
    reviewer = flow.reviewers["GZ-ZJ"]
    flow.task(reviewer)
    # A warm API process has read the application's item version before (it is kept per
    # process, being immutable); on the embedded cloud the functions, sharing this process,
    # have read it already, elsewhere the API process reads it here first.
    from yiwang.catalogue import items

    shown = flow.view()
    items.get_item(shown["itemCode"], shown["itemVersion"])
    before = datetime.now().astimezone()
    with calls() as made:
        seen = http.get(f"/applications/{flow.id}", headers=reviewer)
    assert seen.status_code == 200, seen.body
    assert made == ["dynamodb.Query", "dynamodb.PutItem"]  # the case file, then the record
    [record] = records_of(flow.id)
    assert (record.staff, record.role, record.department) == (
        "reviewer-GZ-ZJ-access-log-1", "reviewer", "GZ-ZJ")
    assert (record.resource_kind, record.purpose) == ("application", "CASE_HANDLING")
    assert record.at >= before and record.expires_at > before.timestamp() + 365 * 86400

    stated = {**flow.window, "X-Access-Purpose": "supervision"}
    assert http.get(f"/applications/{flow.id}", headers=stated).status_code == 200
    assert sorted(r.purpose for r in records_of(flow.id)) == ["CASE_HANDLING", "SUPERVISION"]
    refused = http.get(f"/applications/{flow.id}",
                       headers={**flow.window, "X-Access-Purpose": "CURIOSITY"})
    assert refused.status_code == 400
    assert json.loads(refused.body)["code"] == "VALIDATION_FAILED"
    assert len(records_of(flow.id)) == 2  # nothing read, nothing recorded
    assert flow.view()["id"] == flow.id
    assert len(records_of(flow.id)) == 2


def test_supervisors_query_by_subject_and_by_staff_with_the_subject_masked(
        http: Any, token: Any, cloud: Any) -> None:
    flow = Flow(http, token, cloud, "access-log-2")
    flow.submit()
    flow.task(flow.window)
    for _ in range(3):
        assert http.get(f"/applications/{flow.id}", headers=flow.window).status_code == 200
    supervisor = token("supervisor-access-log", "supervisor")
    staff = "window-access-log-2"

    by_staff = access_log(http, supervisor, f"staff={staff}&limit=2")
    assert by_staff.status_code == 200, by_staff.body
    first = json.loads(by_staff.body)
    assert len(first["records"]) == 2 and "nextToken" in first
    rest = json.loads(access_log(http, supervisor,
                                 f"staff={staff}&limit=2&nextToken={first['nextToken']}").body)
    found = first["records"] + rest["records"]
    assert len(found) == 3 and "nextToken" not in rest
    assert [r["at"] for r in found] == sorted((r["at"] for r in found), reverse=True)
    assert found[0] == {
        "at": found[0]["at"],
        "staff": {"sub": staff, "role": "window", "department": None},
        "subject": {"kind": "APPLICANT", "id": "1101**********002X"},
        "resource": {"kind": "application", "id": flow.id},
        "purpose": "CASE_HANDLING"}
    assert CITIZEN_ID not in by_staff.body.decode() and CITIZEN_ID not in json.dumps(rest)

    by_subject = access_log(http, supervisor, f"subject={CITIZEN_ID.lower()}&staff={staff}")
    assert by_subject.status_code == 200, by_subject.body
    assert json.loads(by_subject.body)["records"] == found
    assert CITIZEN_ID not in by_subject.body.decode()
    anyone = json.loads(access_log(http, token("admin-access-log", "admin"),
                                   f"subject={CITIZEN_ID}&limit=100").body)["records"]
    assert {r["resource"]["id"] for r in anyone} >= {flow.id}

    # Bad questions are 400s, every error listed; a token from another query is refused.
    assert access_log(http, supervisor, "").status_code == 400
    assert access_log(http, supervisor, "subject=110105194912310021").status_code == 400
    assert access_log(http, supervisor, "staff=x&limit=0").status_code == 400
    assert access_log(http, supervisor, f"staff=other&nextToken={first['nextToken']}"
                      ).status_code == 400


def test_only_supervisors_and_administrators_read_the_access_log(
        http: Any, token: Any) -> None:
    for role, claims in (("applicant", {"idNumber": CITIZEN_ID}), ("window", {}),
                         ("reviewer", {"dept": "GZ-ZJ"})):
        answer = access_log(http, token(f"{role}-access-log-3", role, **claims),
                            f"subject={CITIZEN_ID}")
        assert answer.status_code == 403, (role, answer.body)
        assert json.loads(answer.body)["code"] == "FORBIDDEN"


def test_a_staff_list_records_each_row_and_the_applicants_own_list_none(
        http: Any, token: Any, cloud: Any) -> None:
    flow = Flow(http, token, cloud, "access-log-4")
    assert http.get("/applications", headers=flow.citizen).status_code == 200
    assert records_of(flow.id) == []
    flow.submit()
    flow.task(flow.window)
    listed = json.loads(http.get("/applications?status=SUBMITTED&limit=100",
                                 headers=flow.window).body)["applications"]
    assert flow.id in {row["id"] for row in listed}
    [record] = records_of(flow.id)
    assert (record.staff, record.resource_kind) == ("window-access-log-4", "application")


def test_a_handling_departments_complaint_read_is_recorded(http: Any, token: Any) -> None:
    from yiwang.people.access_log import AccessRecord, complainant_subject

    citizen = token("complainant-access-log-5", "applicant", idNumber=CITIZEN_ID)
    answer = http.post("/complaints", headers=citizen, body=json.dumps({
        "category": "COMPLAINT", "channel": "WEB", "subject": "办事排队时间过长",
        "content": "窗口只开了一个，等了两个小时。", "contact": "13800138000",
        "department": "GZ-SCJG"}, ensure_ascii=False))
    assert answer.status_code == 201, answer.body
    complaint = json.loads(answer.body)["id"]
    assert http.get(f"/complaints/{complaint}", headers=citizen).status_code == 200
    other = token("reviewer-GZ-GA-access-log-5", "reviewer", dept="GZ-GA")
    assert http.get(f"/complaints/{complaint}", headers=other).status_code == 404  # not theirs
    handler = token("reviewer-GZ-SCJG-access-log-5", "reviewer", dept="GZ-SCJG")
    assert json.loads(http.get(f"/complaints/{complaint}", headers=handler).body)["contact"]
    found = list(AccessRecord.query(AccessRecord.key(
        complainant_subject("complainant-access-log-5", complaint))))
    assert [(r.staff, r.resource_kind, r.resource_id, r.purpose) for r in found] == [
        ("reviewer-GZ-SCJG-access-log-5", "complaint", complaint, "COMPLAINT_HANDLING")]
