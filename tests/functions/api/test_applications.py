"""办件 intake over HTTP: drafts validated against the item's schema, materials uploaded
straight to S3 with presigned URLs, submission starting the lifecycle once."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import requests

from tests.support.data import CITIZEN_ID, OTHER_ID, PDF, PERMIT, permit_body
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

def create(http: Any, headers: dict[str, str], body: dict[str, Any] | None = None,
           **extra: str) -> Any:
    return http.post("/applications", headers={**headers, **extra},
                     body=json.dumps(body or permit_body()))


def test_draft_is_created_with_the_item_version_and_an_audit_record(http: Any, token: Any) -> None:
    citizen = token("citizen-1", "applicant", idNumber=CITIZEN_ID)
    answer = create(http, citizen)
    assert answer.status_code == 201, answer.body
    draft = json.loads(answer.body)
    assert draft["status"] == "DRAFT"
    assert draft["itemCode"] == PERMIT and draft["itemVersion"] >= 1
    assert draft["applicant"]["idNumber"] == CITIZEN_ID  # the owner sees it in full
    assert [e["event"] for e in draft["timeline"]] == ["DRAFT_CREATED"]
    again = json.loads(http.get(f"/applications/{draft['id']}", headers=citizen).body)
    assert again["id"] == draft["id"]


def test_every_form_and_identity_error_is_listed_and_nothing_is_stored(
        http: Any, token: Any) -> None:
    citizen = token("citizen-2", "applicant", idNumber=CITIZEN_ID)
    body = permit_body()
    body["applicant"]["idNumber"] = "110105194912310021"  # wrong check character
    body["form"].pop("projectName")
    body["form"]["floorsAbove"] = 0
    body["form"]["landUsePermitNumber"] = "123"
    before = json.loads(http.get("/applications", headers=citizen).body)["applications"]
    answer = create(http, citizen, body)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(answer.body)
    assert problem["code"] == "VALIDATION_FAILED"
    paths = {e["path"] for e in problem["errors"]}
    assert {"applicant.idNumber", "form.projectName", "form.floorsAbove",
            "form.landUsePermitNumber"} <= paths
    listing = json.loads(http.get("/applications", headers=citizen).body)["applications"]
    assert all(a["applicant"]["idNumber"] == CITIZEN_ID for a in listing)
    # The list (newest first) is as it was: no draft was stored. (List rows are summaries;
    # the form is in the detail.)
    assert [a["id"] for a in listing] == [a["id"] for a in before]


def test_bad_json_is_a_validation_problem_not_a_500(http: Any, token: Any) -> None:
    citizen = token("citizen-3", "applicant", idNumber=CITIZEN_ID)
    answer = http.post("/applications", headers=citizen, body="{not json")
    assert answer.status_code == 400
    assert json.loads(answer.body)["code"] == "VALIDATION_FAILED"


def test_idempotency_key_returns_the_first_draft(http: Any, token: Any) -> None:
    citizen = token("citizen-4", "applicant", idNumber=CITIZEN_ID)
    first = create(http, citizen, **{"Idempotency-Key": "k-123"})
    second = create(http, citizen, **{"Idempotency-Key": "k-123"})
    assert first.status_code == second.status_code == 201
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"]
    changed = permit_body()
    changed["form"]["floorsAbove"] = 5
    conflict = create(http, citizen, changed, **{"Idempotency-Key": "k-123"})
    assert conflict.status_code == 409
    assert json.loads(conflict.body)["code"] == "CONFLICT"


def test_another_applicant_gets_404_and_staff_see_masked_identity(http: Any, token: Any) -> None:
    citizen = token("citizen-5", "applicant", idNumber=CITIZEN_ID)
    draft = json.loads(create(http, citizen).body)
    stranger = token("citizen-6", "applicant", idNumber=OTHER_ID)
    answer = http.get(f"/applications/{draft['id']}", headers=stranger)
    assert answer.status_code == 404
    assert json.loads(answer.body)["code"] == "NOT_FOUND"
    assert http.get("/applications/YW000", headers=stranger).status_code == 404
    supervisor = token("sup-1", "supervisor")
    seen = json.loads(http.get(f"/applications/{draft['id']}", headers=supervisor).body)
    assert seen["applicant"]["idNumber"] == "1101**********002X"
    assert seen["applicant"]["phone"] == "138****5678"


def test_applicants_apply_in_their_own_name(http: Any, token: Any) -> None:
    someone_else = token("citizen-7", "applicant", idNumber=OTHER_ID)
    answer = create(http, someone_else)
    assert answer.status_code == 403
    window = token("window-1", "window", dept="GZ-ZWFW")
    assert create(http, window).status_code == 201  # window staff apply on the citizen's behalf


def upload(http: Any, headers: dict[str, str], application_id: str, material: str,
           content: bytes, file_name: str = "总平面图.pdf", sha256: str | None = None) -> Any:
    plan = http.post(f"/applications/{application_id}/attachments", headers=headers,
                     body=json.dumps({"materialId": material, "fileName": file_name,
                                      "contentType": "application/pdf",
                                      "sizeBytes": len(content),
                                      "sha256": sha256 or hashlib.sha256(content).hexdigest()}))
    assert plan.status_code == 201, plan.body
    plan = json.loads(plan.body)
    assert len(plan["parts"]) == 1
    put = requests.put(plan["parts"][0]["url"], data=content,
                       headers={"Content-Type": "application/pdf"}, timeout=30)
    assert put.status_code == 200, put.text
    done = http.post(f"/applications/{application_id}/attachments/{plan['attachmentId']}"
                     f"/complete", headers=headers, body=json.dumps({"parts": [
                         {"partNumber": 1, "etag": put.headers["ETag"]}]}))
    assert done.status_code == 200, done.body
    return json.loads(done.body)


def test_uploaded_material_is_checked_against_its_declared_sha256(http: Any, token: Any) -> None:
    citizen = token("citizen-8", "applicant", idNumber=CITIZEN_ID)
    draft = json.loads(create(http, citizen).body)
    stored = upload(http, citizen, draft["id"], "site-plan", PDF)
    assert stored["status"] == "STORED"
    forged = upload(http, citizen, draft["id"], "application-form", PDF,
                    sha256=hashlib.sha256(b"something else").hexdigest())
    assert forged["status"] == "REJECTED"
    assert "SHA-256" in forged["problem"]
    not_pdf = upload(http, citizen, draft["id"], "fire-design", b"MZ\x90\x00" * 100)
    assert not_pdf["status"] == "REJECTED"
    seen = json.loads(http.get(f"/applications/{draft['id']}", headers=citizen).body)
    assert sorted(a["status"] for a in seen["attachments"]) == ["REJECTED", "REJECTED",
                                                                 "STORED"]


def test_upload_request_refuses_wrong_format_size_and_material(http: Any, token: Any) -> None:
    citizen = token("citizen-9", "applicant", idNumber=CITIZEN_ID)
    draft = json.loads(create(http, citizen).body)
    answer = http.post(f"/applications/{draft['id']}/attachments", headers=citizen,
                       body=json.dumps({"materialId": "application-form", "fileName": "a.exe",
                                        "contentType": "application/octet-stream",
                                        "sizeBytes": 30 * 1024 * 1024, "sha256": "abc"}))
    assert answer.status_code == 400
    paths = {e["path"] for e in json.loads(answer.body)["errors"]}
    assert paths == {"fileName", "sizeBytes", "sha256"}


def test_large_drawing_gets_multipart_urls(http: Any, token: Any) -> None:
    citizen = token("citizen-10", "applicant", idNumber=CITIZEN_ID)
    draft = json.loads(create(http, citizen).body)
    answer = http.post(f"/applications/{draft['id']}/attachments", headers=citizen,
                       body=json.dumps({"materialId": "site-plan", "fileName": "总平面图.dwg",
                                        "contentType": "image/vnd.dwg",
                                        "sizeBytes": 2 * 1024 ** 3, "sha256": "0" * 64}))
    plan = json.loads(answer.body)
    assert answer.status_code == 201
    assert plan["partSizeBytes"] == 64 * 1024 * 1024
    assert [p["partNumber"] for p in plan["parts"]] == list(range(1, 33))
    assert "uploadId=" in plan["parts"][0]["url"] and "partNumber=1" in plan["parts"][0]["url"]


def test_submit_starts_the_lifecycle_once(http: Any, token: Any, cloud: Any) -> None:
    citizen = token("citizen-11", "applicant", idNumber=CITIZEN_ID)
    draft = json.loads(create(http, citizen).body)
    upload(http, citizen, draft["id"], "site-plan", PDF)
    answer = http.post(f"/applications/{draft['id']}/submit", headers=citizen)
    assert answer.status_code == 202
    assert json.loads(answer.body)["status"] == "SUBMITTED"
    again = http.post(f"/applications/{draft['id']}/submit", headers=citizen)
    assert again.status_code == 202
    executions = cloud.client("stepfunctions").list_executions(
        stateMachineArn=cloud.outputs["LifecycleStateMachineArn"])["executions"]
    mine = [e for e in executions if e["name"] == draft["id"]]
    assert len(mine) == 1
    window = token("window-11", "window")
    queue = eventually(lambda: [t for t in json.loads(http.get("/tasks", headers=window).body)[
        "tasks"] if t["applicationId"] == draft["id"]], what="the window's task")
    checks = queue[0]["context"]["checks"]  # the window sees the automatic checks
    assert checks["outcome"] == "DEFECTS"
    assert {d["materialId"] for d in checks["defects"]} == {
        "application-form", "land-documents", "architectural-drawings", "fire-design"}
    seen = json.loads(http.get(f"/applications/{draft['id']}", headers=citizen).body)
    # The upload is on the trail: who completed it (全程留痕).
    assert [e["event"] for e in seen["timeline"]] == ["DRAFT_CREATED", "UPLOAD_COMPLETED",
                                                      "SUBMITTED"]
    assert seen["timeline"][1]["actor"] == "citizen-11"
    assert seen["timeline"][2]["detail"] == {"from": "DRAFT", "to": "SUBMITTED"}
    # Times as every answer shows them (Asia/Shanghai), the timeline's as the complaints' are.
    assert all(e["at"].endswith("+08:00") for e in seen["timeline"])
    assert seen["createdAt"].endswith("+08:00") and seen["submittedAt"].endswith("+08:00")
