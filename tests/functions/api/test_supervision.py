"""电子监察 on the local cloud: the deployed timeout check, moved through time by the scheduled
event's `time`, carding late steps, accepting by law, closing unpaid orders; supervisors see
the cards over HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from infra.providers import payment
from tests.support.aws import timeout_check
from tests.support.data import REQUIRED
from tests.support.journeys import Flow
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

SECOND = timedelta(seconds=1)


@pytest.fixture
def flow(http: Any, token: Any, cloud: Any, request: Any) -> Flow:
    return Flow(http, token, cloud, request.node.name[-20:])


def clock(flow: Flow, name: str) -> Any:
    from yiwang.deadlines import clocks

    return clocks.get(f"APP#{flow.id}", name)


def cards(flow: Flow, headers: dict[str, str], level: str = "") -> list[dict[str, Any]]:
    answer = flow.http.get(f"/supervision/cards{'?level=' + level if level else ''}",
                           headers=headers)
    assert answer.status_code == 200, answer.body
    return [c for c in json.loads(answer.body)["cards"] if c["subject"] == flow.id]


AFTER_A_SWEEP = 90
"""Seconds to wait for a notice of a sweep run days ahead: that sweep acts on every case of the
session due by then, and on LocalStack the stream files all their notices before this one."""


def inbox(recipient: str, application_id: str, kind: str) -> list[Any]:
    from yiwang.people import notices

    return [n for n in notices.inbox(recipient)
            if n.application_id == application_id and n.kind == kind]


def test_an_undecided_acceptance_is_carded_then_accepted_by_law(flow: Flow, token: Any) -> None:
    supervisor = token("supervisor-cards", "supervisor")
    for material in REQUIRED:
        flow.upload(material)
    flow.submit()
    task = flow.task(flow.window)
    acceptance = clock(flow, "ACCEPTANCE")
    assert acceptance.status == "RUNNING"
    assert task["dueAt"] == acceptance.deadline.astimezone(
        datetime.fromisoformat(task["dueAt"]).tzinfo).isoformat()

    quiet = timeout_check(flow.cloud, acceptance.yellow_at - SECOND)
    assert f"{flow.id}:ACCEPTANCE" not in quiet["yellow"]
    warned = timeout_check(flow.cloud, acceptance.yellow_at + SECOND)
    assert f"{flow.id}:ACCEPTANCE" in warned["yellow"]
    again = timeout_check(flow.cloud, acceptance.yellow_at + 2 * SECOND)
    assert f"{flow.id}:ACCEPTANCE" not in again["yellow"]  # once per clock
    [yellow] = cards(flow, supervisor, "YELLOW")
    assert (yellow["department"], yellow["step"], yellow["open"]) == ("WINDOW", "受理", True)
    assert flow.http.get("/supervision/cards", headers=flow.citizen).status_code == 403
    assert flow.http.get("/supervision/cards?level=GREEN", headers=supervisor
                         ).status_code == 400
    # 催办: the window and the supervisors are told (SNS → SQS → notify → inbox).
    eventually(lambda: inbox("DEPT#WINDOW", flow.id, "URGE_YELLOW"), timeout=AFTER_A_SWEEP)
    eventually(lambda: inbox("SUPERVISION", flow.id, "URGE_YELLOW"), timeout=AFTER_A_SWEEP)

    overdue = timeout_check(flow.cloud, acceptance.deadline + SECOND)
    assert f"{flow.id}:ACCEPTANCE" in overdue["red"]
    assert f"AUTO_ACCEPT:{flow.id}" in overdue["actions"]
    view = eventually(lambda: (v := flow.view())["status"] == "IN_REVIEW" and v)
    accepted = next(e for e in view["timeline"] if e["event"] == "PRE_REVIEW_ACCEPT")
    assert accepted["actor"] == "system"
    assert accepted["detail"]["automatic"] is True
    for headers in flow.reviewers.values():  # the execution went on to parallel review
        assert flow.task(headers)["kind"] == "REVIEW"
    late = flow.http.post(f"/tasks/{task['taskId']}/decision", headers=flow.window,
                          body=json.dumps({"decision": "NOT_ACCEPTED", "opinion": "太迟"}))
    assert late.status_code == 409
    assert clock(flow, "ACCEPTANCE").status == "EXPIRED"
    assert cards(flow, supervisor) == []  # the step is done: its cards are closed


def test_a_supplement_pauses_the_acceptance_clock(flow: Flow) -> None:
    flow.upload("application-form")
    flow.submit()
    running = clock(flow, "ACCEPTANCE") if flow.task(flow.window) else None
    missing = [m for m in REQUIRED if m != "application-form"]
    assert flow.decide(flow.window, "SUPPLEMENT", "请补齐", missing=missing).status_code == 200
    paused = eventually(lambda: (c := clock(flow, "ACCEPTANCE")).status == "PAUSED" and c)
    assert 1 <= int(paused.remaining_days) <= 5
    swept = timeout_check(flow.cloud, running.deadline + timedelta(days=30))
    assert f"{flow.id}:ACCEPTANCE" not in swept["red"]
    assert f"AUTO_ACCEPT:{flow.id}" not in swept["actions"]
    for material in missing:
        flow.upload(material)
    supplied = eventually(lambda: (a := flow.http.post(
        f"/applications/{flow.id}/supplement", headers=flow.citizen, body="{}"))
        .status_code == 202 and a)
    assert supplied.status_code == 202
    second = flow.task(flow.window)
    assert second["taskId"].endswith(".PRE_REVIEW.2.WINDOW")
    resumed = clock(flow, "ACCEPTANCE")
    assert resumed.status == "RUNNING"
    assert resumed.context["taskId"] == second["taskId"]
    assert resumed.deadline >= running.deadline  # the supplementing days were not counted


def test_an_unpaid_order_expires_and_cancels_the_application(flow: Flow) -> None:
    flow.submit()
    assert flow.decide(flow.window, "ACCEPT", "受理").status_code == 200
    for headers in flow.reviewers.values():
        assert flow.decide(headers, "APPROVE").status_code == 200
    view = eventually(lambda: (v := flow.view())["status"] == "AWAITING_PAYMENT" and v)
    order = view["pending"]["payment"]
    expires = datetime.fromisoformat(order["expiresAt"])
    assert f"EXPIRE_PAYMENT:{flow.id}" not in timeout_check(
        flow.cloud, expires - SECOND)["actions"]
    swept = timeout_check(flow.cloud, expires + SECOND)
    assert f"EXPIRE_PAYMENT:{flow.id}" in swept["actions"]
    assert flow.ended_at() == "Cancelled"
    view = flow.view()
    assert view["status"] == "CANCELLED"
    assert any(e["event"] == "PAYMENT_EXPIRED" for e in view["timeline"])
    assert clock(flow, "CERTIFICATE").status == "STOPPED"  # nothing is owed any more
    notice = eventually(lambda: inbox(flow.citizen_sub, flow.id, "PAYMENT_EXPIRED"),
                        timeout=AFTER_A_SWEEP)
    assert "缴费期限已过" in notice[0].title
    # Money that arrives after the window closed is flagged, never taken as paid.
    body, headers = payment.callback(order["orderId"], order["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    late = flow.http.post("/webhooks/payment", headers=headers, body=body)
    assert late.status_code == 200
    answer = json.loads(late.body)
    assert answer["status"] == "EXPIRED"
    assert [f.split()[0] for f in answer["flags"]] == ["NOT_PAYABLE"]
    assert flow.view()["status"] == "CANCELLED"
