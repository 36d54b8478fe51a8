"""Review tasks (openapi.yaml, tag tasks): a department's queue and its decisions; the
applicant's supplement."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.platform.errors import FieldError, ValidationFailed

statuses = lazy("yiwang.applications.status")
tasks = lazy("yiwang.applications.tasks")

routes = Blueprint(__name__)


@routes.route("/tasks", methods=["GET"], authorizer=bearer)
def list_tasks() -> dict:
    """`?status=PENDING` (the only queue kept): the caller's department's pending tasks."""
    pending = tasks.TaskStatus.PENDING
    if (routes.current_request.query_params or {}).get("status", pending) != pending:
        raise ValidationFailed([FieldError("status", "only PENDING tasks are listed")])
    return {"tasks": [t.to_api() for t in tasks.pending_for(caller())]}


@routes.route("/tasks/{task_id}/decision", methods=["POST"], authorizer=bearer)
def decide(task_id: str) -> dict:
    """Decide once; a second decision is 409, another department's task 404."""
    task = tasks.decide(caller(), task_id, json_body(routes.current_request),
                        aws("stepfunctions"))
    return {"taskId": task.task_id, "status": task.status}


@routes.route("/applications/{application_id}/supplement", methods=["POST"],
              authorizer=bearer)
def supplement(application_id: str) -> Response:
    body = json_body(routes.current_request) if routes.current_request.raw_body else {}
    tasks.supplement(caller(), application_id, body, aws("stepfunctions"))
    return Response(status_code=202, body={"id": application_id,
                                                 "status": statuses.Status.SUBMITTED})
