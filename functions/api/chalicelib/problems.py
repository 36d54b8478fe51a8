"""RFC 9457 problem answers (`application/problem+json`) with the API's stable codes.

Routes raise domain errors; the middleware in `app.py` turns each into a problem answer here,
so no route formats an error by hand and no bad input becomes a 500.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from chalice import Response

from yiwang.platform.errors import (
    Conflict,
    DomainError,
    FieldsUnprocessable,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)

PROBLEM_TYPE = "application/problem+json"
_STATUS: list[tuple[type[DomainError], int]] = [
    (FieldsUnprocessable, 422),  # before its base class, ValidationFailed
    (ValidationFailed, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (Unprocessable, 422),
    (Unavailable, 503),
]


def problem(status: int, code: str, title: str, detail: str = "", **extra: Any) -> Response:
    """A problem answer; `code` is the machine code clients branch on."""
    body = {
        "type": f"https://yiwang.gov.cn/problems/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": PROBLEM_TYPE},
    )


def from_error(error: DomainError) -> Response:
    """The problem answer for a domain error (400 for one the table does not name)."""
    status = next((s for kind, s in _STATUS if isinstance(error, kind)), 400)
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationFailed):
        extra["errors"] = [asdict(e) for e in error.errors]
    answer = problem(status, error.code, error.title, str(error), **extra)
    if isinstance(error, Unavailable):
        answer.headers["Retry-After"] = str(error.retry_after)
    return answer
