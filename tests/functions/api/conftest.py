"""The API against the local cloud: the real app through chalice's test client, tokens from
the local issuer, the sample catalogue seeded."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice.test import Client

from tests.support.environment import environment


@pytest.fixture
def http(cloud_env: dict[str, str], seeded: None) -> Iterator[Any]:
    """The app's HTTP test client, in the local stage, against the deployed stack (chalice's
    test client keeps the environment in place while the cloud runs in this process:
    `infra.localcloud.runtime.keep_environment_under_chalice_test_client`)."""
    from chalicelib.aws import aws

    with environment({**cloud_env, "STAGE": "local"}, also=[aws]):
        import app as api_module

        if "/dev/token" not in api_module.app.routes:
            api_module = importlib.reload(api_module)
        with Client(api_module.app) as client:
            yield client.http


@pytest.fixture
def token(http: Any) -> Callable[..., dict[str, str]]:
    """`token(sub, role, **claims)` → the Authorization header of a signed-in caller."""
    import json

    def sign_in(sub: str, role: str, **claims: str) -> dict[str, str]:
        answer = http.post("/dev/token", headers={"Content-Type": "application/json"},
                           body=json.dumps({"sub": sub, "role": role, **claims}))
        assert answer.status_code == 200, answer.body
        return {"Authorization": f"Bearer {json.loads(answer.body)['token']}",
                "Content-Type": "application/json"}

    return sign_in
