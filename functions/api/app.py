"""Yiwang HTTP API (Chalice): thin routes over the domain package in the layer.

A route parses the request, calls the domain, and shapes the answer; errors are problem+json.
AWS clients are created on first use, so importing the app stays cheap (cold starts).
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from chalice import Chalice, Response

from chalicelib.health import health
from chalicelib.problems import problem
from yiwang.config import ConfigurationError, settings

app = Chalice(app_name="yiwang-api")


@functools.cache
def aws(service: str) -> Any:
    """One client per service for the life of the process (the endpoint comes from env)."""
    return boto3.client(service)


@app.route("/health", methods=["GET"])
def get_health() -> Response:
    """The stage, and whether the table, bucket and state machines are reachable."""
    try:
        config = settings()
    except ConfigurationError as error:
        return problem(503, "MISCONFIGURED", "The API is not configured", str(error))
    report = health(config, aws)
    return Response(body=report, status_code=200 if report["status"] == "healthy" else 503)
