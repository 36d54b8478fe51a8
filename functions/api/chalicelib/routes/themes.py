"""一件事一次办 routes (openapi.yaml, tag themes): themes defined from published items, and
theme cases (one submission, linked applications, one combined status, one pickup)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import header, json_body
from yiwang.platform.config import settings

cases = lazy("yiwang.themes.cases")
definitions = lazy("yiwang.themes.definitions")

routes = Blueprint(__name__)


@routes.route("/themes", methods=["GET"])
def list_themes() -> dict[str, Any]:
    """Every theme (public): code, name, items."""
    return {"themes": [theme.summary() for theme in definitions.list_themes()]}


@routes.route("/themes", methods=["POST"], authorizer=bearer)
def create_theme() -> Response:
    """Administrators: a new theme, checked against its items' published schemas (422)."""
    theme = definitions.define(caller(), json_body(routes.current_request))
    return Response(status_code=201, body=theme.to_api())


@routes.route("/themes/{code}", methods=["GET"])
def get_theme(code: str) -> dict[str, Any]:
    """The theme (public): its merged form, items and de-duplicated materials."""
    return definitions.get_theme(code).to_api()


@routes.route("/themes/{code}", methods=["PUT"], authorizer=bearer)
def put_theme(code: str) -> dict[str, Any]:
    """Administrators: define or replace the theme `code` (checked as a new one is)."""
    return definitions.define(caller(), json_body(routes.current_request), code).to_api()


@routes.route("/themes/{code}/applications", methods=["POST"], authorizer=bearer)
def create_theme_case(code: str) -> Response:
    """One submission of the theme: the case and one draft per item; with `Idempotency-Key`
    a repeated request returns the first case."""
    answer = cases.create(caller(), code, json_body(routes.current_request),
                          idempotency_key=header(routes.current_request, "Idempotency-Key"))
    return Response(status_code=201, body=answer)


@routes.route("/theme-cases", methods=["GET"], authorizer=bearer)
def list_theme_cases() -> dict[str, Any]:
    """Applicants: their own theme cases, newest first (`limit`, `nextToken`)."""
    return cases.list_cases(caller(), routes.current_request.query_params)


@routes.route("/theme-cases/{case_id}", methods=["GET"], authorizer=bearer)
def get_theme_case(case_id: str) -> dict[str, Any]:
    """The combined status: each application's, the theme's, a refusal explained."""
    return cases.view(caller(), case_id)


@routes.route("/theme-cases/{case_id}/submit", methods=["POST"], authorizer=bearer)
def submit_theme_case(case_id: str) -> Response:
    """Submit every application of the case (each its own lifecycle, once)."""
    case = cases.submit(caller(), case_id, aws("stepfunctions"),
                        settings().require("lifecycle_state_machine_arn"))
    return Response(status_code=202, body={"id": case.case_id, "status": case.status,
                                           "applications": case.application_ids})


@routes.route("/theme-cases/{case_id}/pickup", methods=["POST"], authorizer=bearer)
def pickup_theme_case(case_id: str) -> dict[str, Any]:
    """Window staff hand over every certificate of the case at once (`{"collectedBy"}`)."""
    return cases.pickup(caller(), case_id, json_body(routes.current_request),
                        aws("stepfunctions"))
