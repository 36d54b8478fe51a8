"""Who is calling: the `bearer` authorizer, `caller()` for routes, and GET /me.

A route that needs a signed-in caller is declared with the authorizer and asks for the caller::

    from chalicelib.auth import bearer, caller

    @routes.route("/x", authorizer=bearer)
    def x():
        who = caller().require(ADMIN)

`bearer` is a Chalice built-in authorizer: API Gateway runs it (as its own Lambda function,
handler `chalicelib.auth.bearer`) before the route, and so do `chalice local` and
`chalice.test.Client`. It verifies `Authorization: Bearer <JWT>` with `yiwang.people.tokens` against
JWKS_URL / JWT_ISSUER / JWT_AUDIENCE and hands the verified claims to the route as the
authorizer context, where `caller()` reads them.

A refused token answers 401. On AWS the authorizer fails with the message "Unauthorized",
which API Gateway turns into its UNAUTHORIZED gateway response (401; a gateway response in the
template can give it a problem+json body). A missing header never reaches the authorizer:
the gateway answers 401 `{"message":"Unauthorized"}` itself, on AWS and locally alike. Under
Chalice's local gateway (`chalice local`, the test client) an exception from an authorizer
would drop the connection, so there the refusal is raised as the local gateway's own 401,
carrying the problem answer (`UNAUTHENTICATED`, with the reason in `detail`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from chalice import AuthResponse, Blueprint
from chalice.app import AuthRequest

from chalicelib.problems import from_error, problem
from yiwang.people.access import Caller
from yiwang.people.tokens import TrustedIssuer, caller_from_claims, claims_of, verify
from yiwang.platform.config import ConfigurationError, settings
from yiwang.platform.errors import Unauthenticated
from yiwang.platform.identity import present_identifier

routes = Blueprint(__name__)
_log = logging.getLogger(__name__)


class _Unauthorized(Exception):
    """API Gateway answers 401 when a Lambda authorizer fails with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


# API Gateway caches a verdict per token for ttl_seconds, so an expired token may still pass
# for up to that long; a minute keeps that short and still spares most authorizer calls.
@routes.authorizer(name="bearer", ttl_seconds=60)
def bearer(auth: AuthRequest) -> AuthResponse:
    """Allow the request if its bearer token verifies; its claims become the context."""
    try:
        who = verify(_token(auth.token), TrustedIssuer.from_settings(settings()))
    except Unauthenticated as error:
        _log.info("bearer token refused: %s", error)
        raise _refused(error) from None
    except ConfigurationError as error:
        _log.error("bearer authorizer is not configured: %s", error)
        raise _misconfigured(error) from error
    return AuthResponse(routes=["*"], principal_id=who.sub, context=claims_of(who))


def caller() -> Caller:
    """The verified caller of the current request; `Unauthenticated` if the route was not
    behind `bearer` (no verified claims)."""
    request = routes.current_request
    context = getattr(request, "context", None) or {}
    claims = context.get("authorizer")
    if not claims or "sub" not in claims:
        raise Unauthenticated("this call needs a bearer token (Authorization: Bearer <JWT>)")
    return caller_from_claims(claims)


@routes.route("/me", methods=["GET"], authorizer=bearer)
def me() -> dict[str, Any]:
    """The caller's own claims; their own identity number is theirs to see in full."""
    who = caller()
    return {
        "sub": who.sub,
        "role": who.role,
        "dept": who.dept,
        "region": who.region,
        "idNumber": present_identifier(who.id_number, viewer_is_owner_or_handler=True),
        "creditCode": present_identifier(who.credit_code, viewer_is_owner_or_handler=True),
        "position": who.position,
    }


def _token(header: str | None) -> str:
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _local_gateway() -> Any:
    # Loaded by `chalice local` and `chalice.test` before any request; never on Lambda, whose
    # package holds only chalice/app.py.
    return sys.modules.get("chalice.local")


def _refused(error: Unauthenticated) -> Exception:
    gateway = _local_gateway()
    if gateway is None:
        return _Unauthorized()
    answer = from_error(error)
    headers = {**answer.headers, "x-amzn-ErrorType": "UnauthorizedException"}
    return gateway.NotAuthorizedError(headers, answer.body.encode())


def _misconfigured(error: ConfigurationError) -> Exception:
    gateway = _local_gateway()
    if gateway is None:
        return RuntimeError("the bearer authorizer is not configured")  # API Gateway: 500
    answer = problem(500, "MISCONFIGURED", "The API is not configured", str(error))
    headers = {**answer.headers, "x-amzn-ErrorType": "AuthorizerConfigurationException"}
    return gateway.InvalidAuthorizerError(headers, answer.body.encode())
