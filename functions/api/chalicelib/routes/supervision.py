"""Supervision routes (openapi.yaml, tag complaints, supervision): the cards supervisors watch."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy

supervision = lazy("yiwang.supervision.rules")

routes = Blueprint(__name__)


@routes.route("/supervision/cards", methods=["GET"], authorizer=bearer)
def cards() -> dict:
    """`?level=YELLOW|RED`: the open cards with the late step, oldest first."""
    level = (routes.current_request.query_params or {}).get("level")
    return {"cards": supervision.cards(caller(), level)}
