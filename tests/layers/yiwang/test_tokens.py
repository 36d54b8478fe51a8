"""Bearer tokens: what the local issuer signs verifies, and what anyone else forges does not."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.data import BAD_ID_NUMBER, CITIZEN_ID, CREDIT_CODE
from yiwang.people.access import ADMIN, APPLICANT, REVIEWER, Caller
from yiwang.people.tokens import (
    CLOCK_LEEWAY_SECONDS,
    LOCAL_ISSUER,
    LocalIssuer,
    TrustedIssuer,
    verify,
)
from yiwang.platform.config import ConfigurationError, load_settings
from yiwang.platform.errors import Unauthenticated, ValidationFailed


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer(tmp_path / "issuer")


def sign(issuer: LocalIssuer, payload: dict[str, Any], **header: Any) -> str:
    """A token signed with the issuer's own key, with any claims we like (as a misconfigured
    or hostile identity provider might send)."""
    issuer.issue({"sub": "warm-up", "role": ADMIN})  # make sure the key pair exists
    key = serialization.load_pem_private_key(
        (issuer.key_dir / "private_key.pem").read_bytes(), password=None)
    kid = json.loads((issuer.key_dir / "jwks.json").read_text())["keys"][0]["kid"]
    now = int(time.time())
    claims = {"iss": issuer.issuer, "iat": now, "exp": now + 600, **payload}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, **header})


def refusal(token: str, trusted: TrustedIssuer) -> str:
    with pytest.raises(Unauthenticated) as refused:
        verify(token, trusted)
    message = str(refused.value)
    assert not token or token not in message  # a refusal never repeats the token
    return message


# --- round trips ------------------------------------------------------------------------------


def test_an_applicant_token_verifies_into_its_caller(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "u-1", "role": APPLICANT, "region": "110105",
                          "idNumber": "11010519491231002x"})
    assert verify(token, issuer.trusted) == Caller(
        sub="u-1", role=APPLICANT, region="110105", id_number=CITIZEN_ID)


def test_a_legal_person_applicant_carries_a_credit_code(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "c-1", "role": APPLICANT, "creditCode": CREDIT_CODE})
    assert verify(token, issuer.trusted).credit_code == CREDIT_CODE


def test_a_reviewer_token_carries_department_and_region(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "r-1", "role": REVIEWER, "dept": "市场监管局",
                          "region": "310000"})
    who = verify(token, issuer.trusted)
    assert (who.role, who.dept, who.region) == (REVIEWER, "市场监管局", "310000")


def test_issued_tokens_are_shaped_like_cognito_id_tokens(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "u-1", "role": APPLICANT, "idNumber": CITIZEN_ID},
                         ttl_seconds=600)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == LOCAL_ISSUER and claims["token_use"] == "id"
    assert claims["exp"] - claims["iat"] == 600
    key_set = json.loads((issuer.key_dir / "jwks.json").read_text())
    assert [k["kid"] for k in key_set["keys"]] == [header["kid"]]
    assert set(key_set["keys"][0]) == {"kty", "e", "n", "kid", "alg", "use"}


def test_the_key_pair_is_created_once_and_survives_a_restart(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "u-1", "role": ADMIN})
    restarted = LocalIssuer(issuer.key_dir)
    again = restarted.issue({"sub": "u-2", "role": ADMIN})
    assert jwt.get_unverified_header(again)["kid"] == jwt.get_unverified_header(token)["kid"]
    assert verify(token, restarted.trusted).sub == "u-1"
    assert oct((issuer.key_dir / "private_key.pem").stat().st_mode & 0o777) == "0o600"


def test_the_same_token_verifies_against_the_key_set_served_over_http(
    issuer: LocalIssuer,
) -> None:
    """As in AWS, where the key set is Cognito's https URL (PyJWKClient)."""
    token = issuer.issue({"sub": "u-1", "role": ADMIN})
    handler = partial(_QuietHandler, directory=str(issuer.key_dir))
    with _serving(handler) as base:
        trusted = TrustedIssuer(f"{base}/jwks.json", issuer.issuer)
        assert verify(token, trusted).sub == "u-1"
        stranger = LocalIssuer(issuer.key_dir.parent / "stranger").issue(
            {"sub": "u-1", "role": ADMIN})
        assert "unknown key" in refusal(stranger, trusted)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextmanager
def _serving(handler: Any) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- refused tokens ---------------------------------------------------------------------------


def test_an_expired_token_is_refused(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "u-1", "role": ADMIN}, ttl_seconds=60,
                         now=int(time.time()) - 120)
    assert "expired" in refusal(token, issuer.trusted)


def test_a_token_from_another_issuer_name_is_refused(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "u-1", "role": ADMIN})
    trusted = TrustedIssuer(issuer.jwks_url, "https://cognito-idp.example/pool")
    assert "not issued by the trusted issuer" in refusal(token, trusted)


def test_a_caller_who_edits_their_token_to_become_admin_is_refused(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "u-1", "role": APPLICANT, "idNumber": CITIZEN_ID})
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = ADMIN
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_payload}.{signature}"
    assert "signature is not valid" in refusal(forged, issuer.trusted)


def test_a_token_signed_by_another_key_under_our_kid_is_refused(
    issuer: LocalIssuer, tmp_path: Path
) -> None:
    ours = issuer.issue({"sub": "u-1", "role": ADMIN})
    other = LocalIssuer(tmp_path / "other")
    other.issue({"sub": "x", "role": ADMIN})
    key = serialization.load_pem_private_key(
        (other.key_dir / "private_key.pem").read_bytes(), password=None)
    now = int(time.time())
    forged = jwt.encode(
        {"iss": LOCAL_ISSUER, "sub": "u-1", "role": ADMIN, "iat": now, "exp": now + 60},
        key, algorithm="RS256", headers={"kid": jwt.get_unverified_header(ours)["kid"]})
    assert "signature is not valid" in refusal(forged, issuer.trusted)


def test_a_token_with_an_unknown_key_id_is_refused(issuer: LocalIssuer, tmp_path: Path) -> None:
    issuer.issue({"sub": "u-1", "role": ADMIN})
    stranger = LocalIssuer(tmp_path / "stranger").issue({"sub": "u-1", "role": ADMIN})
    assert "unknown key" in refusal(stranger, issuer.trusted)


def test_unsigned_and_symmetric_tokens_are_refused(issuer: LocalIssuer) -> None:
    now = int(time.time())
    claims = {"iss": LOCAL_ISSUER, "sub": "u-1", "role": ADMIN, "iat": now, "exp": now + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")
    hmac = jwt.encode(claims, "a shared secret of thirty-two bytes!", algorithm="HS256")
    assert "RS256" in refusal(unsigned, issuer.trusted)
    assert "RS256" in refusal(hmac, issuer.trusted)


def test_garbage_is_not_a_token(issuer: LocalIssuer) -> None:
    assert "well-formed" in refusal("not-a-jwt", issuer.trusted)
    assert "no bearer token" in refusal("", issuer.trusted)


def test_an_access_token_is_refused(issuer: LocalIssuer) -> None:
    token = sign(issuer, {"sub": "u-1", "custom:role": ADMIN, "token_use": "access"})
    assert "ID tokens" in refusal(token, issuer.trusted)


def test_the_audience_is_checked_when_configured(tmp_path: Path) -> None:
    issuer = LocalIssuer(tmp_path / "issuer", audience="portal-client")
    token = issuer.issue({"sub": "u-1", "role": ADMIN})
    assert verify(token, issuer.trusted).sub == "u-1"
    other_client = TrustedIssuer(issuer.jwks_url, issuer.issuer, ("staff-client",))
    assert "audience" in refusal(token, other_client)


# --- lifetime and times ----------------------------------------------------------------------

TWELVE_HOURS = 12 * 3600


def test_the_default_cap_is_twelve_hours(issuer: LocalIssuer) -> None:
    assert issuer.trusted.max_lifetime_seconds == TWELVE_HOURS
    assert TrustedIssuer.from_settings(load_settings({
        "STAGE": "dev", "TABLE_NAME": "t", "JWKS_URL": "https://idp.example/jwks.json",
        "JWT_ISSUER": "https://idp.example"})).max_lifetime_seconds == TWELVE_HOURS


def test_a_hundred_year_token_is_refused(issuer: LocalIssuer) -> None:
    now = int(time.time())
    token = sign(issuer, {"sub": "u-1", "role": ADMIN, "iat": now,
                          "exp": now + 100 * 365 * 24 * 3600})
    assert "lives longer than the 43200 seconds" in refusal(token, issuer.trusted)


def test_a_token_one_second_over_the_cap_is_refused(issuer: LocalIssuer) -> None:
    now = int(time.time())
    token = sign(issuer, {"sub": "u-1", "role": ADMIN, "iat": now, "exp": now + TWELVE_HOURS + 1})
    assert "lives longer" in refusal(token, issuer.trusted)


def test_a_token_at_the_cap_is_accepted(issuer: LocalIssuer) -> None:
    now = int(time.time())
    token = sign(issuer, {"sub": "u-1", "role": ADMIN, "iat": now, "exp": now + TWELVE_HOURS})
    assert verify(token, issuer.trusted) == Caller(sub="u-1", role=ADMIN)
    issued = issuer.issue({"sub": "u-1", "role": ADMIN}, ttl_seconds=TWELVE_HOURS)
    assert verify(issued, issuer.trusted) == Caller(sub="u-1", role=ADMIN)


def test_a_configured_cap_is_the_one_applied(issuer: LocalIssuer) -> None:
    token = issuer.issue({"sub": "u-1", "role": ADMIN}, ttl_seconds=3600)
    strict = TrustedIssuer(issuer.jwks_url, issuer.issuer, max_lifetime_seconds=1800)
    assert "lives longer than the 1800 seconds" in refusal(token, strict)


def test_a_token_without_iat_is_refused(issuer: LocalIssuer) -> None:
    issuer.issue({"sub": "warm-up", "role": ADMIN})  # make sure the key pair exists
    claims = {"iss": issuer.issuer, "sub": "u-1", "role": ADMIN, "exp": int(time.time()) + 600}
    token = jwt.encode(claims, _key(issuer), algorithm="RS256", headers={"kid": _kid(issuer)})
    assert "lacks the 'iat' claim" in refusal(token, issuer.trusted)


def test_a_token_issued_in_the_future_is_refused(issuer: LocalIssuer) -> None:
    later = int(time.time()) + 3600
    token = sign(issuer, {"sub": "u-1", "role": ADMIN, "iat": later, "exp": later + 600})
    assert "issued in the future" in refusal(token, issuer.trusted)


def test_a_token_not_valid_before_a_future_time_is_refused(issuer: LocalIssuer) -> None:
    token = sign(issuer, {"sub": "u-1", "role": ADMIN, "nbf": int(time.time()) + 300})
    assert "not valid yet" in refusal(token, issuer.trusted)


def test_a_clock_a_little_ahead_is_tolerated(issuer: LocalIssuer) -> None:
    ahead = int(time.time()) + CLOCK_LEEWAY_SECONDS // 2
    token = sign(issuer, {"sub": "u-1", "role": ADMIN, "iat": ahead, "nbf": ahead,
                          "exp": ahead + 600})
    assert verify(token, issuer.trusted) == Caller(sub="u-1", role=ADMIN)


def test_a_time_that_is_not_a_number_is_refused(issuer: LocalIssuer) -> None:
    token = sign(issuer, {"sub": "u-1", "role": ADMIN, "iat": "yesterday"})
    assert "'iat' must be a time in seconds" in refusal(token, issuer.trusted)


def test_the_local_issuer_never_signs_beyond_the_cap(tmp_path: Path) -> None:
    capped = LocalIssuer(tmp_path / "capped", max_lifetime_seconds=600)
    with pytest.raises(ValueError, match="at most 600"):
        capped.issue({"sub": "u-1", "role": ADMIN}, ttl_seconds=601)
    claims = jwt.decode(capped.issue({"sub": "u-1", "role": ADMIN}),
                        options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600  # the default hour, shortened to the cap


@pytest.mark.parametrize("value", ["forever", "0", "299", "86401"])
def test_the_cap_setting_is_validated(value: str) -> None:
    with pytest.raises(ConfigurationError, match="MAX_TOKEN_LIFETIME_SECONDS"):
        load_settings({"STAGE": "dev", "TABLE_NAME": "t", "MAX_TOKEN_LIFETIME_SECONDS": value})


def _key(issuer: LocalIssuer) -> Any:
    return serialization.load_pem_private_key(
        (issuer.key_dir / "private_key.pem").read_bytes(), password=None)


def _kid(issuer: LocalIssuer) -> str:
    return json.loads((issuer.key_dir / "jwks.json").read_text())["keys"][0]["kid"]


# --- claims -----------------------------------------------------------------------------------


def test_cognito_custom_attributes_are_accepted(issuer: LocalIssuer) -> None:
    token = sign(issuer, {
        "sub": "5f1c-cognito-uuid", "token_use": "id", "aud": "portal-client",
        "cognito:username": "zhangsan", "custom:role": REVIEWER, "custom:dept": "公安局",
        "custom:region": "440100",
    })
    trusted = TrustedIssuer(issuer.jwks_url, issuer.issuer, ("portal-client",))
    assert verify(token, trusted) == Caller(
        sub="5f1c-cognito-uuid", role=REVIEWER, dept="公安局", region="440100")


def test_plain_and_custom_claims_that_disagree_are_refused(issuer: LocalIssuer) -> None:
    token = sign(issuer, {"sub": "u-1", "role": APPLICANT, "custom:role": ADMIN,
                          "idNumber": CITIZEN_ID})
    assert "disagree" in refusal(token, issuer.trusted)


def test_an_unknown_role_is_refused(issuer: LocalIssuer) -> None:
    assert "role" in refusal(sign(issuer, {"sub": "u-1", "role": "root"}), issuer.trusted)
    with pytest.raises(ValidationFailed) as refused:
        issuer.issue({"sub": "u-1", "role": "root"})
    assert [e.path for e in refused.value.errors] == ["role"]


def test_a_reviewer_without_a_department_is_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(ValidationFailed) as refused:
        issuer.issue({"sub": "r-1", "role": REVIEWER})
    assert [e.path for e in refused.value.errors] == ["dept"]
    assert "dept" in refusal(sign(issuer, {"sub": "r-1", "role": REVIEWER}), issuer.trusted)


def test_an_applicant_with_an_invalid_id_number_is_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(ValidationFailed) as refused:
        issuer.issue({"sub": "u-1", "role": APPLICANT, "idNumber": BAD_ID_NUMBER})
    [error] = refused.value.errors
    assert error.path == "idNumber" and "check character" in error.message
    assert BAD_ID_NUMBER not in error.message
    token = sign(issuer, {"sub": "u-1", "role": APPLICANT, "custom:idNumber": BAD_ID_NUMBER})
    message = refusal(token, issuer.trusted)
    assert "idNumber" in message and BAD_ID_NUMBER not in message


def test_an_applicant_needs_an_id_number_or_a_credit_code(issuer: LocalIssuer) -> None:
    with pytest.raises(ValidationFailed) as refused:
        issuer.issue({"sub": "u-1", "role": APPLICANT})
    assert [e.path for e in refused.value.errors] == ["idNumber"]


def test_every_problem_with_requested_claims_is_listed(issuer: LocalIssuer) -> None:
    with pytest.raises(ValidationFailed) as refused:
        issuer.issue({"role": REVIEWER, "creditCode": "91350100M000100Y44", "name": "x"})
    assert sorted(e.path for e in refused.value.errors) == [
        "creditCode", "dept", "name", "sub"]
