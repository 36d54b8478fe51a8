"""Reading requests: JSON bodies and headers, with bad input as `ValidationFailed`.

Every JSON body the API reads goes through `parse_json` (routes call `json_body`; the signed
webhooks verify the raw bytes first and then call `json_body` too), so one set of bounds holds
everywhere, before any schema is checked: at most `MAX_BODY_BYTES` (else 413), at most
`MAX_DEPTH` levels of arrays and objects, and only finite numbers (JSON has no NaN or
Infinity; Python's parser accepts them, and a number such as `1e400` overflows to infinity,
which the API could store but never answer as JSON again).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalice.app import Request

from yiwang.platform.errors import FieldError, PayloadTooLarge, ValidationFailed

MAX_BODY_BYTES = 1024 * 1024
"""The largest body read (1 MiB): far above any legal request (the largest, a form with every
field at its bound, is a few hundred KB); files go to S3 by presigned URL, never through here."""
MAX_DEPTH = 32
"""The deepest nesting of arrays and objects a body may have (forms are a few levels deep)."""


class _NotFinite(ValueError):
    """A number JSON cannot carry back (NaN, Infinity, or one that overflows a double)."""


def json_body(request: Request) -> Any:
    """The parsed JSON body; a missing, oversized or malformed body is answered 400/413, never
    a 500."""
    return parse_json(request.raw_body)


def parse_json(raw: bytes | str | None,
               object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """Parse a request body within the API's bounds (see the module's docstring).

    `object_pairs_hook` is json's: a route that must refuse duplicate keys passes its own."""
    if not raw:
        raise ValidationFailed([FieldError("$", "a JSON body is required")])
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(raw)} bytes; at most {MAX_BODY_BYTES} are read")
    try:
        document = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float,
                              object_pairs_hook=object_pairs_hook)
    except RecursionError as error:
        # The C parser gives up long before our limit would matter to a real client.
        raise _too_deep() from error
    except _NotFinite as error:
        raise ValidationFailed([FieldError("$", str(error))]) from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValidationFailed([FieldError("$", f"the body is not JSON: {error}")]) from error
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise ValidationFailed([FieldError("$", f"the body is not usable JSON: {error}")]) \
            from error
    if depth(document) > MAX_DEPTH:
        raise _too_deep()
    return document


def depth(document: Any) -> int:
    """How deeply arrays and objects nest in `document` (a scalar is 0), without recursion."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, level = pending.pop()
        children = (value.values() if isinstance(value, dict)
                    else value if isinstance(value, list) else None)
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break  # deep enough to refuse; no need to walk the rest
        pending.extend((child, level + 1) for child in children)
    return deepest


def _too_deep() -> ValidationFailed:
    return ValidationFailed([FieldError("$", f"arrays and objects nest at most {MAX_DEPTH} deep")])


def _refuse_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotFinite(f"the number {text[:40]} is too large")
    return value


def header(request: Request, name: str) -> str | None:
    """A header's value (names are case-insensitive)."""
    return request.headers.get(name) or request.headers.get(name.lower())
