"""openapi.yaml: a valid OpenAPI 3.1 document that describes every route the API serves."""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from openapi_spec_validator import validate

SPEC = Path(__file__).resolve().parents[1] / "openapi.yaml"
_PARAMETER = re.compile(r"\{[^}]+\}")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def app() -> Any:
    """The Chalice app as the local stage serves it (with POST /dev/token)."""
    with mock.patch.dict(os.environ, {"STAGE": "local"}):
        import app as api_module

        if "/dev/token" not in api_module.app.routes:
            api_module = importlib.reload(api_module)
        return api_module.app


def shape(path: str) -> str:
    """A path with its parameters unnamed: `/applications/{}` for `{application_id}` and `{id}`."""
    return _PARAMETER.sub("{}", path)


def served(app: Any) -> dict[tuple[str, str], Any]:
    """(METHOD, path shape) → the route entry, for every route the app registers."""
    return {(method, shape(path)): entry for path, methods in app.routes.items()
            for method, entry in methods.items()}


def documented(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path shape) → the operation, for every operation in the document."""
    return {(method.upper(), shape(path)): operation
            for path, item in spec["paths"].items() for method, operation in item.items()
            if method in {"get", "put", "post", "delete", "patch"}}


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises with the first error, $refs resolved


def test_every_route_the_app_serves_is_documented(app: Any, spec: dict[str, Any]) -> None:
    missing = sorted(f"{method} {path}" for method, path in served(app).keys() - documented(spec)
                     .keys())
    assert not missing, f"routes missing from openapi.yaml: {missing}"


def test_security_matches_the_authorizers(app: Any, spec: dict[str, Any]) -> None:
    operations = documented(spec)
    for key, entry in served(app).items():
        security = operations[key].get("security", spec["security"])
        schemes = {name for requirement in security for name in requirement}
        if entry.authorizer is not None:
            assert schemes == {"bearer"}, f"{key} needs a bearer token"
        else:
            assert "bearer" not in schemes, f"{key} is public (or signed), not bearer"


def test_webhooks_document_their_signature_headers(spec: dict[str, Any]) -> None:
    for path in ("/webhooks/payment", "/webhooks/courier"):
        operation = spec["paths"][path]["post"]
        headers = {p["$ref"].rsplit("/", 1)[-1] for p in operation["parameters"]}
        assert headers == {"WebhookTimestamp", "WebhookSignature"}
        assert operation["security"] == [{"webhookSignature": []}]
        assert "BAD_SIGNATURE" in spec["components"]["responses"]["WebhookRefused"][
            "description"]


def test_errors_are_problems_with_every_code_the_api_answers(
        app: Any, spec: dict[str, Any]) -> None:
    from yiwang.platform.errors import DomainError

    components = spec["components"]
    for (method, path), operation in documented(spec).items():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            if "$ref" in response:
                response = components["responses"][response["$ref"].rsplit("/", 1)[-1]]
            assert "application/problem+json" in response["content"], f"{method} {path} {status}"

    def codes(kind: type[DomainError]) -> set[str]:
        return {kind.code}.union(*(codes(sub) for sub in kind.__subclasses__()))

    documented_codes = set(components["schemas"]["Problem"]["properties"]["code"]["enum"])
    assert codes(DomainError) | {"MISCONFIGURED"} <= documented_codes


def test_the_gateways_own_problems_use_codes_the_contract_lists() -> None:
    # On AWS, API Gateway answers some requests itself (throttled, blocked, no route); its
    # problem bodies are written in infra/api_edge.yaml and must speak the same codes.
    edge = (SPEC.parent / "infra" / "api_edge.yaml").read_text(encoding="utf-8")
    gateway_codes = set(re.findall(r'"code": "([A-Z_]+)"', edge))
    listed = set(yaml.safe_load(SPEC.read_text(encoding="utf-8"))
                 ["components"]["schemas"]["Problem"]["properties"]["code"]["enum"])
    assert gateway_codes and gateway_codes <= listed, gateway_codes - listed
