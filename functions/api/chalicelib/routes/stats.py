"""统计 route (openapi.yaml, tag complaints, supervision): `GET /stats/applications`.

`?groupBy=department|item|status&from=&to=` (dates, Asia/Shanghai, inclusive; the last 30 days
by default), optionally `&department=&item=`; a department's reviewers always get their own
department. Staff and supervisors only. `&format=csv` or `&format=xlsx` downloads the same
table (an .xlsx answer needs an `Accept` header naming its type, or `*/*`). What the numbers
mean, and why they come from aggregates and never from the applications: `yiwang.stats.aggregates`.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from yiwang.platform.errors import FieldError, ValidationFailed

stats = lazy("yiwang.stats.aggregates")

routes = Blueprint(__name__)
FORMATS = ("json", "csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
"""The spreadsheet's content type (`yiwang.stats.aggregates.XLSX`, written out so that
registering the route imports nothing): the app lists it among its binary types."""


@routes.route("/stats/applications", methods=["GET"], authorizer=bearer)
def application_stats() -> Response | dict[str, Any]:
    params = dict(routes.current_request.query_params or {})
    form = params.get("format") or "json"
    if form not in FORMATS:
        raise ValidationFailed([FieldError("format", f"one of {', '.join(FORMATS)}")])
    table = stats.summary(stats.query_of(caller(), params))
    if form == "json":
        return table
    body, content_type = ((stats.to_csv(table).decode("utf-8"), stats.CSV) if form == "csv"
                          else (stats.to_xlsx(table), stats.XLSX))
    return Response(body=body, headers={
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{stats.filename(table, form)}"'})
