"""Property-based tests of the whole API against its contract (schemathesis, `openapi.yaml`).

The API runs as `make run` runs it: its own process (`infra.localcloud.api_server`, started by
`infra.localcloud.__main__.start_api`) on a free loopback port, against the session's local
cloud with the sample data seeded. Schemathesis generates requests for every operation of
`openapi.yaml`, once per role (anonymous, and a token from `POST /dev/token` for each of
applicant, window, reviewer, supervisor and admin), and every answer must:

- not be a server error (5xx);
- have a status code the operation documents, with the documented Content-Type;
- have a body that conforms to the documented schema for that status;
- if it is an error (4xx/5xx), be `application/problem+json` with a `code`.

The webhooks are signed like their providers sign them (the local stage's secrets, from the
stack's environment) so that their bodies are reached; the unsigned answer (401) is covered by
tests/functions/api/test_payments.py and test_delivery.py.

Bounded so the module stays a small part of `make test`: a few examples per operation and
role, no coverage or stateful phase, no shrinking, and a fixed seed (`derandomize`) so a
failure reproduces in CI as it does here.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.data import CITIZEN_ID
from tests.support.network import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[3]
MAX_EXAMPLES = 4
"""Generated requests per operation and role (the explicit examples of the spec come on top)."""

ROLES: dict[str, dict[str, str] | None] = {
    "anonymous": None,
    "applicant": {"sub": "fuzz-applicant", "role": "applicant", "idNumber": CITIZEN_ID},
    "window": {"sub": "fuzz-window", "role": "window", "dept": "GZ-ZWFW"},
    "reviewer": {"sub": "fuzz-reviewer", "role": "reviewer", "dept": "GZ-ZRZY"},
    "supervisor": {"sub": "fuzz-supervisor", "role": "supervisor"},
    "admin": {"sub": "fuzz-admin", "role": "admin"},
}
"""The callers: `/dev/token`'s claims per role (None: no Authorization header)."""

WEBHOOK_SECRETS = {"/webhooks/payment": "PAYMENT_WEBHOOK_SECRET",
                   "/webhooks/courier": "COURIER_WEBHOOK_SECRET",
                   "/webhooks/sms": "SMS_WEBHOOK_SECRET"}
"""The signed operations and the environment variable holding their provider's secret."""

schema = schemathesis.openapi.from_path(
    REPO_ROOT / "openapi.yaml",
    config=schemathesis.Config.from_dict({
        "seed": 11643,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "no-shrink": True,
                       "database": "none", "with-security-parameters": False},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }),
)

REQUESTS: Counter[tuple[str, str]] = Counter()
"""Requests sent, per (role, operation): the module's teardown prints the totals."""


def problem_json(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every error answer (4xx/5xx) is `application/problem+json` with a `code`."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    assert content_type == "application/problem+json", (
        f"{response.status_code} answered as {content_type!r}, not application/problem+json")
    body = json.loads(response.content or b"null")
    assert isinstance(body, dict) and isinstance(body.get("code"), str) and body["code"], (
        f"{response.status_code} problem without a `code`: {response.text[:200]}")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, problem_json]


class SignWebhook(requests.auth.AuthBase):
    """Sign a request's body as a provider does (`X-Yiwang-Timestamp`, `X-Yiwang-Signature`)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from yiwang.platform.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

        timestamp = str(int(time.time()))
        body = request.body or b""
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        return request


@pytest.fixture(scope="module")
def api(cloud: Any, seeded: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API in its own process, as `make run` starts it: its base URL."""
    from infra.localcloud.__main__ import start_api, wait_healthy
    from infra.localcloud.console import Console

    logs = tmp_path_factory.mktemp("api")
    with open(logs / "console.log", "w", encoding="utf-8") as terminal, \
            open(logs / "run.log", "w", encoding="utf-8") as log:
        console = Console(terminal, log, logs / "run.log", colour=False)
        port = free_port()
        process = start_api(Path(cloud.outputs["OutputsDir"]), "127.0.0.1", port,
                            console=console)
        started = time.perf_counter()
        try:
            wait_healthy(f"http://127.0.0.1:{port}/health", process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(10)
            total = sum(REQUESTS.values())
            print(f"\nproperties: {total} requests, {len(REQUESTS)} operation x role pairs, "
                  f"{time.perf_counter() - started:.1f}s (the API's log: {logs})")


@pytest.fixture(scope="module")
def session(api: str) -> requests.Session:
    """One connection pool for every generated request."""
    return requests.Session()


@pytest.fixture(scope="module")
def authorizations(api: str, session: requests.Session) -> dict[str, dict[str, str]]:
    """Each role's Authorization header (none for anonymous)."""
    headers: dict[str, dict[str, str]] = {}
    for role, claims in ROLES.items():
        if claims is None:
            headers[role] = {}
            continue
        answer = session.post(f"{api}/dev/token", json=claims, timeout=30)
        assert answer.status_code == 200, answer.text
        headers[role] = {"Authorization": f"Bearer {answer.json()['token']}"}
    return headers


@pytest.fixture(scope="module")
def webhook_secrets(cloud_env: dict[str, str]) -> dict[str, str]:
    """The local stage's webhook secrets, per signed path."""
    return {path: cloud_env[name] for path, name in WEBHOOK_SECRETS.items()}


@pytest.mark.parametrize("role", list(ROLES))
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
def test_answers_conform_to_the_contract(
    case: schemathesis.Case, role: str, api: str, session: requests.Session,
    authorizations: dict[str, dict[str, str]], webhook_secrets: dict[str, str],
) -> None:
    """No 5xx; every answer documented (status, Content-Type, body); every error problem+json."""
    secret = webhook_secrets.get(case.operation.path)
    REQUESTS[(role, case.operation.label)] += 1
    case.call_and_validate(
        base_url=api, session=session, headers=authorizations[role], checks=CHECKS,
        auth=SignWebhook(secret) if secret is not None else None, timeout=60,
    )
