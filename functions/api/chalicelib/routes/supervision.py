"""Supervision routes (openapi.yaml, tag complaints, supervision): the cards supervisors watch."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from yiwang.people.access import ADMIN, SUPERVISOR

access_log = lazy("yiwang.supervision.access_log")
supervision = lazy("yiwang.supervision.rules")

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
