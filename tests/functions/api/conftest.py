"""The API against the local cloud: the real app through chalice's test client, tokens from
the local issuer, the sample catalogue seeded."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice.test import BaseClient, Client

from tests.support.environment import environment


@contextlib.contextmanager
def _stage_variables_in_place(self: BaseClient, variables: dict[str, str]) -> Iterator[None]:
    """Chalice's test client swaps `os.environ` for a plain dict during each request; the local
    cloud's functions run in this process and read their own environment through `os.environ`
    meanwhile, so set the stage's variables in place instead (and put back what was there)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


BaseClient._patched_env_vars = _stage_variables_in_place


@pytest.fixture
def http(cloud_env: dict[str, str], seeded: None) -> Iterator[Any]:
    """The app's HTTP test client, in the local stage, against the deployed stack."""
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
