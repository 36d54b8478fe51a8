"""POST /dev/token: tokens from the local issuer, for the local stage only (openapi.yaml, tag
identity).

`app.py` registers this blueprint only when STAGE is `local`; in any other stage the path does
not exist. The issuer's key pair lives in LOCAL_ISSUER_DIR; JWKS_URL must be the `file://` URL
of its `jwks.json` and JWT_ISSUER its issuer name, so the tokens it signs are verified by the
`bearer` authorizer exactly as Cognito's are in AWS.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from chalice import Blueprint, Response

from chalicelib.problems import problem
from chalicelib.requests import parse_json
from yiwang.people.access import REVIEWER, WINDOW
from yiwang.people.tokens import LocalIssuer, TrustedIssuer
from yiwang.platform.config import ConfigurationError, Settings, settings
from yiwang.platform.errors import FieldError, ValidationFailed

routes = Blueprint(__name__)


@routes.route("/dev/token", methods=["POST"])
def dev_token() -> Response | dict[str, str]:
    """`{"sub","role","dept"?,"region"?,"idNumber"?,"creditCode"?,"position"?}` -> `{"token"}`;
    staff are placed in the region tree (`placed`)."""
    claims = _json_object(routes.current_request.raw_body)
    try:
        issuer = local_issuer(settings())
    except ConfigurationError as error:
        return problem(503, "MISCONFIGURED", "The API is not configured", str(error))
    return {"token": issuer.issue(placed(claims))}


def placed(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims with the staff member placed in the region tree: a reviewer belongs to their
    department's region (taken from the registry when the claims name none; another one is
    422), window staff to the region of the centre where they sit (one without a service
    centre or station is 422). Other callers' claims are left as they are."""
    role, region = claims.get("role"), claims.get("region") or None
    if role == REVIEWER and isinstance(claims.get("dept"), str) and (
            region is None or isinstance(region, str)):
        from yiwang.catalogue import departments

        found = departments.staff_region(claims["dept"], region)
        return {**claims, "region": found} if found else claims
    if role == WINDOW and isinstance(region, str):
        from yiwang.regions import tree

        tree.window_region(region)
    return claims


def local_issuer(config: Settings) -> LocalIssuer:
    """The local issuer the configuration names; its tokens must verify with the configured
    JWKS_URL and JWT_ISSUER, or this is a ConfigurationError that says which to fix."""
    trusted = TrustedIssuer.from_settings(config)
    issuer = _issuer(
        config.require("local_issuer_dir"),
        trusted.issuer,
        trusted.audiences[0] if trusted.audiences else None,
        trusted.max_lifetime_seconds,
    )
    if _local_path(trusted.jwks_url) != _local_path(issuer.jwks_url):
        raise ConfigurationError(
            f"JWKS_URL must be {issuer.jwks_url} (the jwks.json in LOCAL_ISSUER_DIR) "
            "for the local issuer's tokens to verify"
        )
    return issuer


def _local_path(url: str) -> Path | None:
    parts = urlparse(url)
    return Path(url2pathname(parts.path)).resolve() if parts.scheme == "file" else None


@functools.cache
def _issuer(key_dir: str, issuer: str, audience: str | None, max_lifetime: int) -> LocalIssuer:
    return LocalIssuer(Path(key_dir), issuer=issuer, audience=audience,
                       max_lifetime_seconds=max_lifetime)


def _json_object(raw: bytes | None) -> dict[str, Any]:
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])
    return body
