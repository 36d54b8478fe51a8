"""一件事一次办 against three separate applications: what opening a restaurant costs (AWS
calls priced as `bench.lifecycle` prices one application) and how many calls the portal makes
one after the other, through the theme (one form, one submission, one payment, one pickup)
and through three applications of the same items (three forms, three submissions, a payment
per fee, a pickup per certificate). Every application is approved in both, so both do the
same work in the departments.

`python -m bench themes` (run by `make bench` after the single application).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import time
from collections import Counter
from typing import Any

import requests

from bench.lifecycle import (
    _S3_PUT,
    DYNAMODB_READ_UNIT,
    DYNAMODB_WRITE_UNIT,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    S3_GET_CLASS,
    S3_PUT_CLASS,
    STATE_TRANSITION,
    Meter,
    local_stack,
)

CALLERS = {"company": {"role": "applicant", "creditCode": "91440106MA59B1234B"},
           "window": {"role": "window"},
           "GZ-SCJG": {"role": "reviewer", "dept": "GZ-SCJG"},
           "GZ-CG": {"role": "reviewer", "dept": "GZ-CG"}}


class Portal:
    """The calls of one journey: the portal's (the company's) counted in order, and the
    staff's and providers' beside them; status polls are neither portal steps nor in the
    cost (the meter is quiet for them: a portal polls as often as it likes)."""

    def __init__(self, http: Any, tokens: dict[str, dict[str, str]], meter: Meter) -> None:
        self.http, self.tokens, self.meter = http, tokens, meter
        self.portal: Counter[str] = Counter()
        self.others: Counter[str] = Counter()

    def call(self, method: str, path: str, who: str | None, body: Any = None,
             headers: dict[str, str] | None = None, step: str | None = None,
             poll: bool = False) -> Any:
        payload = body if isinstance(body, (bytes, str)) or body is None else json.dumps(
            body, ensure_ascii=False)
        send = getattr(self.http, method)
        with self.meter.quiet() if poll else contextlib.nullcontext():
            answer = send(path, headers={**(self.tokens[who] if who else {}), **(headers or {})},
                          body=payload)
        assert answer.status_code < 300, (path, answer.status_code, answer.body)
        if not poll:
            (self.portal if who == "company" else self.others)[step or path] += 1
        return json.loads(answer.body) if answer.body else None

    def upload(self, application_id: str, material: str) -> None:
        content = b"%PDF-1.7\n" + material.encode() * 500
        plan = self.call("post", f"/applications/{application_id}/attachments", "company", {
            "materialId": material, "fileName": f"{material}.pdf",
            "contentType": "application/pdf", "sizeBytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest()}, step="upload")
        put = requests.put(plan["parts"][0]["url"], data=content,
                           headers={"Content-Type": "application/pdf"}, timeout=30)
        self.portal["upload"] += 1  # the browser's PUT to S3
        self.call("post", f"/applications/{application_id}/attachments/{plan['attachmentId']}"
                  f"/complete", "company",
                  {"parts": [{"partNumber": 1, "etag": put.headers["ETag"]}]}, step="upload")

    def decide(self, who: str, application_id: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tasks = self.call("get", "/tasks?status=PENDING", who, poll=True)["tasks"]
            mine = [t for t in tasks if t["applicationId"] == application_id]
            if mine:
                self.call("post", f"/tasks/{mine[0]['taskId']}/decision", who,
                          {"decision": mine[0]["kind"] == "PRE_REVIEW" and "ACCEPT"
                           or "APPROVE", "opinion": "同意"}, step="decision")
                return
            time.sleep(0.2)
        raise RuntimeError(f"no task for {who} on {application_id}")

    def until(self, path: str, status: str) -> dict[str, Any]:
        deadline = time.monotonic() + 90
        while (view := self.call("get", path, "company", poll=True))["status"] != status:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} stuck at {view['status']}, waiting for {status}")
            time.sleep(0.3)
        return view

    def pay(self, order: dict[str, Any]) -> None:
        from infra.providers import payment

        body, headers = payment.callback(order["orderId"], order["amountFen"],
                                         secret=payment.LOCAL_SECRET)
        self.portal["pay (at the provider)"] += 1
        self.call("post", "/webhooks/payment", None, body, headers, step="webhook")


def departments(code: str) -> str:
    return "GZ-CG" if "MB2E00317R" in code else "GZ-SCJG"


def through_theme(portal: Portal) -> list[str]:
    """The theme: one form, one submission, one payment, one pickup."""
    from infra.demo_themes import THEME, THEME_CASE

    case = portal.call("post", f"/themes/{THEME}/applications", "company",
                       copy.deepcopy(THEME_CASE), step="fill the form")
    for material in case["materials"]:  # once each: the case shares it on submission
        if material["required"]:
            first = material["items"][0]
            portal.upload(first["applicationId"], first["materialId"])
    portal.call("post", f"/theme-cases/{case['id']}/submit", "company", step="submit")
    ids = [a["id"] for a in case["applications"]]
    for application in case["applications"]:
        portal.decide("window", application["id"])
        portal.decide(departments(application["itemCode"]), application["id"])
    view = portal.until(f"/theme-cases/{case['id']}", "AWAITING_PAYMENT")
    portal.pay(view["pending"]["payment"])
    portal.until(f"/theme-cases/{case['id']}", "READY_FOR_PICKUP")
    portal.call("post", f"/theme-cases/{case['id']}/pickup", "window",
                {"collectedBy": "王芳"}, step="pickup")
    portal.until(f"/theme-cases/{case['id']}", "COMPLETED")
    portal.call("get", f"/theme-cases/{case['id']}", "company", step="read the result")
    return ids


def separately(portal: Portal) -> list[str]:
    """The same three items as three applications of their own."""
    from infra.demo_themes import THEME, THEME_CASE

    theme = json.loads(portal.http.get(f"/themes/{THEME}").body)
    ids = {}
    for code in theme["items"]:
        form = {**THEME_CASE["itemForms"][code]}
        for entry in theme["fields"]:
            for target in entry["maps"]:
                if target["itemCode"] == code:
                    form[target["field"]] = THEME_CASE["form"][entry["name"]]
        draft = portal.call("post", "/applications", "company", {
            "itemCode": code, "applicant": THEME_CASE["applicant"], "form": form,
            "delivery": THEME_CASE["delivery"]}, step="fill the form")
        ids[code] = draft["id"]
    for material in theme["materials"]:
        for use in material["items"]:
            if material["required"]:
                portal.upload(ids[use["itemCode"]], use["materialId"])
    for code, application_id in ids.items():
        portal.call("post", f"/applications/{application_id}/submit", "company", step="submit")
        portal.decide("window", application_id)
        portal.decide(departments(code), application_id)
    for application_id in ids.values():
        view = portal.until(f"/applications/{application_id}", "AWAITING_PAYMENT") \
            if theme_fee(theme, application_id, ids) else None
        if view:
            portal.pay(view["pending"]["payment"])
    for application_id in ids.values():
        portal.until(f"/applications/{application_id}", "READY_FOR_PICKUP")
        portal.call("post", f"/applications/{application_id}/pickup", "window",
                    {"collectedBy": "王芳"}, step="pickup")
        portal.until(f"/applications/{application_id}", "COMPLETED")
        portal.call("get", f"/applications/{application_id}", "company",
                    step="read the result")
    return list(ids.values())


def theme_fee(theme: dict[str, Any], application_id: str, ids: dict[str, str]) -> bool:
    from yiwang.catalogue.items import get_item

    code = next(c for c, i in ids.items() if i == application_id)
    return get_item(code).fee_fen > 0


def cost(meter: Meter, billed: list[tuple[str, int, float]], transitions: int) -> float:
    """USD, priced as `bench.lifecycle.price` prices one application."""
    s3_put = sum(n for (service, op), n in meter.calls.items()
                 if service == "s3" and op in _S3_PUT)
    s3_get = sum(n for (service, op), n in meter.calls.items()
                 if service == "s3" and op not in _S3_PUT)
    gb_seconds = sum(memory / 1024 * max(seconds, 0.001) for _, memory, seconds in billed)
    return (transitions * STATE_TRANSITION + len(billed) * LAMBDA_REQUEST
            + gb_seconds * LAMBDA_GB_SECOND + meter.read_units * DYNAMODB_READ_UNIT
            + meter.write_units * DYNAMODB_WRITE_UNIT + s3_put * S3_PUT_CLASS
            + s3_get * S3_GET_CLASS)


def transitions_of(cloud: Any, ids: list[str]) -> int:
    sfn = cloud.client("stepfunctions")
    arn = cloud.outputs["LifecycleStateMachineArn"].replace(":stateMachine:", ":execution:")
    return sum(sum(1 for e in sfn.get_execution_history(executionArn=f"{arn}:{i}",
                                                         maxResults=1000)["events"]
                   if e["type"].endswith("StateEntered")) for i in ids)


def measure(cloud: Any, http: Any, server: Any, tokens: dict[str, dict[str, str]],
            journey: Any) -> dict[str, Any]:
    before = len(server.runtime.billed)
    with Meter() as meter:
        portal = Portal(http, tokens, meter)
        ids = journey(portal)
        time.sleep(3)  # the stream's notices of the last steps
    billed = server.runtime.billed[before:]
    transitions = transitions_of(cloud, ids)
    return {"portal": portal.portal, "others": portal.others, "transitions": transitions,
            "lambda": len(billed), "dynamodb": sum(n for (s, _), n in meter.calls.items()
                                                   if s == "dynamodb"),
            "awsCalls": sum(meter.calls.values()), "usd": cost(meter, billed, transitions)}


def main(argv: list[str] | None = None) -> int:
    """Measure both journeys on one local stack and print them side by side."""
    with local_stack(CALLERS) as (cloud, http, server, tokens):
        theme = measure(cloud, http, server, tokens, through_theme)
        apart = measure(cloud, http, server, tokens, separately)
    print("\n开办餐饮店: a three-item theme against three separate applications (all approved)")
    print(f"  {'':34} {'theme':>10} {'separate':>10}")
    rows = [("sequential portal calls", sum(theme["portal"].values()),
             sum(apart["portal"].values())),
            ("  forms filled", theme["portal"]["fill the form"],
             apart["portal"]["fill the form"]),
            ("  submissions", theme["portal"]["submit"], apart["portal"]["submit"]),
            ("  uploads (request, PUT, complete)", theme["portal"]["upload"],
             apart["portal"]["upload"]),
            ("  payments", theme["portal"]["pay (at the provider)"],
             apart["portal"]["pay (at the provider)"]),
            ("  results read", theme["portal"]["read the result"],
             apart["portal"]["read the result"]),
            ("window pickups", theme["others"]["pickup"], apart["others"]["pickup"]),
            ("provider callbacks", theme["others"]["webhook"], apart["others"]["webhook"]),
            ("state transitions", theme["transitions"], apart["transitions"]),
            ("Lambda invocations", theme["lambda"], apart["lambda"]),
            ("DynamoDB requests", theme["dynamodb"], apart["dynamodb"]),
            ("AWS calls in all", theme["awsCalls"], apart["awsCalls"])]
    for name, a, b in rows:
        print(f"  {name:34} {a:>10} {b:>10}")
    print(f"  {'USD per 1,000 restaurants':34} {theme['usd'] * 1000:>10.4f} "
          f"{apart['usd'] * 1000:>10.4f}")
    return 0
