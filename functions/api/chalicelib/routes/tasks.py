"""Review tasks (openapi.yaml, tag tasks): a department's queue and its decisions; claiming and
reassigning (经办人、转交); the applicant's supplement."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.platform.errors import FieldError, ValidationFailed

statuses = lazy("yiwang.applications.status")
tasks = lazy("yiwang.applications.tasks")
handlers = lazy("yiwang.applications.handlers")

routes = Blueprint(__name__)
MAX_HANDLER = 128
"""The longest `?handler=` (a staff `sub`)."""


@routes.route("/tasks", methods=["GET"], authorizer=bearer)
def list_tasks() -> dict:
    """`?status=PENDING` (the only queue kept): the pending tasks the caller sees;
    `?handler=<sub>` keeps one handler's."""
    params = routes.current_request.query_params or {}
    pending = tasks.TaskStatus.PENDING
    if params.get("status", pending) != pending:
        raise ValidationFailed([FieldError("status", "only PENDING tasks are listed")])
    handler = params.get("handler")
    if handler is not None and not 0 < len(handler) <= MAX_HANDLER:
        raise ValidationFailed([FieldError("handler", f"1 to {MAX_HANDLER} characters")])
    return {"tasks": [t.to_api() for t in handlers.visible_pending(caller(), handler)]}


@routes.route("/tasks/{task_id}/decision", methods=["POST"], authorizer=bearer)
def decide(task_id: str) -> dict:
    """Decide once; a second decision is 409, another department's task 404."""
    task = tasks.decide(caller(), task_id, json_body(routes.current_request),
                        aws("stepfunctions"))
    return {"taskId": task.task_id, "status": task.status}


@routes.route("/tasks/{task_id}/claim", methods=["POST"], authorizer=bearer)
def claim(task_id: str) -> dict:
    """领办: the caller becomes the task's handler; claimed by another meanwhile, 409."""
    return handlers.claim(caller(), task_id).to_api()


@routes.route("/tasks/{task_id}/reassign", methods=["POST"], authorizer=bearer)
def reassign(task_id: str) -> dict:
    """转交 (the head): `{handler, reason}`; the task keeps its deadline."""
    return handlers.reassign(caller(), task_id, json_body(routes.current_request)).to_api()


@routes.route("/applications/{application_id}/supplement", methods=["POST"],
              authorizer=bearer)
def supplement(application_id: str) -> Response:
    body = json_body(routes.current_request) if routes.current_request.raw_body else {}
    tasks.supplement(caller(), application_id, body, aws("stepfunctions"))
    return Response(status_code=202, body={"id": application_id,
                                                 "status": statuses.Status.SUBMITTED})
