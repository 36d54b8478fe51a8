"""`make demo`: a whole construction-permit application (建设工程规划许可证) against `make run`.

Plays the portal (a citizen), the window, three departments, the payment provider and the
courier over HTTP, printing each step, until the certificate is verified. Then what follows
completion: the citizen rates the service (好差评), a supervisor looks at the cards and the
statistics by department, and a complaint about the application is routed to its lead
department, accepted, resolved and revisited (satisfied). Last, the citizen's inbox: the
notices every step sent (告知). Then the theme path (一件事一次办, `infra.demo_themes`):
opening a restaurant, three items on one form, one payment, one pickup.
Usage: `python -m infra.demo [--api http://127.0.0.1:8000]`.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from infra.providers import courier, payment

PERMIT = "11440100MB2D00127W-XK-0007"
CITIZEN_ID = "11010519491231002X"
DEPARTMENTS = {"GZ-ZRZY": "市规划和自然资源局", "GZ-ZJ": "市住房和城乡建设局",
               "GZ-XF": "市消防救援支队"}
MATERIALS = ["application-form", "land-documents", "site-plan", "architectural-drawings",
             "fire-design"]


APPLICATION = {
    "itemCode": PERMIT,
    "applicant": {"kind": "PERSON", "name": "张伟", "idNumber": CITIZEN_ID,
                  "phone": "13812345678"},
    "form": {
        "projectName": "天河区珠江新城幼儿园改扩建工程",
        "projectCode": "2026-440106-47-01-123456",
        "constructionUnit": "广州市天河区教育局",
        "siteAddress": "广州市天河区珠江新城华夏路16号",
        "landUsePermitNumber": "地字第440106202600123号",
        "useType": "公共管理与公共服务",
        "siteAreaM2": 5200.5, "totalFloorAreaM2": 8600, "buildingHeightM": 18.5,
        "floorsAbove": 4, "contactName": "张伟", "phone": "13812345678",
    },
    "delivery": {"method": "COURIER", "address": "广州市天河区华夏路16号 张伟 13812345678"},
}


class Portal:
    """A signed-in caller of the API."""

    def __init__(self, api: str, sub: str, role: str, **claims: str) -> None:
        self.api = api
        answer = requests.post(f"{api}/dev/token", json={"sub": sub, "role": role, **claims},
                               timeout=10)
        answer.raise_for_status()
        self.headers = {"Authorization": f"Bearer {answer.json()['token']}"}

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        answer = requests.request(method, f"{self.api}{path}", json=body, headers=self.headers,
                                  timeout=30)
        if answer.status_code != expect:
            raise SystemExit(f"{method} {path} answered {answer.status_code}: {answer.text}")
        return answer.json()


def step(text: str) -> None:
    print(f"• {text}", flush=True)


def eventually(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.3)
    raise SystemExit(f"gave up waiting for {what}")


def upload(citizen: Portal, application_id: str, material: str,
           about: str = "建设工程规划许可证申请材料") -> None:
    """One material, uploaded straight to S3 through its presigned part, then completed."""
    content = b"%PDF-1.7\n" + f"{material} {about}".encode() * 200
    plan = citizen.call("POST", f"/applications/{application_id}/attachments", {
        "materialId": material, "fileName": f"{material}.pdf", "contentType": "application/pdf",
        "sizeBytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}, expect=201)
    put = requests.put(plan["parts"][0]["url"], data=content,
                       headers={"Content-Type": "application/pdf"}, timeout=30)
    put.raise_for_status()
    done = citizen.call("POST", f"/applications/{application_id}/attachments/"
                        f"{plan['attachmentId']}/complete",
                        {"parts": [{"partNumber": 1, "etag": put.headers["ETag"]}]})
    step(f"  uploaded {material}: {done['status']} (straight to S3, presigned)")


def decide(who: Portal, application_id: str, decision: str, opinion: str) -> None:
    def my_task() -> dict[str, Any] | None:
        return next((t for t in who.call("GET", "/tasks?status=PENDING")["tasks"]
                     if t["applicationId"] == application_id), None)

    task = eventually(my_task, "a task")
    who.call("POST", f"/tasks/{task['taskId']}/decision",
             {"decision": decision, "opinion": opinion})


def status_is(citizen: Portal, application_id: str, *statuses: str) -> Callable[[], Any]:
    def probe() -> dict[str, Any] | None:
        view = citizen.call("GET", f"/applications/{application_id}")
        return view if view["status"] in statuses else None
    return probe


def rate(citizen: Portal, application_id: str) -> None:
    rating = citizen.call("POST", f"/applications/{application_id}/rating",
                          {"level": 5, "comment": "网上申请、并联审批，证照寄到家，一次都没跑"},
                          expect=201)
    step(f"citizen rates the service (好差评): {rating['level']} {rating['levelName']}, "
         f"{rating['status']}, for {rating['department']}")


def ratings_of(supervisor: Portal, department: str) -> int:
    table = supervisor.call("GET", "/stats/applications?groupBy=department")
    return next((g["ratings"] for g in table["groups"] if g["group"] == department), 0)


def supervise(supervisor: Portal, department: str, rated_before: int) -> None:
    cards = supervisor.call("GET", "/supervision/cards")["cards"]
    step(f"supervisor: {len(cards)} open yellow/red cards (电子监察)")
    for card in cards[:5]:
        step(f"  {card['level']} {card['step']} {card['department']} {card['subject']}, "
             f"due {card['deadline']}")

    eventually(lambda: ratings_of(supervisor, department) > rated_before,
               "the rating in the statistics (from the table's stream)")
    table = supervisor.call("GET", "/stats/applications?groupBy=department")
    step(f"supervisor: statistics by department, {table['from']} to {table['to']} (统计)")
    print(f"    {'department':<10} {'count':>5} {'done':>4} {'days':>5} {'on time':>7} "
          f"{'rated':>5} {'avg':>4} {'satisfied':>9} {'cards':>5}")

    def share(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    for row in [*table["groups"], table["total"]]:
        days, average = row["averageWorkingDays"], row["averageRating"]
        line = (f"    {row['group']:<10} {row['count']:>5} {row['completed']:>4} "
                f"{'—' if days is None else f'{days:.2f}':>5} {share(row['onTimeRate']):>7} "
                f"{row['ratings']:>5} {'—' if average is None else f'{average:.1f}':>4} "
                f"{share(row['satisfiedRate']):>9} {row['yellowCards'] + row['redCards']:>5}  "
                f"{DEPARTMENTS.get(row['group'], '')}")
        print(line.rstrip())


def complain(citizen: Portal, reviewers: dict[str, Portal], application_id: str) -> str:
    filed = citizen.call("POST", "/complaints", {
        "category": "COMPLAINT", "channel": "WEB", "subject": "证照寄出前未确认收件时间",
        "content": f"办件 {application_id} 的许可证快递寄出前没有电话确认收件时间，"
                   f"希望寄送前先联系申请人。", "applicationId": application_id,
        "contact": {"name": "张伟", "phone": "13812345678"}}, expect=201)
    complaint_id, department = filed["id"], filed["department"]
    step(f"citizen complains about {application_id} (投诉): {complaint_id}, routed at once to "
         f"{department}, due {filed['dueAt']}")
    handler = reviewers[department]
    moved = handler.call("POST", f"/complaints/{complaint_id}/accept", {})
    step(f"  {DEPARTMENTS[department]} accepts it (签收): {moved['status']}")
    moved = handler.call("POST", f"/complaints/{complaint_id}/resolve",
                         {"result": "已与申请人联系并致歉；今后证照寄出前一律电话确认收件时间"})
    step(f"  {DEPARTMENTS[department]} resolves it (办结): {moved['status']}")
    moved = citizen.call("POST", f"/complaints/{complaint_id}/revisit",
                         {"satisfied": True, "comment": "满意"})
    step(f"  citizen revisits (回访), satisfied: {moved['status']}")
    for event in moved["history"]:
        print(f"    {event['at']}  {event['event']:<22} {event.get('actor', '')}")
    return str(moved["status"])


def inbox(citizen: Portal, application_id: str) -> int:
    """The citizen's inbox (站内信) as the portal shows it: this application's notices, oldest
    first (the stream files them a moment after each step); how many there are."""
    def arrived() -> Any:
        page = citizen.call("GET", "/me/notices?limit=100")
        mine = [n for n in page["notices"] if n.get("applicationId") == application_id]
        return (page, mine) if any(n["kind"] == "COMPLAINT_CLOSED" for n in mine) else None

    page, mine = eventually(arrived, "the notices")
    step(f"citizen's inbox: {len(mine)} notices about {application_id} "
         f"({page['unread']} unread in all)")
    for notice in reversed(mine):
        print(f"    {notice['at'][:19]}  {notice['title']}")
        print(f"        {notice['body']}")
    return len(mine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.demo", description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    api = parser.parse_args(argv).api
    citizen = Portal(api, "citizen-zhangwei", "applicant", idNumber=CITIZEN_ID)
    window = Portal(api, "window-01", "window")
    reviewers = {code: Portal(api, f"reviewer-{code}", "reviewer", dept=code)
                 for code in DEPARTMENTS}

    item = requests.get(f"{api}/items/{PERMIT}", timeout=10).json()
    step(f"catalogue: {item['name']} v{item['version']}, lead {item['leadDepartment']}, "
         f"with {', '.join(item['coDepartments'])}; fee {item['feeFen'] / 100:.2f} 元")
    draft = citizen.call("POST", "/applications", APPLICATION, expect=201)
    application_id = draft["id"]
    step(f"citizen drafts application {application_id} ({draft['status']})")
    for material in MATERIALS:
        upload(citizen, application_id, material)
    citizen.call("POST", f"/applications/{application_id}/submit", expect=202)
    step("citizen submits; the lifecycle execution starts")

    decide(window, application_id, "ACCEPT", "材料齐全，符合法定形式，予以受理")
    view = eventually(status_is(citizen, application_id, "IN_REVIEW"), "review")
    step(f"window accepts (受理); accept-by was {view['deadlines']['acceptBy']}")
    for code, name in DEPARTMENTS.items():
        decide(reviewers[code], application_id, "APPROVE", f"{name}：同意")
        step(f"  {name} approves (并联审批)")

    view = eventually(status_is(citizen, application_id, "AWAITING_PAYMENT"), "the fee")
    order = view["pending"]["payment"]
    step(f"fee due: order {order['orderId']}, {order['amountFen'] / 100:.2f} 元, "
         f"pay at {order['payUrl']}")
    status, answer = payment.pay(order["orderId"], order["amountFen"], api=api)
    step(f"payment provider calls back (signed): {status} {answer}")

    view = eventually(status_is(citizen, application_id, "DISPATCHED", "READY_FOR_PICKUP"),
                      "the certificate")
    number = view["certificate"]["number"]
    step(f"certificate issued: {number}")
    waybill = view["delivery"]["waybillNo"]
    step(f"dispatched by courier, waybill {waybill}")
    for event, status, answer in courier.journey(waybill, api=api):
        step(f"  courier event {event}: {status} {answer}")
    view = eventually(status_is(citizen, application_id, "COMPLETED"), "completion")
    step(f"application {application_id} is {view['status']}")
    for event in view["timeline"]:
        print(f"    {event['at']}  {event['event']:<22} {event['actor']}")

    envelope = citizen.call("GET", f"/certificates/{number}")
    verdict = requests.post(f"{api}/certificates/verify", json=envelope, timeout=10).json()
    step(f"certificate verifies: {verdict}")
    envelope["document"]["holder"]["name"] += "改"  # one changed character
    tampered = requests.post(f"{api}/certificates/verify", json=envelope, timeout=10).json()
    step(f"a changed byte does not: {tampered}")

    supervisor = Portal(api, "supervisor-01", "supervisor")
    rated_before = ratings_of(supervisor, item["leadDepartment"])
    rate(citizen, application_id)
    supervise(supervisor, item["leadDepartment"], rated_before)
    closed = complain(citizen, reviewers, application_id) == "CLOSED"
    told = inbox(citizen, application_id) > 0
    from infra import demo_sharing  # 证照库、法人库: a company applies with fewer files

    before, after = demo_sharing.run(api)
    agency_held = demo_sharing.agent_path(api)  # 授权代办: an agent applies for the citizen
    from infra import demo_themes  # 一件事一次办: opening a restaurant, three items at once

    theme_done = demo_themes.run(api)
    return 0 if (verdict.get("valid") and not tampered.get("valid") and closed
                 and told and after < before and agency_held and theme_done) else 1


if __name__ == "__main__":
    sys.exit(main())
