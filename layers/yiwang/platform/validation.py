"""JSON Schema validation (jsonschema, Draft 2020-12) with every error listed at its path.

jsonschema is imported on first use: most functions never validate, and importing it costs a
noticeable share of a cold start. Validators are built once per schema and kept.
"""

from __future__ import annotations

import json
from typing import Any

from yiwang.platform.errors import FieldError

_validators: dict[str, Any] = {}


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
