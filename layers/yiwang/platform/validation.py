"""JSON Schema validation (jsonschema, Draft 2020-12) with every error listed at its path.

jsonschema is imported on first use: most functions never validate, and importing it costs a
noticeable share of a cold start. Validators are built once per schema and kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from yiwang.platform.errors import FieldError

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
"""The dates the platform reasons about (deadlines, calendars, statistics): a date outside is
a client's mistake, and near year 1 or 9999 date arithmetic overflows."""
MAX_NUMBER = 10**15
"""The largest magnitude of a number in a free-form document: every client (JavaScript's
doubles included) keeps it exactly."""

_validators: dict[str, Any] = {}


@dataclass(frozen=True)
class Bounds:
    """Default bounds of a free-form document (an application form: its item's schema may
    leave strings, arrays or objects unbounded; these hold whatever the schema says)."""

    max_string: int = 2000
    max_items: int = 200
    max_properties: int = 200


FORM_BOUNDS = Bounds()
"""The bounds every application form is held to, on top of its item's form schema."""


def in_date_range(day: date) -> bool:
    """Whether `day` lies within FIRST_DAY .. LAST_DAY."""
    return FIRST_DAY <= day <= LAST_DAY


def date_range_error(path: str) -> FieldError:
    """The error for a date outside the platform's range."""
    return FieldError(path, f"a date between {FIRST_DAY} and {LAST_DAY}")


def bound_errors(document: Any, bounds: Bounds, prefix: str = "") -> list[FieldError]:
    """Every string, array, object or number of `document` beyond `bounds`, at its path
    (walked without recursion; the request reader has limited the depth already)."""
    found: list[FieldError] = []
    pending: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        problem = _beyond(value, bounds)
        if problem:
            found.append(FieldError(error_path(list(path), prefix), problem))
            continue
        if isinstance(value, dict):
            pending.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((v, (*path, i)) for i, v in enumerate(value))
    return sorted(found, key=lambda e: e.path)


def _beyond(value: Any, bounds: Bounds) -> str | None:
    if isinstance(value, str) and len(value) > bounds.max_string:
        return f"at most {bounds.max_string} characters"
    if isinstance(value, list) and len(value) > bounds.max_items:
        return f"at most {bounds.max_items} items"
    if isinstance(value, dict):
        if len(value) > bounds.max_properties:
            return f"at most {bounds.max_properties} properties"
        long_name = next((k for k in value if len(k) > bounds.max_string), None)
        if long_name is not None:
            return f"property names of at most {bounds.max_string} characters"
    if isinstance(value, int | float) and not isinstance(value, bool) \
            and not -MAX_NUMBER <= value <= MAX_NUMBER:
        return f"a number between -{MAX_NUMBER} and {MAX_NUMBER}"
    return None


def _validator(schema: dict[str, Any], formats: bool) -> Any:
    key = json.dumps([schema, formats], sort_keys=True, ensure_ascii=False)
    if key not in _validators:
        from jsonschema import Draft202012Validator

        checker = Draft202012Validator.FORMAT_CHECKER if formats else None
        _validators[key] = Draft202012Validator(schema, format_checker=checker)
    return _validators[key]


def meta_schema() -> dict[str, Any]:
    """The Draft 2020-12 meta-schema (to check that a document is itself a JSON Schema)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator.META_SCHEMA


def error_path(path: list[Any] | Any, prefix: str = "") -> str:
    parts = [prefix] * bool(prefix) + [str(p) for p in path]
    return ".".join(parts) or "$"


def errors(schema: dict[str, Any], document: Any, prefix: str = "",
           formats: bool = False) -> list[FieldError]:
    """Every way `document` breaks `schema`; a missing property is reported at its own path
    (`form.projectName`), so a portal can mark the very field."""
    found, missing_seen = [], set()
    validator = _validator(schema, formats)
    for error in sorted(validator.iter_errors(document),
                        key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance and (*path, name) not in missing_seen:
                    missing_seen.add((*path, name))
                    found.append(FieldError(error_path([*path, name], prefix),
                                            f"'{name}' is required"))
            continue
        found.append(FieldError(error_path(path, prefix), error.message))
    return found
