"""Signing in locally: POST /dev/token, then the token opens GET /me; nothing else does.

Through `chalice.test.Client` with the real app (the same local gateway `chalice local` runs,
authorizer included), and once through `chalice local` itself over HTTP.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from infra.localcloud.gateway import answer_as_the_gateway_does
from tests.support.data import CITIZEN_ID
from tests.support.environment import environment
from tests.support.network import free_port
from tests.support.polling import eventually
from yiwang.people.tokens import LOCAL_ISSUER, LocalIssuer

REPO_ROOT = Path(__file__).resolve().parents[3]
API_DIR = REPO_ROOT / "functions" / "api"
PROBLEM = "application/problem+json"


def local_env(key_dir: Path) -> dict[str, str]:
    """What the local stage gives the API for tokens (no cloud needed for these routes)."""
    return {
        "STAGE": "local",
        "TABLE_NAME": "unused-by-these-routes",
        "LOCAL_ISSUER_DIR": str(key_dir),
        "JWKS_URL": (key_dir / "jwks.json").resolve().as_uri(),
        "JWT_ISSUER": LOCAL_ISSUER,
        "JWT_AUDIENCE": "",
    }


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    answer_as_the_gateway_does()  # as the local cloud and `make run` do
    with environment(local_env(tmp_path / "issuer")):
        import app as api_module

        if "/dev/token" not in api_module.app.routes:  # first imported under another stage
            api_module = importlib.reload(api_module)
        with Client(api_module.app) as test_client:
            yield test_client.http


def token_for(http: Any, **claims: str) -> str:
    answer = http.post("/dev/token", headers={"Content-Type": "application/json"},
                       body=json.dumps(claims).encode())
    assert answer.status_code == 200, answer.body
    return json.loads(answer.body)["token"]


def me(http: Any, authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return http.get("/me", headers=headers)


def assert_unauthenticated(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == PROBLEM
    body = json.loads(answer.body)
    assert (body["code"], body["status"]) == ("UNAUTHENTICATED", 401)
    return body


def test_a_dev_token_opens_me_with_the_callers_own_claims(client: Any) -> None:
    token = token_for(client, sub="u-1", role="applicant", region="110105",
                      idNumber="11010519491231002x")
    answer = me(client, f"Bearer {token}")
    assert answer.status_code == 200
    assert json.loads(answer.body) == {
        "sub": "u-1", "role": "applicant", "dept": None, "region": "110105",
        "idNumber": CITIZEN_ID,  # the owner sees their own number in full
        "creditCode": None, "position": None,  # staff only (HEAD or HANDLER)
    }


def test_a_reviewer_sees_their_department(client: Any) -> None:
    token = token_for(client, sub="r-1", role="reviewer", dept="市场监管局")
    body = json.loads(me(client, f"bearer {token}").body)
    assert (body["role"], body["dept"]) == ("reviewer", "市场监管局")


def test_no_token_is_401(client: Any) -> None:
    # The gateway answers before the authorizer runs, as API Gateway does, with the gateway
    # response that infra/api_edge.yaml declares for AWS: problem+json like every error.
    answer = me(client, None)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == PROBLEM
    problem = json.loads(answer.body)
    assert (problem["code"], problem["status"], problem["detail"]) == (
        "UNAUTHENTICATED", 401, "Unauthorized")


def test_an_unknown_route_is_a_404_problem(client: Any) -> None:
    answer = client.get("/no-such-route")
    assert (answer.status_code, answer.headers["Content-Type"]) == (404, PROBLEM)
    assert json.loads(answer.body)["code"] == "NOT_FOUND"


def test_a_garbage_token_is_401_and_not_repeated(client: Any) -> None:
    body = assert_unauthenticated(me(client, "Bearer garbage.token.here"))
    assert "garbage" not in json.dumps(body)


def test_another_scheme_is_401(client: Any) -> None:
    body = assert_unauthenticated(me(client, "Basic dXNlcjpwYXNz"))
    assert "Bearer" in body["detail"]


def test_a_token_signed_by_another_key_is_401(client: Any, tmp_path: Path) -> None:
    token_for(client, sub="u-0", role="admin")  # the API has its own key pair by now
    forged = LocalIssuer(tmp_path / "someone-else").issue({"sub": "u-1", "role": "admin"})
    body = assert_unauthenticated(me(client, f"Bearer {forged}"))
    assert "unknown key" in body["detail"]


def test_an_expired_token_is_401(client: Any, tmp_path: Path) -> None:
    token_for(client, sub="u-1", role="admin")  # the API creates its key pair
    issuer = LocalIssuer(tmp_path / "issuer")  # the same key dir as the API's
    stale = issuer.issue({"sub": "u-1", "role": "admin"}, ttl_seconds=60,
                         now=int(time.time()) - 3600)
    assert "expired" in assert_unauthenticated(me(client, f"Bearer {stale}"))["detail"]


def test_dev_token_refuses_bad_claims_listing_each(client: Any) -> None:
    bad_number = "110101199003071234"
    answer = client.post("/dev/token", headers={"Content-Type": "application/json"},
                         body=json.dumps({"sub": "r-1", "role": "reviewer",
                                          "idNumber": bad_number}).encode())
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == PROBLEM
    body = json.loads(answer.body)
    assert body["code"] == "VALIDATION_FAILED"
    assert sorted(e["path"] for e in body["errors"]) == ["dept", "idNumber"]
    assert bad_number not in answer.body.decode()


def test_dev_token_refuses_a_body_that_is_not_an_object(client: Any) -> None:
    answer = client.post("/dev/token", body=b"[1, 2]")
    assert answer.status_code == 400
    assert json.loads(answer.body)["code"] == "VALIDATION_FAILED"


def test_an_unconfigured_authorizer_says_what_is_missing(client: Any) -> None:
    token = token_for(client, sub="u-1", role="admin")
    with environment({"JWKS_URL": ""}):
        answer = me(client, f"Bearer {token}")
    assert answer.status_code == 500
    body = json.loads(answer.body)
    assert body["code"] == "MISCONFIGURED" and "JWKS_URL" in body["detail"]


def _routes_in_stage(stage: str) -> set[str]:
    script = "import json, app; print(json.dumps(sorted(app.app.routes)))"
    env = {**os.environ, "STAGE": stage, "TABLE_NAME": "t",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "layers"), str(API_DIR)])}
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=API_DIR,
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_dev_token_exists_only_in_the_local_stage() -> None:
    assert "/dev/token" in _routes_in_stage("local")
    for stage in ("dev", "prod"):
        routes = _routes_in_stage(stage)
        assert "/dev/token" not in routes and "/me" in routes


# --- the same through `chalice local` over HTTP -----------------------------------------------


def _call(url: str, headers: dict[str, str] | None = None,
          body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def chalice_local(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **local_env(tmp_path / "issuer"),
           "PYTHONPATH": str(REPO_ROOT / "layers")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env["PYTHONPATH"]])
    process = subprocess.Popen(  # the API server `make run` starts (chalice local, described)
        [sys.executable, "-m", "infra.localcloud.api_server", "--host", "127.0.0.1",
         "--port", str(port), "--stage", "local"],
        cwd=API_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        def listening() -> bool:
            assert process.poll() is None, "chalice local exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        eventually(listening, what="chalice local to listen")
        yield base
    finally:
        process.terminate()
        process.wait(10)


def test_chalice_local_runs_the_authorizer(chalice_local: str) -> None:
    status, _, body = _call(f"{chalice_local}/dev/token",
                            {"Content-Type": "application/json"},
                            json.dumps({"sub": "u-1", "role": "admin"}).encode())
    assert status == 200
    token = json.loads(body)["token"]

    status, _, body = _call(f"{chalice_local}/me", {"Authorization": f"Bearer {token}"})
    assert (status, json.loads(body)["role"]) == (200, "admin")

    status, headers, body = _call(f"{chalice_local}/me", {"Authorization": "Bearer nonsense"})
    assert (status, headers["Content-Type"]) == (401, PROBLEM)
    assert json.loads(body)["code"] == "UNAUTHENTICATED"

    status, headers, body = _call(f"{chalice_local}/me")
    assert (status, headers["Content-Type"]) == (401, PROBLEM)
    assert json.loads(body)["code"] == "UNAUTHENTICATED"
