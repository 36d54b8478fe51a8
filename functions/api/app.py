"""Yiwang HTTP API (Chalice): thin routes over the domain package in the layer.

Routes live in blueprints under `chalicelib/routes/`, one per part of the contract (API.md);
a route parses the request, calls the domain and shapes the answer. Domain errors become
problem+json answers in one place (the middleware below). AWS clients are created on first
use, so importing the app stays cheap (cold starts).
"""

from __future__ import annotations

from collections.abc import Callable

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.problems import from_error
from chalicelib.routes import health
from yiwang.errors import DomainError

app = Chalice(app_name="yiwang-api")
app.register_blueprint(health.routes)


@app.middleware("http")
def domain_errors_as_problems(
    event: Request, get_response: Callable[[Request], Response]
) -> Response:
    """Every domain error a route raises becomes its problem answer."""
    try:
        return get_response(event)
    except DomainError as error:
        return from_error(error)
