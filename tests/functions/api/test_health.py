"""GET /health reports the stage and whether the deployed resources are reachable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from tests.support.environment import environment

pytestmark = pytest.mark.integration


@pytest.fixture
def api(cloud_env: dict[str, str]) -> Iterator[Any]:
    from chalicelib.aws import aws

    with environment(cloud_env, also=[aws]):
        import app as api_module

        yield api_module


def test_health_is_healthy_on_the_deployed_stack(api: Any) -> None:
    with Client(api.app) as client:
        answer = client.http.get("/health")
    assert answer.status_code == 200
    body = json.loads(answer.body)
    assert body["status"] == "healthy"
    assert body["stage"] == "local"
    assert {c["name"]: c["ok"] for c in body["checks"]} == {
        "table": True, "bucket": True, "stateMachine:lifecycle": True}


def test_health_names_what_is_unreachable(api: Any, cloud_env: dict[str, str]) -> None:
    with environment({"TABLE_NAME": "no-such-table"}):
        with Client(api.app) as client:
            answer = client.http.get("/health")
    assert answer.status_code == 503
    checks = {c["name"]: c for c in json.loads(answer.body)["checks"]}
    assert checks["table"]["ok"] is False
    assert "no-such-table" in checks["table"]["detail"] or "not found" in checks[
        "table"]["detail"].lower()
    assert checks["bucket"]["ok"] is True


def test_missing_configuration_is_a_clear_problem(api: Any) -> None:
    with environment({"TABLE_NAME": ""}):
        with Client(api.app) as client:
            answer = client.http.get("/health")
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    body = json.loads(answer.body)
    assert body["code"] == "MISCONFIGURED"
    assert "TABLE_NAME" in body["detail"]
