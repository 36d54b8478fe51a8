"""一次填报: form fields an item's schema marks as coming from what the platform already knows.

A field with `"x-source"` names where its value comes from:

- `register.<field>`: the applicant's register record (人口库 or 法人库: `name`, `creditCode`,
  `idNumber`, `address`, `legalRepresentative`, `businessScope`);
- `certificate.<type>.<field>`: a field of a certificate of that type in the applicant's
  library (another issuer's, verified, or one the platform issued).

`"x-correctable": true` lets the applicant change the value; otherwise the value stands as the
source gives it. `GET /items/{code}/prefill` offers the filled form with each field's source
(`yiwang.fulfilment.prefill`); at the draft, `enforce` fills what the applicant left out from
the register and refuses a change to a field the item does not let them correct.
"""

from __future__ import annotations

from typing import Any

from yiwang.platform.errors import FieldError

SOURCE = "x-source"
CORRECTABLE = "x-correctable"


def sourced_fields(schema: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Field → (its source, whether the applicant may correct it)."""
    return {name: (str(spec[SOURCE]), spec.get(CORRECTABLE) is True)
            for name, spec in (schema.get("properties") or {}).items()
            if isinstance(spec, dict) and isinstance(spec.get(SOURCE), str)}


def resolve(source: str, register: dict[str, Any] | None,
            certificates: list[dict[str, Any]] | None = None) -> Any:
    """The value `source` names, or None when the platform does not hold it."""
    kind, _, rest = source.partition(".")
    if kind == "register":
        return (register or {}).get(rest)
    if kind == "certificate":
        type_code, _, field = rest.partition(".")
        for certificate in certificates or []:
            if type_code in {certificate.get("typeCode"), certificate.get("itemCode")}:
                content = certificate.get("content") or {}
                facts = {f.get("field"): f.get("value") for f in certificate.get("facts") or []}
                value = content.get(field, facts.get(field))
                if value is not None:
                    return value
    return None


def enforce(schema: dict[str, Any], form: dict[str, Any], register: dict[str, Any] | None
            ) -> tuple[dict[str, Any], dict[str, str], list[FieldError]]:
    """The form with register-sourced fields filled where left out; the fields filled (→
    source); and an error for each non-correctable field the applicant changed."""
    filled: dict[str, str] = {}
    errors: list[FieldError] = []
    form = dict(form)
    for name, (source, correctable) in sourced_fields(schema).items():
        if not source.startswith("register."):
            continue
        value = resolve(source, register)
        if value is None:
            continue
        if name not in form:
            form[name], filled[name] = value, source
        elif form[name] != value and not correctable:
            errors.append(FieldError(f"form.{name}", f"comes from {source} and may not be "
                                                     f"corrected for this item"))
    return form, filled, errors
