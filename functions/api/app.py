"""Yiwang HTTP API (Chalice): thin routes over the domain package in the layer.

Routes live in blueprints under `chalicelib/routes/`, one per part of the contract (openapi.yaml);
a route parses the request, calls the domain and shapes the answer. Domain errors become
problem+json answers in one place (`answering_domain_errors`, below). AWS clients are created
on first use and the routes import the domain modules they use on first use
(`chalicelib.lazy`), so importing the app stays cheap (cold starts): a cold start pays for
what its first request needs, not for every part of the contract.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response

from chalicelib import auth
from chalicelib.problems import PROBLEM_TYPE, from_error, problem
from chalicelib.routes import (
    agency,
    applications,
    calendar,
    catalogue,
    certificates,
    complaints,
    delivery,
    departments,
    health,
    library,
    notices,
    payments,
    ratings,
    regions,
    registers,
    stats,
    supervision,
    tasks,
    themes,
)
from yiwang.people import policy
from yiwang.platform.errors import DomainError
from yiwang.platform.observability import flush_pending_metrics, logger

app = Chalice(app_name="yiwang-api")
app.register_blueprint(auth.routes)  # the `bearer` authorizer and GET /me
app.register_blueprint(health.routes)
app.register_blueprint(catalogue.routes)
app.register_blueprint(departments.routes)  # 部门 registry: /departments...
app.register_blueprint(regions.routes)  # 行政区划: /regions...
app.register_blueprint(applications.routes)
app.register_blueprint(calendar.routes)
app.register_blueprint(tasks.routes)
app.register_blueprint(payments.routes)  # POST /webhooks/payment (signed), fee waiver
app.register_blueprint(certificates.routes)
app.register_blueprint(delivery.routes)  # POST /webhooks/courier (signed), window pickup
app.register_blueprint(supervision.routes)  # GET /supervision/cards
app.register_blueprint(complaints.routes)  # 投诉建议: /complaints...
app.register_blueprint(ratings.routes)  # 好差评: /applications/{id}/rating, /ratings...
app.register_blueprint(stats.routes)  # 统计: GET /stats/applications (JSON, CSV, XLSX)
app.register_blueprint(notices.routes)  # 告知: /me/notices, POST /webhooks/sms, GET /sms/failed
app.register_blueprint(registers.routes)  # 人口库、法人库 via the exchange: GET /me/register
app.register_blueprint(library.routes)  # 证照库: /me/certificates, standing, a case's holder's
app.register_blueprint(agency.routes)  # 授权代办: /me/agents
app.register_blueprint(themes.routes)  # 一件事一次办: /themes..., /theme-cases...
app.api.binary_types.append(stats.XLSX_TYPE)  # the spreadsheet download is bytes
# Read at import: POST /dev/token exists in the local stage only (openapi.yaml, tag identity).
if os.environ.get("STAGE") == "local":
    from chalicelib.routes import dev

    app.register_blueprint(dev.routes)


def answering_domain_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that answers the domain errors it raises as problems, and any other error as a
    500 problem (`INTERNAL`) with a correlation id, logged with its traceback.

    Chalice turns any exception a view raises into a 500 before middleware sees it (only
    `ChaliceUnhandledError` passes), so each view is wrapped once, here.
    """

    @functools.wraps(view)
    def answering(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DomainError as error:
            return from_error(error)
        except Exception:  # noqa: BLE001 - any failure is answered, never a bare 500
            return internal_error()

    return answering


def internal_error() -> Response:
    """The 500 problem for an error nobody handled: the client gets an id to quote, the log
    gets the traceback under that id (and never the client the details)."""
    correlation_id = _request_id() or uuid.uuid4().hex
    logger.exception("unhandled error", extra={"correlationId": correlation_id})
    return problem(500, "INTERNAL", "Internal error",
                   "an unexpected error; nothing is known to have changed (quote the "
                   "correlation id)", correlationId=correlation_id)


def _request_id() -> str | None:
    context = getattr(app.current_request, "context", None) or {}
    return context.get("requestId")


CHALICE_ERRORS = {400: ("BAD_REQUEST", "Bad request"),
                  405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
                  415: ("UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json"),
                  500: ("INTERNAL", "Internal error")}
"""The errors Chalice answers by itself, before or after a view, as problem codes."""


@app.middleware("http")
def answering_chalice_errors_as_problems(event: Any, get_response: Any) -> Response:
    """Chalice's own answers (415 for a wrong Content-Type, 405, its 500, a binary answer
    without its Accept header) come as `{"Code","Message"}`; every error is problem+json."""
    try:
        response = get_response(event)
    except Exception:  # noqa: BLE001 - e.g. a middleware after this one
        return internal_error()
    if not _chalice_error(response):
        return response
    code, title = CHALICE_ERRORS.get(response.status_code, ("INTERNAL", "Internal error"))
    body = response.body if isinstance(response.body, dict) else {}
    answer = problem(response.status_code, code, title, str(body.get("Message", "")))
    answer.headers = {**response.headers, **answer.headers}
    return answer


def _chalice_error(response: Response) -> bool:
    """An error answer Chalice made (`{"Code","Message"}`, or any 500 not already a problem);
    a route's own answers pass as they are."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    if response.status_code < 400 or headers.get("content-type", "").startswith(PROBLEM_TYPE):
        return False
    return response.status_code == 500 or (isinstance(response.body, dict)
                                           and "Code" in response.body)


def flushing_metrics(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that publishes the metrics its request added (EMF on stdout, which CloudWatch
    turns into metrics), answered or failed: the API has no `lambda_entry` to do it."""

    @functools.wraps(view)
    def flushing(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        finally:
            flush_pending_metrics()

    return flushing


def permitted_roles(operation_id: str, view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that first refuses (403) a caller whose role may not call the operation at all
    (`yiwang.people.policy`), before anything is read, so an unknown id answers the same; the
    caller's relation to the resource is checked by the domain once it is read. Public and
    webhook operations have no bearer caller to check."""
    rule = policy.rule(operation_id)
    if rule.public or rule.webhook:
        return view

    @functools.wraps(view)
    def permitting(*args: Any, **kwargs: Any) -> Any:
        policy.permit(operation_id, auth.caller())
        return view(*args, **kwargs)

    return permitting


def _operation(path: str, method: str) -> str:
    operation = policy.operation_at(method, path)
    if operation is None:  # every route has its row in the access policy, or none is served
        raise RuntimeError(f"{method} {path} has no row in yiwang.people.policy.POLICY")
    return operation


for _path, _methods in app.routes.items():
    for _method, _entry in _methods.items():
        _entry.view_function = flushing_metrics(answering_domain_errors(
            permitted_roles(_operation(_path, _method), _entry.view_function)))
