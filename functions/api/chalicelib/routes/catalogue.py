"""政务服务事项 catalogue (openapi.yaml, tag catalogue).

Public reads: `GET /items` (`?department=&q=`), `GET /items/{code}` (`?version=`).
Administrators: `POST /items` (a new item, version 1 as a draft), `PUT /items/{code}` (a new
draft version), `POST /items/{code}/publish` (the latest draft becomes the published version).
Unknown items and unpublished versions answer 404; bad input 400 with every error listed.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.people.access import ADMIN
from yiwang.platform.errors import FieldError, ValidationFailed

catalogue = lazy("yiwang.catalogue.items")

routes = Blueprint(__name__)


@routes.route("/items", methods=["GET"])
def list_items() -> dict[str, Any]:
    """`{"items":[ItemSummary]}`: published items by code, optionally filtered."""
    params = routes.current_request.query_params or {}
    items = catalogue.list_items(department=(params.get("department") or "").strip() or None,
                                 q=params.get("q") or None)
    return {"items": [item.summary() for item in items]}


@routes.route("/items/{code}", methods=["GET"])
def get_item(code: str) -> dict[str, Any]:
    """The published version of an item, or `?version=` an earlier published one."""
    params = routes.current_request.query_params or {}
    return catalogue.get_item(code, _version(params.get("version"))).to_api()


@routes.route("/items", methods=["POST"], authorizer=bearer)
def create_item() -> Response:
    """A new item: version 1, as a draft (201)."""
    admin = caller().require(ADMIN)
    item = catalogue.create_draft(_object(json_body(routes.current_request)), admin.sub)
    return Response(body=item.to_api(), status_code=201)


@routes.route("/items/{code}", methods=["PUT"], authorizer=bearer)
def draft_item_version(code: str) -> Response:
    """The next version of an item, as a draft (201); the published version stays in force."""
    admin = caller().require(ADMIN)
    payload = _object(json_body(routes.current_request))
    item = catalogue.new_draft_version(code, payload, admin.sub)
    return Response(body=item.to_api(), status_code=201)


@routes.route("/items/{code}/publish", methods=["POST"], authorizer=bearer)
def publish_item(code: str) -> dict[str, Any]:
    """Publish the item's latest draft; 409 when there is none."""
    admin = caller().require(ADMIN)
    return catalogue.publish(code, admin.sub).to_api()


def _version(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed([FieldError("version", "a version is a positive whole number")])
    return int(raw)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("$", "the body must be a JSON object")])
    return body
