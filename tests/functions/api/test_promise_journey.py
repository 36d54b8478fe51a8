"""The promise (承诺时限) along the construction permit's lifecycle on the local cloud: started
from the acceptance, held while the applicant supplements and while the fee is unpaid, running
again after each, stopped when the certificate is issued, and never late."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from infra.providers import payment
from tests.support.journeys import Flow, status_is
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


def promise_of(flow: Flow) -> dict[str, Any] | None:
    return flow.view()["promise"]


def test_the_promise_is_held_while_the_applicant_has_the_case(http: Any, token: Any,
                                                              cloud: Any) -> None:
    from yiwang.deadlines import clocks

    flow = Flow(http, token, cloud, f"promise-{uuid.uuid4().hex[:6]}")
    flow.submit()
    assert promise_of(flow) is None  # nothing promised before acceptance
    assert flow.decide(flow.window, "ACCEPT", "予以受理").status_code == 200
    started = eventually(lambda: promise_of(flow))
    assert (started["status"], started["promisedDays"], started["usedDays"]) == (
        "RUNNING", 15, 0)
    accepted = next(t for t in clocks.clocks_of(f"APP#{flow.id}") if t.name == "ACCEPTANCE")
    promise = clocks.get(f"APP#{flow.id}", "PROMISE")
    assert promise.started_at == accepted.stopped_at  # from the moment of acceptance
    # A department asks for a supplement: the applicant has the case.
    for department, headers in flow.reviewers.items():
        decision = "SUPPLEMENT" if department == "GZ-ZJ" else "APPROVE"
        extra = {"missing": ["architectural-drawings"]} if decision == "SUPPLEMENT" else {}
        assert flow.decide(headers, decision, "请补正", **extra).status_code == 200
    status_is(flow, "NEEDS_SUPPLEMENT")
    held = eventually(lambda: (p := promise_of(flow)) and p["status"] == "PAUSED" and p)
    assert held["heldFor"] == ["SUPPLEMENT"]
    flow.upload("architectural-drawings")
    eventually(lambda: http.post(f"/applications/{flow.id}/supplement", headers=flow.citizen,
                                 body="{}").status_code == 202)
    assert flow.decide(flow.window, "ACCEPT", "补正后受理").status_code == 200
    running = eventually(lambda: (p := promise_of(flow)) and p["status"] == "RUNNING" and p)
    assert running["heldFor"] == []
    for headers in flow.reviewers.values():
        assert flow.decide(headers, "APPROVE", "同意").status_code == 200
    view = status_is(flow, "AWAITING_PAYMENT")
    assert view["promise"]["heldFor"] == ["PAYMENT"] and view["promise"]["status"] == "PAUSED"
    order = view["pending"]["payment"]
    body, headers = payment.callback(order["orderId"], order["amountFen"],
                                     secret=payment.LOCAL_SECRET)
    assert http.post("/webhooks/payment", headers=headers, body=body).status_code == 200
    view = status_is(flow, "DISPATCHED")
    kept = view["promise"]
    assert (kept["status"], kept["cards"], kept["heldFor"]) == ("STOPPED", [], [])
    assert kept["usedDays"] + kept["leftDays"] == 15 and kept["leftDays"] >= 0
    trail = [(a.event, (a.detail.as_dict() if a.detail else {}).get("clock"))
             for a in clocks.trail(f"APP#{flow.id}")]
    promise_events = [event for event, clock in trail if clock == "PROMISE"]
    assert promise_events == ["CLOCK_STARTED", "CLOCK_PAUSED", "CLOCK_RESUMED", "CLOCK_PAUSED",
                              "CLOCK_RESUMED", "CLOCK_STOPPED"]
