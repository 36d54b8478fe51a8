"""Supervision routes (openapi.yaml, tag complaints, supervision): the cards supervisors watch;
督办 (urgings: a supervisor urges a department with a reason and a deadline; the department
replies); 效能 (the monthly performance scores, as JSON, CSV or XLSX, and appeals against their
findings)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.people.access import ADMIN, SUPERVISOR
from yiwang.platform.config import settings
from yiwang.platform.errors import FieldError, ValidationFailed

access_log = lazy("yiwang.supervision.access_log")
supervision = lazy("yiwang.supervision.rules")
urgings = lazy("yiwang.supervision.urgings")
scores = lazy("yiwang.stats.scores")
appeals = lazy("yiwang.stats.appeals")
downloads = lazy("yiwang.stats.downloads")
notices = lazy("yiwang.people.notices")

routes = Blueprint(__name__)


@routes.route("/supervision/cards", methods=["GET"], authorizer=bearer)
def cards() -> dict:
    """`?level=YELLOW|RED`: the open cards with the late step, oldest first."""
    level = (routes.current_request.query_params or {}).get("level")
    return {"cards": supervision.cards(caller(), level)}


@routes.route("/supervision/access-log", methods=["GET"], authorizer=bearer)
def access_records() -> dict:
    """个人信息访问留痕: `?subject=<identity number or credit code>&staff=<sub>&limit=&nextToken=`,
    newest first, each subject masked; supervisors and administrators only."""
    who = caller().require(SUPERVISOR, ADMIN)
    return access_log.search(who, access_log.parse(routes.current_request.query_params))


def _urging(outcome: urgings.Outcome, status_code: int = 200) -> Response:
    """Send the change's notices (站内信), then answer the urging."""
    topic = settings().notices_topic_arn
    for notice in outcome.notices if topic else []:
        notices.publish(aws("sns"), topic, notice)
    return Response(body=urgings.present(outcome.urging), status_code=status_code)


@routes.route("/supervision/urgings", methods=["POST"], authorizer=bearer)
def urge() -> Response:
    """督办 `{"target":"APPLICATION|COMPLAINT|DEPARTMENT","id"?,"department"?,"reason",
    "workingDays"}` (supervisors) → 201 the urging, its clock running."""
    return _urging(urgings.urge(caller(), json_body(routes.current_request)), 201)


@routes.route("/supervision/urgings", methods=["GET"], authorizer=bearer)
def department_urgings() -> dict:
    """A department's urgings, newest first (`?status=OPEN|REPLIED`): reviewers their own,
    supervisors name `?department=`."""
    query = routes.current_request.query_params or {}
    found = urgings.for_department(caller(), query.get("department"), query.get("status"))
    return {"urgings": [urgings.present(urging) for urging in found]}


@routes.route("/supervision/urgings/{urging_id}", methods=["GET"], authorizer=bearer)
def get_urging(urging_id: str) -> dict:
    return urgings.present(urgings.load_for(caller(), urging_id))


@routes.route("/supervision/urgings/{urging_id}/reply", methods=["POST"], authorizer=bearer)
def reply(urging_id: str) -> Response:
    """The urged department's reply `{"reply"}`: the urging's clock stops."""
    return _urging(urgings.reply(caller(), urging_id, json_body(routes.current_request)))


SCORE_FORMATS = {"json": "application/json", "csv": "text/csv",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
"""The scores' formats: `?format=`, or else the first the `Accept` header names."""


def _score_format() -> str:
    request = routes.current_request
    named = (request.query_params or {}).get("format")
    if named:
        if named not in SCORE_FORMATS:
            raise ValidationFailed([FieldError("format", f"one of {', '.join(SCORE_FORMATS)}")])
        return named
    accept = request.headers.get("accept", "")
    for form, content_type in SCORE_FORMATS.items():
        if form != "json" and content_type in accept:
            return form
    return "json"


@routes.route("/supervision/scores", methods=["GET"], authorizer=bearer)
def performance_scores() -> Response | dict:
    """效能: `?month=YYYY-MM` (default: this month) → each department's and staff member's
    score and the findings; `format=csv|xlsx` (or `Accept`) downloads the table."""
    who = caller()
    month = scores.parse_month((routes.current_request.query_params or {}).get("month"))
    form = _score_format()
    board = scores.scoreboard(who, month, appeals.of_month(month))
    if form == "json":
        return board
    rows = scores.rows(board)
    body = (downloads.to_csv(scores.COLUMNS, rows).decode("utf-8") if form == "csv" else
            downloads.to_xlsx(scores.COLUMNS, rows, month, widths=[(0, 2, 20)]))
    return Response(body=body, headers={
        "Content-Type": downloads.CSV if form == "csv" else downloads.XLSX,
        "Content-Disposition": f'attachment; filename="scores-{month}.{form}"'})


@routes.route("/supervision/scores/appeals", methods=["POST"], authorizer=bearer)
def appeal_score() -> Response:
    """申诉 `{"month","itemId","reason"}` by the department the finding counts against → 201."""
    record = appeals.appeal(caller(), json_body(routes.current_request))
    return Response(body=appeals.present(record), status_code=201)


@routes.route("/supervision/scores/appeals/{appeal_id}/decision", methods=["POST"],
              authorizer=bearer)
def decide_appeal(appeal_id: str) -> dict:
    """A supervisor's `{"uphold","note"?}`: upheld takes the finding out of the score."""
    return appeals.present(appeals.decide(caller(), appeal_id,
                                          json_body(routes.current_request)))
