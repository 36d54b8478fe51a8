"""Bounded input: every body, date and list the API reads has a limit, bad input is a 4xx
problem and never a 500, and every error answer is problem+json."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chalicelib.problems import PROBLEM_TYPE
from chalicelib.requests import MAX_BODY_BYTES, MAX_DEPTH
from infra.providers import courier, payment
from tests.support.data import CITIZEN_ID, permit_body
from tests.support.journeys import Flow
from yiwang.platform import signatures

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}
DEEP = "[" * 1000 + "]" * 1000


def problem_of(answer: Any, status: int) -> dict[str, Any]:
    """The problem body of an answer that must have `status`."""
    assert answer.status_code == status, answer.body
    assert answer.headers["Content-Type"] == PROBLEM_TYPE
    return json.loads(answer.body)


def paths_of(answer: Any) -> set[str]:
    return {e["path"] for e in problem_of(answer, 400)["errors"]}


def test_deep_json_is_400_on_a_public_route(http: Any) -> None:
    answer = http.post("/certificates/verify", headers=JSON, body=DEEP)
    assert paths_of(answer) == {"$"}


def signed(body: str, secret: str) -> dict[str, str]:
    """The headers of a provider's callback with `body`, signed as the provider would."""
    timestamp = str(int(time.time()))
    return {**JSON, signatures.TIMESTAMP_HEADER: timestamp,
            signatures.SIGNATURE_HEADER: signatures.sign(secret, timestamp, body)}


def test_deep_json_is_400_on_a_webhook_after_its_signature(http: Any) -> None:
    answer = http.post("/webhooks/payment", headers=signed(DEEP, payment.LOCAL_SECRET),
                       body=DEEP)
    assert paths_of(answer) == {"$"}


def test_deep_json_is_400_on_an_authenticated_route(http: Any, token: Any) -> None:
    citizen = token("bounds-deep", "applicant", idNumber=CITIZEN_ID)
    answer = http.post("/applications", headers=citizen, body=DEEP)
    assert paths_of(answer) == {"$"}
    nested = json.dumps(permit_body(form={"x": json.loads("[" * (MAX_DEPTH + 1)
                                                          + "]" * (MAX_DEPTH + 1))}))
    assert paths_of(http.post("/applications", headers=citizen, body=nested)) == {"$"}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_cannot_carry_are_400(http: Any, token: Any, number: str) -> None:
    citizen = token("bounds-nan", "applicant", idNumber=CITIZEN_ID)
    body = json.dumps(permit_body()).replace('"form": {', f'"form": {{"n": {number}, ', 1)
    assert paths_of(http.post("/applications", headers=citizen, body=body)) == {"$"}


def test_a_body_over_the_limit_is_413(http: Any, token: Any) -> None:
    citizen = token("bounds-big", "applicant", idNumber=CITIZEN_ID)
    body = json.dumps(permit_body(form={"x": "字" * MAX_BODY_BYTES}))
    assert problem_of(http.post("/applications", headers=citizen, body=body),
                      413)["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59+08:00"])
def test_dates_near_year_1_or_9999_are_400_for_due(http: Any, when: str) -> None:
    answer = http.get(f"/calendar/due?from={when.replace('+', '%2B')}&workingDays=5")
    assert paths_of(answer) == {"from"}


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "0001-01-01T00:00:00%2B14:00"])
def test_dates_near_year_1_or_9999_are_400_for_stats(http: Any, token: Any, day: str) -> None:
    supervisor = token("bounds-sup", "supervisor")
    answer = http.get(f"/stats/applications?from={day}", headers=supervisor)
    assert paths_of(answer) == {"from"}
    answer = http.get(f"/stats/applications?to={day}", headers=supervisor)
    assert "to" in paths_of(answer)


def test_a_500_kb_delivery_address_is_400(http: Any, token: Any) -> None:
    citizen = token("bounds-address", "applicant", idNumber=CITIZEN_ID)
    body = permit_body(delivery={"method": "COURIER", "address": "a" * 500_000})  # 500 KB
    answer = http.post("/applications", headers=citizen, body=json.dumps(body))
    assert paths_of(answer) == {"delivery.address"}


def test_form_strings_are_bounded_whatever_the_item_says(http: Any, token: Any) -> None:
    citizen = token("bounds-form", "applicant", idNumber=CITIZEN_ID)
    body = permit_body()
    body["form"]["remark"] = "长" * 2001
    assert paths_of(http.post("/applications", headers=citizen,
                              body=json.dumps(body))) == {"form.remark"}


def test_a_calendar_of_100000_dates_is_refused(http: Any, token: Any) -> None:
    admin = token("bounds-admin", "admin")
    body = json.dumps({"holidays": ["2031-01-01"] * 100_000, "workdays": []})
    answer = http.put("/calendar/2031", headers=admin, body=body)
    assert answer.status_code in (400, 413)
    assert answer.headers["Content-Type"] == PROBLEM_TYPE
    smaller = json.dumps({"holidays": ["2031-01-01"] * 367, "workdays": []})
    assert paths_of(http.put("/calendar/2031", headers=admin, body=smaller)) == {"holidays"}
    twice = json.dumps({"holidays": ["2031-01-01", "2031-01-01"], "workdays": []})
    assert paths_of(http.put("/calendar/2031", headers=admin, body=twice)) == {"holidays.1"}


def test_a_wrong_content_type_is_415_problem(http: Any, token: Any) -> None:
    citizen = token("bounds-type", "applicant", idNumber=CITIZEN_ID)
    answer = http.post("/applications", headers={**citizen, "Content-Type": "text/plain"},
                       body=json.dumps(permit_body()))
    assert problem_of(answer, 415)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_an_unhandled_error_is_500_problem_with_a_correlation_id(
        http: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from yiwang.calendar import calendar_store

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(calendar_store, "due", broken)
    answer = http.get("/calendar/due?from=2030-01-02T09:00:00%2B08:00&workingDays=5")
    problem = problem_of(answer, 500)
    assert problem["code"] == "INTERNAL"
    assert problem["correlationId"]
    assert "fell over" not in answer.body.decode()


def test_callers_whose_keys_would_join_alike_get_their_own_answers(http: Any,
                                                                   token: Any) -> None:
    first = token("w:1", "applicant", idNumber=CITIZEN_ID)
    second = token("w", "applicant", idNumber=CITIZEN_ID)
    one = http.post("/applications", headers={**first, "Idempotency-Key": "k"},
                    body=json.dumps(permit_body()))
    other = http.post("/applications", headers={**second, "Idempotency-Key": "1:k"},
                      body=json.dumps(permit_body()))
    assert one.status_code == other.status_code == 201
    assert json.loads(one.body)["id"] != json.loads(other.body)["id"]


def test_a_300_kb_opinion_is_400_at_its_path(http: Any, token: Any, cloud: Any) -> None:
    flow = Flow(http, token, cloud, "bounds-opinion")
    flow.submit()
    answer = flow.decide(flow.window, "ACCEPT", "x" * 300_000)  # 300 KB
    assert paths_of(answer) == {"opinion"}
    missing = [f"m{i}" for i in range(51)]
    assert paths_of(flow.decide(flow.window, "SUPPLEMENT", "请补正",
                                missing=missing)) == {"missing"}
    assert flow.decide(flow.window, "ACCEPT", "意" * 2000).status_code == 200


def test_the_courier_webhook_reads_through_the_same_parser(http: Any) -> None:
    body = '{"waybillNo": "W1", "event": "PICKED_UP", "at": "2030-01-01T00:00:00+08:00", ' \
           '"n": NaN}'
    answer = http.post("/webhooks/courier", headers=signed(body, courier.LOCAL_SECRET),
                       body=body)
    assert paths_of(answer) == {"$"}
