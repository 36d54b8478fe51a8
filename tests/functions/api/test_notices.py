"""告知 over the API: a whole journey leaves its notices in the applicant's inbox
(`GET /me/notices`, newest first, paged, unread counts, marking read), each once; the SMS
outbox holds the applicant's messages; the SMS provider's receipts are accepted only signed;
operators see the failed messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.providers import payment, sms
from tests.support.data import DEPARTMENTS, permit_body
from tests.support.journeys import Flow, status_is
from tests.support.people import enrolled_id_number, fresh_id_number
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

JOURNEY = ["APPLICATION_SUPPLEMENT", "APPLICATION_ACCEPTED", "APPLICATION_APPROVED",
           "APPLICATION_PAYMENT_ORDERED", "APPLICATION_PAID", "APPLICATION_CERTIFICATE_ISSUED",
           "APPLICATION_READY_FOR_PICKUP", "APPLICATION_COLLECTED"]
"""The construction permit's notices, in the order its steps happen (supplement, pickup)."""


class OwnFlow(Flow):
    """A `Flow` for an applicant of the test's own (their inbox holds only this journey)."""

    def __init__(self, http: Any, token: Any, cloud: Any, suffix: str) -> None:
        self.http, self.cloud = http, cloud
        self.id_number = enrolled_id_number(permit_body()["applicant"]["name"])
        self.citizen_sub = f"citizen-{suffix}"
        self.citizen = token(self.citizen_sub, "applicant", idNumber=self.id_number)
        self.window = token(f"window-{suffix}", "window")
        self.reviewers = {d: token(f"reviewer-{d}-{suffix}", "reviewer", dept=d)
                          for d in DEPARTMENTS}
        body = permit_body()
        body["applicant"] = {**body["applicant"], "idNumber": self.id_number}
        body["delivery"] = {"method": "PICKUP"}
        answer = http.post("/applications", headers=self.citizen, body=json.dumps(body))
        assert answer.status_code == 201, answer.body
        self.id = json.loads(answer.body)["id"]


def notices(flow: OwnFlow, query: str = "") -> dict[str, Any]:
    answer = flow.http.get(f"/me/notices{query}", headers=flow.citizen)
    assert answer.status_code == 200, answer.body
    return json.loads(answer.body)


def journey(flow: OwnFlow) -> None:
    """Supplement once, then accepted, approved, paid, collected at the window."""
    flow.upload("application-form")
    flow.submit()
    missing = ["land-documents", {"materialId": "site-plan", "reason": "比例尺不符"},
               "architectural-drawings", "fire-design"]
    assert flow.decide(flow.window, "SUPPLEMENT", "请一次性补齐以下材料",
                       missing=missing).status_code == 200
    status_is(flow, "NEEDS_SUPPLEMENT")
    for material in ("land-documents", "site-plan", "architectural-drawings", "fire-design"):
        flow.upload(material)
    eventually(lambda: flow.http.post(f"/applications/{flow.id}/supplement",
                                      headers=flow.citizen, body="{}").status_code == 202)
    assert flow.decide(flow.window, "ACCEPT", "材料齐全，予以受理").status_code == 200
    for department, headers in flow.reviewers.items():
        assert flow.decide(headers, "APPROVE", f"{department} 同意").status_code == 200
    order = status_is(flow, "AWAITING_PAYMENT")["pending"]["payment"]
    body, headers = payment.callback(order["orderId"], order["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    assert flow.http.post("/webhooks/payment", headers=headers, body=body).status_code == 200
    status_is(flow, "READY_FOR_PICKUP")
    assert flow.http.post(f"/applications/{flow.id}/pickup", headers=flow.window,
                          body=json.dumps({"collectedBy": "张伟"})).status_code == 200
    status_is(flow, "COMPLETED")


def test_a_journey_leaves_one_notice_per_step_in_the_applicants_inbox(
        http: Any, token: Any, cloud: Any) -> None:
    flow = OwnFlow(http, token, cloud, "notices-journey")
    journey(flow)
    inbox = eventually(lambda: (page := notices(flow, "?limit=100"))
                       and len(page["notices"]) >= len(JOURNEY) and page, timeout=60)
    kinds = [n["kind"] for n in inbox["notices"]]
    assert kinds == list(reversed(JOURNEY)), kinds  # newest first, each step once
    assert inbox["unread"] == len(JOURNEY) and inbox["nextToken"] is None
    assert all(n["applicationId"] == flow.id for n in inbox["notices"])
    supplement = inbox["notices"][-1]
    for name in ("土地", "建设工程设计方案总平面图", "比例尺不符", "消防"):
        assert name in supplement["body"], supplement["body"]
    payment_notice = next(n for n in inbox["notices"]
                          if n["kind"] == "APPLICATION_PAYMENT_ORDERED")
    assert "元" in payment_notice["body"] and "前缴纳" in payment_notice["body"]

    # Paged newest first: three pages of 3, 3 and 2, the same notices in the same order.
    seen, query = [], "?limit=3"
    while True:
        page = notices(flow, query)
        seen += [n["noticeId"] for n in page["notices"]]
        if not page["nextToken"]:
            break
        query = f"?limit=3&nextToken={page['nextToken']}"
    assert seen == [n["noticeId"] for n in inbox["notices"]]

    # Marking read: once counts, again changes nothing; not someone else's.
    newest = inbox["notices"][0]["noticeId"]
    read = http.post(f"/me/notices/{newest}/read", headers=flow.citizen)
    assert (read.status_code, json.loads(read.body)) == (200, {"marked": 1,
                                                              "unread": len(JOURNEY) - 1})
    again = http.post("/me/notices/read", headers=flow.citizen,
                      body=json.dumps({"noticeIds": [newest]}))
    assert json.loads(again.body) == {"marked": 0, "unread": len(JOURNEY) - 1}
    stranger = token("notices-stranger", "applicant", idNumber=fresh_id_number())
    assert http.post(f"/me/notices/{newest}/read", headers=stranger).status_code == 404
    assert http.post("/me/notices/123-nope/read", headers=flow.citizen).status_code == 404
    unread = notices(flow, "?unread=true&limit=100")
    assert newest not in [n["noticeId"] for n in unread["notices"]]
    assert len(unread["notices"]) == len(JOURNEY) - 1
    assert notices(flow)["notices"][0]["read"] is True

    # The SMS channel: the applicant's messages are in the outbox (held in quiet hours).
    from yiwang.messaging.sms import SmsRecord

    outbox = list(SmsRecord.scan((SmsRecord.application_id == flow.id)
                                 & SmsRecord.pk.startswith("SMS#")))
    assert sorted(r.kind for r in outbox) == sorted([
        "APPLICATION_SUPPLEMENT", "APPLICATION_ACCEPTED", "APPLICATION_PAYMENT_ORDERED",
        "APPLICATION_CERTIFICATE_ISSUED", "APPLICATION_READY_FOR_PICKUP"])
    assert all(r.status in {"QUEUED", "SENT", "DELIVERED"} for r in outbox)


def test_bad_paging_input_is_refused(http: Any, token: Any) -> None:
    me = token("notices-paging", "applicant", idNumber=fresh_id_number())
    for query in ("?limit=0", "?limit=101", "?nextToken=garbage", "?unread=maybe"):
        answer = http.get(f"/me/notices{query}", headers=me)
        assert answer.status_code == 400, (query, answer.body)
    empty = json.loads(http.get("/me/notices", headers=me).body)
    assert empty == {"notices": [], "unread": 0, "nextToken": None}
    bad = http.post("/me/notices/read", headers=me, body=json.dumps({"noticeIds": []}))
    assert bad.status_code == 400


def sent_sms(number: str, region: str | None = None) -> Any:
    """A message as the provider took it (sent, awaiting its receipt), about a record of
    `region` (None: one made before regions)."""
    import uuid

    from yiwang.messaging import sms as outbox
    from yiwang.messaging.derive import Delivery
    from yiwang.people.notices import Notice

    notice = Notice("APPLICANT#X", "APPLICATION_READY_FOR_PICKUP", "t", "b", "YW-RECEIPT",
                    notice_id=uuid.uuid4().hex)
    noon = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    outbox.enqueue(Delivery(notice, "sms", number, "SMS_APPLICATION_PICKUP",
                            {"applicationId": "YW-RECEIPT", "itemName": "许可"}, region), noon)

    class Provider:
        def send(self, reference: str, *_: Any) -> str:
            return f"M-{reference}"

    assert outbox.attempt(outbox.load(notice.notice_id), Provider(), noon) == "SENT"
    return outbox.load(notice.notice_id)


def test_receipts_are_accepted_only_signed(http: Any, token: Any) -> None:
    message = sent_sms("13900001111")
    forged_body, forged = sms.receipt(message.notice_id, message.message_id, "DELIVERED",
                                      secret="not-the-secret")
    assert http.post("/webhooks/sms", headers=forged, body=forged_body).status_code == 401
    body, headers = sms.receipt(message.notice_id, message.message_id, "FAILED",
                                secret=sms.LOCAL_SECRET, error="空号")
    answer = http.post("/webhooks/sms", headers=headers, body=body)
    assert (answer.status_code, json.loads(answer.body)["status"]) == (200, "FAILED")
    again = http.post("/webhooks/sms", headers=headers, body=body)
    assert again.status_code == 200  # a repeated receipt changes nothing
    unknown_body, unknown = sms.receipt("nope", "M-nope", "DELIVERED", secret=sms.LOCAL_SECRET)
    assert http.post("/webhooks/sms", headers=unknown, body=unknown_body).status_code == 404

    # The failure is the operators' to follow up; the number is masked.
    supervisor = token("notices-supervisor", "supervisor")
    failed = json.loads(http.get("/sms/failed?limit=100", headers=supervisor).body)["messages"]
    mine = next(m for m in failed if m["noticeId"] == message.notice_id)
    assert mine["phone"] == "*******1111" and mine["error"] == "空号"
    applicant = token("notices-applicant", "applicant", idNumber=fresh_id_number())
    assert http.get("/sms/failed", headers=applicant).status_code == 403


def test_a_failed_sms_is_shown_to_the_supervisors_of_its_region_only(
        http: Any, token: Any) -> None:
    tianhe, yuexiu, city = "440106", "440104", "440100"
    message = sent_sms("13900002222", region=tianhe)
    body, headers = sms.receipt(message.notice_id, message.message_id, "FAILED",
                                secret=sms.LOCAL_SECRET, error="空号")
    assert http.post("/webhooks/sms", headers=headers, body=body).status_code == 200

    def shown(who: dict[str, str]) -> dict[str, dict[str, Any]]:
        answer = http.get("/sms/failed?limit=100", headers=who)
        assert answer.status_code == 200, answer.body
        return {m["noticeId"]: m for m in json.loads(answer.body)["messages"]}

    county = shown(token("sms-sup-tianhe", "supervisor", region=tianhe))
    assert county[message.notice_id]["region"] == tianhe
    assert message.notice_id in shown(token("sms-sup-city", "supervisor", region=city))
    assert message.notice_id in shown(token("sms-admin", "admin"))
    assert message.notice_id not in shown(token("sms-sup-yuexiu", "supervisor", region=yuexiu))
    # A county's list holds only its own region and below: no message of another region, nor
    # of none (the default region, the city).
    from yiwang.regions import tree

    assert all(m["region"] and tree.within(m["region"], tianhe) for m in county.values())


def test_an_sms_goes_to_the_provider_signed_and_its_receipt_comes_back(http: Any) -> None:
    """The whole SMS channel over real HTTP: the outbox sends through the adapter to the
    simulator (signed request, registered template), which answers with a message id and
    sends a signed delivery receipt that the API records."""
    import threading
    import uuid

    from yiwang.messaging import sms as outbox
    from yiwang.messaging.derive import Delivery
    from yiwang.messaging.sms_provider import HttpSmsProvider
    from yiwang.people.notices import Notice

    server = sms.SmsServer(("127.0.0.1", 0), sms.handler_for(
        "http://api.invalid", sms.LOCAL_SECRET, None, sms.registered_templates()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        notice = Notice("APPLICANT#X", "APPLICATION_DISPATCHED", "t", "b", "YW-SMS",
                        notice_id=uuid.uuid4().hex)
        noon = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 12:00 Beijing time
        outbox.enqueue(Delivery(notice, "sms", "13900002222", "SMS_APPLICATION_DISPATCHED",
                                {"applicationId": "YW-SMS", "itemName": "许可",
                                 "carrier": "SF", "waybillNo": "SF123456789012"}), noon)
        provider = HttpSmsProvider(f"http://127.0.0.1:{server.server_address[1]}",
                                   sms.LOCAL_SECRET.encode())
        assert outbox.attempt(outbox.load(notice.notice_id), provider, noon) == "SENT"
        taken = server.messages[notice.notice_id]
        assert taken["variables"]["waybillNo"] == "SF123456789012"

        def to_api(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
            answer = http.post(url.removeprefix("http://api.invalid"), headers=headers,
                               body=body)
            return answer.status_code, answer.body.decode() if answer.body else ""

        status, _ = sms.send_receipt(notice.notice_id, taken["messageId"], "DELIVERED",
                                     api="http://api.invalid", send=to_api)
        assert status == 200
        assert outbox.load(notice.notice_id).status == "DELIVERED"
    finally:
        server.shutdown()
        server.server_close()


def test_a_complainant_is_told_of_each_step_of_their_complaint(http: Any, token: Any) -> None:
    from yiwang.messaging.sms import SmsRecord

    complainant = token("notices-complainant", "applicant", idNumber=fresh_id_number())
    reviewer = token("notices-zrzy", "reviewer", dept="GZ-ZRZY")
    filed = http.post("/complaints", headers=complainant, body=json.dumps({
        "category": "COMPLAINT", "channel": "WEB", "subject": "窗口答复不一致",
        "content": "两次咨询所需材料答复不同", "contact": {"name": "李四", "phone": "13600136000"},
        "department": "GZ-ZRZY"}, ensure_ascii=False))
    assert filed.status_code == 201, filed.body
    complaint_id = json.loads(filed.body)["id"]
    for step, body in (("accept", {}), ("resolve", {"result": "已统一材料清单并公开"})):
        moved = http.post(f"/complaints/{complaint_id}/{step}", headers=reviewer,
                          body=json.dumps(body, ensure_ascii=False))
        assert moved.status_code == 200, moved.body
    revisited = http.post(f"/complaints/{complaint_id}/revisit", headers=complainant,
                          body=json.dumps({"satisfied": True, "comment": "满意"},
                                          ensure_ascii=False))
    assert revisited.status_code == 200, revisited.body

    def told() -> list[str] | None:
        page = json.loads(http.get("/me/notices?limit=100", headers=complainant).body)
        kinds = [n["kind"] for n in page["notices"]]
        return kinds if "COMPLAINT_CLOSED" in kinds else None

    kinds = eventually(told, timeout=60)
    for kind in ("COMPLAINT_REGISTERED", "COMPLAINT_ACCEPTED", "COMPLAINT_CLOSED"):
        assert kinds.count(kind) == 1, kinds
    texts = [(r.kind, r.template) for r in SmsRecord.scan(
        (SmsRecord.phone == "13600136000") & SmsRecord.pk.startswith("SMS#"))
        if complaint_id in json.dumps(r.variables, ensure_ascii=False)]
    assert sorted(texts) == [("COMPLAINT_REGISTERED", "SMS_COMPLAINT_REGISTERED"),
                             ("COMPLAINT_RESOLVED", "SMS_COMPLAINT_RESOLVED")]
