"""The API publishes the metrics its requests add (EMF on stdout, one document per request that
added any): it has no `lambda_entry`, so `app.py` flushes after every view. What each request
printed is read from this thread alone: the local cloud's functions may still be printing
their own metrics in other threads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.localcloud.runtime import printed_in_this_context

pytestmark = pytest.mark.integration


def emitted(lines: list[str]) -> list[dict[str, Any]]:
    """The EMF documents in what the API printed."""
    return [json.loads(line) for line in lines if line.startswith("{") and '"_aws"' in line]


def metric_names(document: dict[str, Any]) -> set[str]:
    return {m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def test_a_fallback_deadline_publishes_calendar_data_missing(http: Any) -> None:
    with printed_in_this_context() as printed:
        answer = http.get("/calendar/due?from=2031-12-30T10:00:00%2B08:00&workingDays=2")
    assert json.loads(answer.body)["basis"] == "WEEKDAYS_FALLBACK"
    documents = emitted(printed)
    assert [metric_names(d) for d in documents] == [{"CalendarDataMissing"}]
    assert documents[0]["CalendarDataMissing"] == [1.0]
    assert documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Yiwang"


def test_an_official_deadline_publishes_nothing(http: Any) -> None:
    with printed_in_this_context() as printed:
        answer = http.get("/calendar/due?from=2026-09-30T10:00:00%2B08:00&workingDays=3")
    assert answer.status_code == 200, answer.body
    assert emitted(printed) == []


@pytest.mark.parametrize("path", ["/webhooks/payment", "/webhooks/courier"])
def test_a_refused_webhook_publishes_webhook_signature_failed(http: Any, path: str) -> None:
    with printed_in_this_context() as printed:
        answer = http.post(path, headers={"Content-Type": "application/json",
                                          "X-Yiwang-Timestamp": "1700000000",
                                          "X-Yiwang-Signature": "sha256=" + "0" * 64},
                           body=b"{}")
    assert answer.status_code == 401
    documents = emitted(printed)
    assert [metric_names(d) for d in documents] == [{"WebhookSignatureFailed"}]
