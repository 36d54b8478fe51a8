"""GET /health: the stage, and whether the table, bucket and state machines are reachable."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.aws import aws
from chalicelib.health import health
from chalicelib.problems import problem
from yiwang.platform.config import ConfigurationError, settings

routes = Blueprint(__name__)


@routes.route("/health", methods=["GET"])
def get_health() -> Response:
    """The stage, and whether the table, bucket and state machines are reachable."""
    try:
        config = settings()
    except ConfigurationError as error:
        return problem(503, "MISCONFIGURED", "The API is not configured", str(error))
    report = health(config, aws)
    return Response(body=report, status_code=200 if report["status"] == "healthy" else 503)
