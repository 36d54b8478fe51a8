"""部门 registry (the departments items, complaints and certificates name).

Signed-in callers: `GET /departments` (every department, by code), `GET /departments/{code}`.
Administrators: `PUT /departments/{code}` creates (201) or updates (200) a department; a
concurrent change answers 409, bad input 400 with every error listed, an unknown code 404.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.people.access import ADMIN

departments = lazy("yiwang.catalogue.departments")
views = lazy("yiwang.views.departments")

routes = Blueprint(__name__)


@routes.route("/departments", methods=["GET"], authorizer=bearer)
def list_departments() -> dict[str, Any]:
    """`{"departments":[Department]}`, by code."""
    caller()
    return {"departments": [views.present(record) for record in departments.all()]}


@routes.route("/departments/{code}", methods=["GET"], authorizer=bearer)
def get_department(code: str) -> dict[str, Any]:
    """One department; 404 if the registry has none."""
    caller()
    return views.present(departments.get(code))


@routes.route("/departments/{code}", methods=["PUT"], authorizer=bearer)
def put_department(code: str) -> Response:
    """Create (201) or update (200) a department, audited."""
    admin = caller().require(ADMIN)
    change = departments.put(admin.sub, code, json_body(routes.current_request))
    return Response(body=views.present(change.department),
                    status_code=201 if change.created else 200)
