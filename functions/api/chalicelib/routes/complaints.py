"""投诉建议 routes (openapi.yaml: complaints): registration, the handling
department's and the supervisors' actions, the complainant's revisit. Each action answers the
complaint as the caller may see it."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import personal_data
from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.people.access import Caller
from yiwang.platform.config import settings

complaints = lazy("yiwang.complaints.handling")
records = lazy("yiwang.complaints.records")
views = lazy("yiwang.views.complaints")

routes = Blueprint(__name__)


def _body() -> object:
    return json_body(routes.current_request)


def _answer(record: records.ComplaintRecord) -> dict:
    return views.present(record, caller())


@routes.route("/complaints", methods=["POST"], authorizer=bearer)
def register() -> Response:
    """Anyone signed in (phone and visit channels: window staff) → `201` routed, with its
    department and deadline."""
    record = complaints.register(caller(), _body(), aws("stepfunctions"),
                                 settings().require("complaint_state_machine_arn"))
    return Response(status_code=201, body=views.receipt(record))


@routes.route("/complaints", methods=["GET"], authorizer=bearer)
def department_complaints() -> dict:
    """Reviewers: their department's complaints (`?status=`); supervisors name
    `?department=`."""
    query = routes.current_request.query_params or {}
    who = caller()
    why = personal_data.purpose(routes.current_request, who, "complaint")
    found = records.for_department(who, query.get("department"), query.get("status"))
    answer = {"complaints": [views.present(record, who) for record in found]}
    _record_reads(who, why, found)
    return answer


@routes.route("/complaints/{complaint_id}", methods=["GET"], authorizer=bearer)
def get_complaint(complaint_id: str) -> dict:
    """The complaint, for the complainant, the handling department and supervisors; anyone
    else is told there is no such complaint (404). A staff read of its complainant's contact
    (and private content) leaves an access record."""
    who = caller()
    why = personal_data.purpose(routes.current_request, who, "complaint")
    record = records.load_for(who, complaint_id)
    answer = views.present(record, who)
    _record_reads(who, why, [record])
    return answer


def _record_reads(who: Caller, why: object, shown: list[records.ComplaintRecord]) -> None:
    """Access records for the complaints whose personal data staff were shown in full."""
    subject = personal_data.access_log.complainant_subject
    personal_data.record(who, why, [(subject(r.owner_sub, r.complaint_id), "complaint",
                                     r.complaint_id) for r in shown if views.handles(who, r)])


@routes.route("/complaints/{complaint_id}/accept", methods=["POST"], authorizer=bearer)
def accept(complaint_id: str) -> dict:
    return _answer(complaints.accept(caller(), complaint_id, aws("stepfunctions")))


@routes.route("/complaints/{complaint_id}/return", methods=["POST"], authorizer=bearer)
def return_(complaint_id: str) -> dict:
    return _answer(complaints.return_(caller(), complaint_id, _body(), aws("stepfunctions")))


@routes.route("/complaints/{complaint_id}/extend", methods=["POST"], authorizer=bearer)
def extend(complaint_id: str) -> dict:
    return _answer(complaints.extend(caller(), complaint_id, _body()))


@routes.route("/complaints/{complaint_id}/resolve", methods=["POST"], authorizer=bearer)
def resolve(complaint_id: str) -> dict:
    return _answer(complaints.resolve(caller(), complaint_id, _body(), aws("stepfunctions")))


@routes.route("/complaints/{complaint_id}/route", methods=["POST"], authorizer=bearer)
def reroute(complaint_id: str) -> dict:
    return _answer(complaints.reroute(caller(), complaint_id, _body(), aws("stepfunctions")))


@routes.route("/complaints/{complaint_id}/urgency", methods=["POST"], authorizer=bearer)
def grade(complaint_id: str) -> dict:
    return _answer(complaints.grade(caller(), complaint_id, _body()))


@routes.route("/complaints/{complaint_id}/reject", methods=["POST"], authorizer=bearer)
def reject(complaint_id: str) -> dict:
    return _answer(complaints.reject(caller(), complaint_id, _body(), aws("stepfunctions")))


@routes.route("/complaints/{complaint_id}/merge", methods=["POST"], authorizer=bearer)
def merge(complaint_id: str) -> dict:
    return _answer(complaints.merge(caller(), complaint_id, _body(), aws("stepfunctions")))


@routes.route("/complaints/{complaint_id}/revisit", methods=["POST"], authorizer=bearer)
def revisit(complaint_id: str) -> dict:
    return _answer(complaints.revisit(caller(), complaint_id, _body(), aws("stepfunctions")))


@routes.route("/complaints/{complaint_id}/invalid", methods=["POST"], authorizer=bearer)
def invalidate(complaint_id: str) -> dict:
    return _answer(complaints.invalidate(caller(), complaint_id, _body(), aws("stepfunctions")))


@routes.route("/complaints/{complaint_id}/extension", methods=["POST"], authorizer=bearer)
def decide_extension(complaint_id: str) -> dict:
    return _answer(complaints.decide_extension(caller(), complaint_id, _body()))


@routes.route("/complaints/{complaint_id}/conclude", methods=["POST"], authorizer=bearer)
def conclude(complaint_id: str) -> dict:
    return _answer(complaints.conclude(caller(), complaint_id, _body(), aws("stepfunctions")))
