"""The gateway's own answers, as API Gateway gives them on AWS, for chalice's local gateway.

On AWS, requests the API never sees (no token, a refused token, no such route, an authorizer
that failed) are answered by API Gateway with the gateway responses that `infra/api_edge.yaml`
declares: problem+json with a stable code. Chalice's local gateway (`chalice local`, the test
client) answers those itself with API Gateway's default bodies (`{"message":"Unauthorized"}`).
This patch renders the same declared responses there, read from the same file, so a client sees
one contract locally and on AWS. It changes no answer the API itself gives.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml

from infra.localcloud.patches import replace

EDGE = Path(__file__).resolve().parents[1] / "api_edge.yaml"


class _TolerantLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (`!Ref`, `!Sub`...) read as plain values."""


_TolerantLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_scalar(node)
    if isinstance(node, yaml.ScalarNode) else None)


@functools.cache
def gateway_responses() -> dict[str, dict[str, Any]]:
    """The `GatewayResponses` the edge template declares for the API, by response type."""
    template = yaml.load(EDGE.read_text(encoding="utf-8"), Loader=_TolerantLoader)  # noqa: S506
    for resource in template.get("Resources", {}).values():
        declared = (resource.get("Properties") or {}).get("GatewayResponses")
        if declared:
            return declared
    raise LookupError(f"no GatewayResponses in {EDGE}")


def render(response_type: str, message: str, request_id: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a declared gateway response, with `$context.error.
    messageString` (a JSON string, quotes included) and `$context.requestId` filled in."""
    declared = gateway_responses()[response_type]
    body = declared["ResponseTemplates"]["application/json"]
    body = body.replace("$context.error.messageString", json.dumps(message))
    body = body.replace("$context.requestId", request_id)
    headers = {name: value.strip("'") for name, value in
               (declared.get("ResponseParameters") or {}).get("Headers", {}).items()}
    return int(declared["StatusCode"]), headers, body.encode("utf-8")


def response_type(error: Any) -> str:
    """The gateway response type API Gateway would answer a local gateway refusal with."""
    from chalice.local import ForbiddenError, NotAuthorizedError

    if isinstance(error, NotAuthorizedError):
        return "UNAUTHORIZED"
    if isinstance(error, ForbiddenError):
        return "MISSING_AUTHENTICATION_TOKEN" if b"Missing Authentication Token" in (
            error.body or b"") else "ACCESS_DENIED"
    return "DEFAULT_5XX"  # an authorizer that failed (InvalidAuthorizerError)


def answer_as_the_gateway_does() -> None:
    """Make chalice's local gateway answer its refusals with the declared gateway responses.
    Applied once per process: by the local cloud (tests' in-process test client) and by the API
    server `make run` starts."""
    from chalice.local import LocalGateway

    replace(LocalGateway, "handle_request", _answering)


def _answering(original: Any) -> Any:
    from chalice.local import LocalGatewayException

    @functools.wraps(original)
    def handle_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except LocalGatewayException as error:
            if _is_problem(error):  # the API's authorizer answered with its own problem
                raise
            message = _message(error.body)
            request_id = (error.headers or {}).get("x-amzn-RequestId", "")
            status, headers, body = render(response_type(error), message, request_id)
            error.CODE = status
            error.headers = {**(error.headers or {}), **headers}
            error.body = body
            raise
    return handle_request


def _is_problem(error: Any) -> bool:
    headers = {name.lower(): value for name, value in (error.headers or {}).items()}
    return headers.get("content-type") == "application/problem+json"


def _message(body: bytes | None) -> str:
    try:
        return str(json.loads(body or b"{}").get("message") or "")
    except (ValueError, AttributeError):
        return ""
