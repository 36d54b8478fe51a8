"""上报件 end to end on the local cloud, the lifecycle executing: the 沙河社区 window (a village)
accepts the city-level 残疾人证 application, the case goes up with its materials to the city's
departments, which decide; the certificate is issued and comes back down, and the village
window hands it over. Each hop audited, each level's step clocks inside the one promise; a
window of another village sees nothing of it, the city's reviewers nothing before it went up."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import requests

from tests.support.data import DISABILITY_CARD
from tests.support.journeys import Flow, status_is
from tests.support.people import enrolled_id_number
from tests.support.polling import eventually

VILLAGE, OTHER_VILLAGE, CITY = "440106001001", "440106005002", "440100"
"""沙河社区 (where the applicant lives), 华师社区 (another village of 天河区), 广州市."""
CITY_DEPARTMENTS = ["GZ-CL", "GZ-WJ"]
MATERIALS = {"identity": ("identity.pdf", "application/pdf", b"%PDF-1.7\n"),
             "photo": ("photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0"),
             "assessment": ("assessment.pdf", "application/pdf", b"%PDF-1.7\n")}


def body(id_number: str, region: str = VILLAGE) -> dict[str, Any]:
    return {
        "itemCode": DISABILITY_CARD, "region": region,
        "applicant": {"kind": "PERSON", "name": "张伟", "idNumber": id_number,
                      "phone": "13812345678"},
        "form": {"name": "张伟", "idNumber": id_number, "disabilityCategory": "肢体",
                 "address": "广州市天河区沙河街道沙河社区1号", "phone": "13812345678"},
        "delivery": {"method": "PICKUP"},
    }


class EscalatedFlow(Flow):
    """The 残疾人证 application of a fresh applicant, at the 沙河社区 window."""

    def __init__(self, http: Any, token: Any, cloud: Any) -> None:
        suffix = f"esc-{uuid.uuid4().hex[:6]}"
        self.http, self.cloud = http, cloud
        self.id_number = enrolled_id_number("张伟")
        self.citizen_sub = f"citizen-{suffix}"
        self.citizen = token(self.citizen_sub, "applicant", idNumber=self.id_number)
        self.reviewers = {d: token(f"reviewer-{d}-{suffix}", "reviewer", dept=d)
                          for d in CITY_DEPARTMENTS}
        answer = http.post("/applications", headers=self.citizen,
                           body=json.dumps(body(self.id_number)))
        assert answer.status_code == 201, answer.body
        self.id = json.loads(answer.body)["id"]
        self.window = token(f"window-village-{suffix}", "window", region=VILLAGE)
        self.other_window = token(f"window-other-{suffix}", "window", region=OTHER_VILLAGE)

    def upload_all(self) -> None:
        for material, (name, content_type, head) in MATERIALS.items():
            content = head + material.encode() * 100
            plan = json.loads(self.http.post(
                f"/applications/{self.id}/attachments", headers=self.citizen, body=json.dumps({
                    "materialId": material, "fileName": name, "contentType": content_type,
                    "sizeBytes": len(content),
                    "sha256": hashlib.sha256(content).hexdigest()})).body)
            put = requests.put(plan["parts"][0]["url"], data=content,
                               headers={"Content-Type": content_type}, timeout=30)
            done = self.http.post(
                f"/applications/{self.id}/attachments/{plan['attachmentId']}/complete",
                headers=self.citizen,
                body=json.dumps({"parts": [{"partNumber": 1, "etag": put.headers["ETag"]}]}))
            assert json.loads(done.body)["status"] == "STORED", done.body

    def get(self, headers: dict[str, str]) -> Any:
        return self.http.get(f"/applications/{self.id}", headers=headers)


def events(view: dict[str, Any]) -> list[str]:
    return [entry["event"] for entry in view["timeline"]]


def test_a_village_window_accepts_a_city_item_and_delivers_the_certificate_that_comes_down(
        http: Any, token: Any, cloud: Any) -> None:
    flow = EscalatedFlow(http, token, cloud)
    flow.upload_all()
    flow.submit()
    task = flow.task(flow.window)
    # Not sent up yet: the city's departments see nothing; the other village's window neither
    # sees the case, nor its acceptance task, nor may decide it.
    lead = flow.reviewers["GZ-CL"]
    assert flow.get(lead).status_code == 404
    assert flow.get(flow.other_window).status_code == 404
    others = json.loads(http.get("/tasks?status=PENDING", headers=flow.other_window).body)
    assert flow.id not in {t["applicationId"] for t in others["tasks"]}
    refused = http.post(f"/tasks/{task['taskId']}/decision", headers=flow.other_window,
                        body=json.dumps({"decision": "ACCEPT", "opinion": "受理"}))
    assert refused.status_code == 404, refused.body

    assert flow.decide(flow.window, "ACCEPT", "材料齐全，予以受理并上报").status_code == 200
    up = status_is(flow, "IN_REVIEW")
    assert up["escalation"]["now"] == {"side": "HANDLING", "code": CITY, "name": "广州市",
                                       "level": "CITY"}
    hop = up["escalation"]["hops"][0]
    assert (hop["event"], hop["from"], hop["to"], hop["round"]) == (
        "ESCALATED_UP", VILLAGE, CITY, 1)
    stored = {a["attachmentId"] for a in up["attachments"] if a["status"] == "STORED"}
    assert {a["attachmentId"] for a in hop["attachments"]} == stored  # the materials went up
    assert {a["materialId"] for a in hop["attachments"]} == set(MATERIALS)
    assert flow.get(lead).status_code == 200  # gone up: the city's departments handle it

    for department, headers in flow.reviewers.items():
        assert flow.decide(headers, "APPROVE", f"{department} 审核同意").status_code == 200
    down = status_is(flow, "READY_FOR_PICKUP")
    number = down["certificate"]["number"]
    hop = down["escalation"]["hops"][1]
    assert (hop["event"], hop["from"], hop["to"], hop["outcome"], hop["certificateNumber"]) \
        == ("RETURNED_DOWN", CITY, VILLAGE, "APPROVED", number)
    assert down["escalation"]["now"]["side"] == "ACCEPTING"
    assert down["escalation"]["now"]["code"] == VILLAGE

    # Another village's window may neither see it, nor its certificate, nor hand it over;
    # the village's own does.
    assert flow.get(flow.other_window).status_code == 404
    certificate = f"/certificates/{number}"
    assert http.get(certificate, headers=flow.other_window).status_code == 404
    assert http.get(certificate, headers=flow.window).status_code == 200
    pickup = {"collectedBy": "张伟"}
    assert http.post(f"/applications/{flow.id}/pickup", headers=flow.other_window,
                     body=json.dumps(pickup)).status_code == 404
    handed = http.post(f"/applications/{flow.id}/pickup", headers=flow.window,
                       body=json.dumps(pickup))
    assert handed.status_code == 200, handed.body
    done = status_is(flow, "COMPLETED")
    assert flow.ended_at() == "Completed"

    # Each hop audited, in the order the case went.
    trail = [e for e in events(done) if e in {
        "SUBMITTED", "PRE_REVIEW_ACCEPT", "ESCALATED_UP", "REVIEW_STARTED", "APPROVED",
        "CERTIFICATE_ISSUED", "RETURNED_DOWN", "READY_FOR_PICKUP", "COLLECTED"}]
    assert trail == ["SUBMITTED", "PRE_REVIEW_ACCEPT", "ESCALATED_UP", "REVIEW_STARTED",
                     "APPROVED", "CERTIFICATE_ISSUED", "RETURNED_DOWN", "READY_FOR_PICKUP",
                     "COLLECTED"]
    audited = {e["event"]: e for e in done["timeline"]}
    assert audited["ESCALATED_UP"]["detail"]["fromRegion"] == VILLAGE
    assert audited["ESCALATED_UP"]["detail"]["toRegion"] == CITY
    assert set(audited["ESCALATED_UP"]["detail"]["attachments"]) == stored
    assert audited["RETURNED_DOWN"]["detail"]["certificateNumber"] == number

    # Each level's steps on their own clocks, all stopped, inside the one promise.
    clocks = {c["clock"]: c for c in done["escalation"]["clocks"]}
    assert {name: (c["side"], c["region"]) for name, c in clocks.items()} == {
        "ACCEPTANCE": ("ACCEPTING", VILLAGE), "ESCALATION_UP": ("ACCEPTING", VILLAGE),
        "REVIEW#GZ-CL": ("HANDLING", CITY), "REVIEW#GZ-WJ": ("HANDLING", CITY),
        "CERTIFICATE": ("HANDLING", CITY), "DELIVERY_DOWN": ("ACCEPTING", VILLAGE)}
    assert all(c["status"] == "STOPPED" for c in clocks.values())
    assert (clocks["ESCALATION_UP"]["limitDays"], clocks["DELIVERY_DOWN"]["limitDays"]) == (1, 3)
    promise = done["promise"]
    assert (promise["status"], promise["promisedDays"]) == ("STOPPED", 15)
    for name in ("ESCALATION_UP", "REVIEW#GZ-CL", "REVIEW#GZ-WJ", "CERTIFICATE"):
        assert clocks[name]["deadline"] <= promise["promisedBy"], name

    # The applicant is told when the case goes up and when the result comes down.
    def told() -> list[str] | None:
        inbox = json.loads(http.get("/me/notices", headers=flow.citizen).body)["notices"]
        titles = [n["title"] for n in inbox if n.get("applicationId") == flow.id]
        return titles if any("已下发" in t for t in titles) else None

    titles = eventually(told)
    assert f"办件 {flow.id} 已上报广州市" in titles
    assert f"办件 {flow.id} 审批结果已下发沙河社区" in titles


def test_a_refusal_above_comes_down_and_a_case_is_accepted_only_where_the_item_says(
        http: Any, token: Any, cloud: Any) -> None:
    flow = EscalatedFlow(http, token, cloud)
    flow.upload_all()
    flow.submit()
    assert flow.decide(flow.window, "ACCEPT", "予以受理").status_code == 200
    assert flow.decide(flow.reviewers["GZ-CL"], "REJECT", "不符合评残标准").status_code == 200
    assert flow.decide(flow.reviewers["GZ-WJ"], "APPROVE", "同意").status_code == 200
    view = status_is(flow, "REJECTED")
    view = eventually(lambda: (v := flow.view())["escalation"]["now"]["side"] == "ACCEPTING"
                      and v)
    hop = view["escalation"]["hops"][-1]
    assert (hop["event"], hop["to"], hop["outcome"]) == ("RETURNED_DOWN", VILLAGE, "REJECTED")
    assert "certificateNumber" not in hop
    assert flow.ended_at() == "Rejected"

    # A city-level item accepted at 街道/社区 windows only: not drafted at the city itself.
    applicant = token(f"citizen-city-{uuid.uuid4().hex[:6]}", "applicant",
                      idNumber=flow.id_number)
    refused = http.post("/applications", headers=applicant,
                        body=json.dumps(body(flow.id_number, region=CITY)))
    assert refused.status_code == 400, refused.body
    assert [e["path"] for e in json.loads(refused.body)["errors"]] == ["region"]


def test_a_supplement_asked_for_above_comes_back_through_the_village_and_goes_up_again(
        http: Any, token: Any, cloud: Any) -> None:
    flow = EscalatedFlow(http, token, cloud)
    flow.upload_all()
    flow.submit()
    assert flow.decide(flow.window, "ACCEPT", "予以受理").status_code == 200
    asked = flow.decide(flow.reviewers["GZ-WJ"], "SUPPLEMENT", "评定表缺少医师签章",
                        missing=[{"materialId": "assessment", "reason": "缺少医师签章"}])
    assert asked.status_code == 200, asked.body
    assert flow.decide(flow.reviewers["GZ-CL"], "APPROVE", "同意").status_code == 200
    waiting = status_is(flow, "NEEDS_SUPPLEMENT")
    assert waiting["escalation"]["now"]["side"] == "ACCEPTING"  # with the applicant
    eventually(lambda: http.post(f"/applications/{flow.id}/supplement", headers=flow.citizen,
                                 body="{}").status_code == 202)
    assert flow.decide(flow.window, "ACCEPT", "补正齐全，再次上报").status_code == 200
    again = eventually(lambda: len((v := flow.view())["escalation"]["hops"]) == 2 and v)
    assert [(h["event"], h["round"]) for h in again["escalation"]["hops"]] == [
        ("ESCALATED_UP", 1), ("ESCALATED_UP", 2)]
    for department, headers in flow.reviewers.items():
        assert flow.decide(headers, "APPROVE", f"{department} 同意").status_code == 200
    down = status_is(flow, "READY_FOR_PICKUP")
    assert [(h["event"], h["round"]) for h in down["escalation"]["hops"]] == [
        ("ESCALATED_UP", 1), ("ESCALATED_UP", 2), ("RETURNED_DOWN", 2)]
    forward = next(c for c in down["escalation"]["clocks"] if c["clock"] == "ESCALATION_UP")
    assert forward["status"] == "STOPPED"  # the second round's forwarding, done
