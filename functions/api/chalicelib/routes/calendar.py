"""Working-day calendar routes (openapi.yaml, tag calendar)."""

from __future__ import annotations

from datetime import UTC, datetime

from chalice import Blueprint

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from chalicelib.requests import json_body
from yiwang.people.access import ADMIN
from yiwang.platform.errors import FieldError, ValidationFailed

calendar_store = lazy("yiwang.calendar.calendar_store")
validation = lazy("yiwang.platform.validation")

routes = Blueprint(__name__)


def _year(text: str) -> int:
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise ValidationFailed([FieldError("year", "a year between 2000 and 2100")])
    return int(text)


@routes.route("/calendar/due", methods=["GET"])
def due() -> dict:
    """`?from=<ISO time>&workingDays=<N>` → `{"due","basis"}` (public)."""
    params = routes.current_request.query_params or {}
    errors = []
    try:
        start = datetime.fromisoformat(params.get("from", ""))
        if start.tzinfo is None:
            errors.append(FieldError("from", "give the time with its offset, e.g. +08:00"))
        elif not validation.in_date_range(start.date()):  # year 1 or 9999 overflows
            errors.append(validation.date_range_error("from"))
    except ValueError:
        errors.append(FieldError("from", "an ISO 8601 time with offset is required"))
    days = params.get("workingDays", "")
    if not days.isdigit():
        errors.append(FieldError("workingDays", "a whole number of working days"))
    if errors:
        raise ValidationFailed(errors)
    # A fallback adds `CalendarDataMissing` (calendar_store.due); app.py flushes metrics.
    deadline = calendar_store.due(start, int(days))
    return {"due": deadline.due.isoformat(), "basis": str(deadline.basis),
            **({"fallbackYears": list(deadline.fallback_years)} if deadline.fallback_years
               else {})}


@routes.route("/calendar/{year}", methods=["GET"])
def get_year(year: str) -> dict:
    return calendar_store.schedule_of(_year(year))


@routes.route("/calendar/{year}", methods=["PUT"], authorizer=bearer)
def put_year(year: str) -> dict:
    """Administrators load a year's official schedule; it takes precedence from then on."""
    who = caller().require(ADMIN)
    return calendar_store.load_year(_year(year), json_body(routes.current_request), who.sub,
                                    datetime.now(UTC))
