"""Reading requests: JSON bodies and headers, with bad input as `ValidationFailed`."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Request

from yiwang.platform.errors import FieldError, ValidationFailed


def json_body(request: Request) -> Any:
    """The parsed JSON body; a missing or malformed body is a validation error, not a 500."""
    raw = request.raw_body
    if not raw:
        raise ValidationFailed([FieldError("$", "a JSON body is required")])
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValidationFailed([FieldError("$", f"the body is not JSON: {error}")]) from error


def header(request: Request, name: str) -> str | None:
    """A header's value (names are case-insensitive)."""
    return request.headers.get(name) or request.headers.get(name.lower())
