"""Whole journeys through the lifecycle over HTTP, shared by the API tests.

Built on `test_lifecycle.Flow` (one application and the people who handle it): `ItemFlow` is
the same for any published item, and `complete` takes either to COMPLETED the way its people
would: the window accepts, every department approves, the applicant pays (if there is a fee),
the courier delivers or the window hands it over.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from infra.providers import courier, payment
from tests.functions.api.test_lifecycle import CITIZEN_ID, Flow, eventually

SETTLED = {"AWAITING_PAYMENT", "DISPATCHED", "READY_FOR_PICKUP", "COMPLETED"}


class ItemFlow(Flow):
    """A `Flow` for any published item: `body` is the draft, `departments` its reviewers."""

    def __init__(self, http: Any, token: Any, cloud: Any, suffix: str, body: dict[str, Any],
                 departments: list[str]) -> None:
        self.http, self.cloud = http, cloud
        self.citizen_sub = f"citizen-{suffix}"
        self.citizen = token(self.citizen_sub, "applicant", idNumber=CITIZEN_ID)
        self.window = token(f"window-{suffix}", "window")
        self.reviewers = {d: token(f"reviewer-{d}-{suffix}", "reviewer", dept=d)
                          for d in departments}
        answer = http.post("/applications", headers=self.citizen, body=json.dumps(body))
        assert answer.status_code == 201, answer.body
        self.id = json.loads(answer.body)["id"]


def status_is(flow: Flow, *statuses: str) -> dict[str, Any]:
    """The application's view once it is in one of `statuses`."""
    return eventually(lambda: (view := flow.view())["status"] in statuses and view)


def complete(flow: Flow) -> dict[str, Any]:
    """Submit the draft and take it to COMPLETED; returns the completed application's view."""
    flow.submit()
    assert flow.decide(flow.window, "ACCEPT", "材料齐全，予以受理").status_code == 200
    for department, headers in flow.reviewers.items():
        assert flow.decide(headers, "APPROVE", f"{department} 同意").status_code == 200
    view = status_is(flow, *SETTLED)
    if view["status"] == "AWAITING_PAYMENT":
        order = view["pending"]["payment"]
        body, headers = payment.callback(order["orderId"], order["amountFen"],
                                         secret=payment.LOCAL_SECRET)
        assert flow.http.post("/webhooks/payment", headers=headers, body=body).status_code == 200
        view = status_is(flow, "DISPATCHED", "READY_FOR_PICKUP")
    if view["status"] == "DISPATCHED":
        at = datetime.now(UTC).isoformat(timespec="seconds")
        body, headers = courier.callback(view["delivery"]["waybillNo"], "DELIVERED", at,
                                         secret=courier.LOCAL_SECRET)
        assert flow.http.post("/webhooks/courier", headers=headers, body=body).status_code == 200
    elif view["status"] == "READY_FOR_PICKUP":
        handed = flow.http.post(f"/applications/{flow.id}/pickup", headers=flow.window,
                                body=json.dumps({"collectedBy": "张伟"}))
        assert handed.status_code == 200, handed.body
    return status_is(flow, "COMPLETED")
