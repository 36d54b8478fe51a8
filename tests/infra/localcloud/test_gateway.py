"""The gateway responses declared for AWS, rendered as the local gateway answers them."""

from __future__ import annotations

import json

import pytest

from infra.localcloud import gateway

TYPES = sorted(gateway.gateway_responses())


def test_every_gateway_answer_the_brief_lists_is_declared() -> None:
    assert set(TYPES) >= {"DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "ACCESS_DENIED",
                          "MISSING_AUTHENTICATION_TOKEN", "UNSUPPORTED_MEDIA_TYPE",
                          "REQUEST_TOO_LARGE", "THROTTLED", "WAF_FILTERED"}


@pytest.mark.parametrize("response_type", TYPES)
def test_each_renders_as_a_problem_with_its_status(response_type: str) -> None:
    status, headers, body = gateway.render(response_type, 'a "quoted" reason', "req-1")
    problem = json.loads(body)  # the template is valid JSON once API Gateway fills it in
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["status"] == status
    assert problem["detail"] == 'a "quoted" reason' and problem["requestId"] == "req-1"
    assert problem["code"].isupper() and problem["title"]


def test_local_refusals_map_to_the_gateway_types() -> None:
    from chalice.local import ForbiddenError, InvalidAuthorizerError, NotAuthorizedError

    assert gateway.response_type(NotAuthorizedError({}, b"{}")) == "UNAUTHORIZED"
    assert gateway.response_type(ForbiddenError(
        {}, b'{"message": "Missing Authentication Token"}')) == "MISSING_AUTHENTICATION_TOKEN"
    assert gateway.response_type(ForbiddenError({}, b"{}")) == "ACCESS_DENIED"
    assert gateway.response_type(InvalidAuthorizerError({}, b"{}")) == "DEFAULT_5XX"
