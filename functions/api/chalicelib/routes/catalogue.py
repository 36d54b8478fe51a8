"""政务服务事项 catalogue (openapi.yaml, tag catalogue).

Public reads: `GET /items` (`?department=&q=`), `GET /items/{code}` (`?version=`).
事项管理 (`yiwang.catalogue.governance`): the item's department (reviewers of its lead
department) and the reform office (审改部门, administrators) draft — `POST /items` (a new item,
version 1 as a draft), `PUT /items/{code}` (a new draft version); the department submits a
draft (`POST /items/{code}/versions/{version}/submit`); the reform office publishes or returns
it with reasons (`.../publish`, `.../return`), publishes its own drafts (also
`POST /items/{code}/publish`, the latest version) and changes the item's standing (暂停、恢复、
终止, `POST /items/{code}/standing`). Both read any version (`GET .../versions/{version}`) and
the item's audit trail (`GET /items/{code}/audit`). An item of another department answers 404,
as an unknown one; unpublished versions are not public (404); bad input 400 with every error
listed.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.people import policy
from yiwang.people.access import ADMIN, REVIEWER, Caller
from yiwang.platform.errors import FieldError, NotFound, ValidationFailed

catalogue = lazy("yiwang.catalogue.items")
governance = lazy("yiwang.catalogue.governance")

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
    item = catalogue.get_item(code, _version(params.get("version")))
    return {**item.to_api(), **({"standing": item.standing} if item.standing else {})}


@routes.route("/items", methods=["POST"], authorizer=bearer)
def create_item() -> Response:
    """A new item: version 1, as a draft (201); a department's only with itself as the lead."""
    who = caller().require(ADMIN, REVIEWER)
    payload = _object(json_body(routes.current_request))
    item = catalogue.create_draft(payload, who.sub, _origin(who, payload))
    return Response(body=item.to_api(), status_code=201)


@routes.route("/items/{code}", methods=["PUT"], authorizer=bearer)
def draft_item_version(code: str) -> Response:
    """The next version of an item, as a draft (201); the published version stays in force."""
    who = _governing("draftItemVersion", code)
    payload = _object(json_body(routes.current_request))
    item = catalogue.new_draft_version(code, payload, who.sub, _origin(who, payload))
    return Response(body=item.to_api(), status_code=201)


@routes.route("/items/{code}/publish", methods=["POST"], authorizer=bearer)
def publish_item(code: str) -> dict[str, Any]:
    """Publish the item's latest version (submitted, or the office's own draft); 409 when there
    is none."""
    admin = caller().require(ADMIN)
    return catalogue.publish(code, admin.sub).to_api()


@routes.route("/item-reviews", methods=["GET"], authorizer=bearer)
def list_item_reviews() -> dict[str, Any]:
    """Items whose latest version is not published (`?status=` DRAFT, SUBMITTED, RETURNED;
    default all three): the reform office's review queue (`?department=` to narrow it), a
    department's own work in progress (its own items only)."""
    who = caller().require(ADMIN, REVIEWER)
    params = routes.current_request.query_params or {}
    status = params.get("status")
    if status is not None and status not in catalogue.WORK_IN_PROGRESS:
        raise ValidationFailed([FieldError("status", "one of DRAFT, SUBMITTED, RETURNED")])
    department = who.dept if who.role == REVIEWER else (params.get("department") or None)
    statuses = (status,) if status else catalogue.WORK_IN_PROGRESS
    return {"items": catalogue.list_governed(statuses, department)}


@routes.route("/items/{code}/versions/{version}", methods=["GET"], authorizer=bearer)
def get_item_version(code: str, version: str) -> dict[str, Any]:
    """Any version of the item, with its review (submitted, returned and why)."""
    _governing("getItemVersion", code)
    record = catalogue.version_record(code, _path_version(version))
    return {**record.item().to_api(), "review": _review(record)}


@routes.route("/items/{code}/versions/{version}/submit", methods=["POST"],
              authorizer=bearer)
def submit_item_version(code: str, version: str) -> dict[str, Any]:
    """送审: the department submits its latest draft to the reform office."""
    who = _governing("submitItemVersion", code)
    return catalogue.submit(code, _path_version(version), who.sub).to_api()


@routes.route("/items/{code}/versions/{version}/publish", methods=["POST"],
              authorizer=bearer)
def publish_item_version(code: str, version: str) -> dict[str, Any]:
    """发布: the reform office publishes this version (the latest, submitted or its own)."""
    who = _governing("publishItemVersion", code)
    return catalogue.publish(code, who.sub, _path_version(version)).to_api()


@routes.route("/items/{code}/versions/{version}/return", methods=["POST"],
              authorizer=bearer)
def return_item_version(code: str, version: str) -> dict[str, Any]:
    """退回: the reform office returns a submitted version to its department, with reasons."""
    who = _governing("returnItemVersion", code)
    number = _path_version(version)
    reasons = governance.parse_reasons(json_body(routes.current_request))
    return catalogue.return_version(code, number, who.sub, reasons).to_api()


@routes.route("/items/{code}/standing", methods=["POST"], authorizer=bearer)
def change_item_standing(code: str) -> dict[str, Any]:
    """暂停、恢复、终止 from an effective date: the item's standing and every change."""
    who = _governing("changeItemStanding", code)
    return governance.change_standing(code, json_body(routes.current_request), who.sub)


@routes.route("/items/{code}/audit", methods=["GET"], authorizer=bearer)
def item_audit(code: str) -> dict[str, Any]:
    """全程留痕: every change of the item, oldest first."""
    _governing("itemAudit", code)
    return {"code": code, "history": governance.history(code)}


def _governing(operation_id: str, code: str) -> Caller:
    """The caller, if they may call `operation_id` on item `code` (the reform office; the
    item's lead department where the policy lets it); 404 for an unknown item or one of
    another department, 403 for a role that may not at all."""
    who = policy.permit(operation_id, caller())
    lead = catalogue.head_record(code).lead_department
    return policy.check(operation_id, who, policy.Facts(departments=frozenset({lead})),
                        NotFound(f"no item {code}"))


def _origin(who: Caller, payload: dict[str, Any]) -> str:
    """Who drafts: the reform office, or the department (which drafts its own items only)."""
    if who.role == ADMIN:
        return catalogue.OFFICE
    governance.require_own(payload, who.dept)
    return catalogue.DEPARTMENT


def _review(record: Any) -> dict[str, Any]:
    return {"origin": record.origin or catalogue.OFFICE,
            "createdBy": record.created_by, "createdAt": record.created_at.isoformat(),
            "submittedAt": record.submitted_at.isoformat() if record.submitted_at else None,
            "returnedAt": record.returned_at.isoformat() if record.returned_at else None,
            "returnReasons": list(record.return_reasons or []),
            "publishedAt": record.published_at.isoformat() if record.published_at else None}


def _path_version(raw: str) -> int:
    version = _version(raw)
    if version is None:
        raise ValidationFailed([FieldError("version", "a version is a positive whole number")])
    return version


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
