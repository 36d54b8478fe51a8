"""行政区划 routes (openapi.yaml, tag regions): the region tree, and one region with its
parent chain, children, service centres and departments. Every signed-in caller reads them.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from yiwang.platform.errors import FieldError, ValidationFailed

views = lazy("yiwang.views.regions")

routes = Blueprint(__name__)
MAX_CODE = 12
"""The longest region code (a village's)."""


@routes.route("/regions", methods=["GET"], authorizer=bearer)
def list_regions() -> dict[str, Any]:
    """`?under=<code>`: the tree from that region down (the whole tree without it)."""
    caller()
    under = (routes.current_request.query_params or {}).get("under") or None
    if under is not None and len(under) > MAX_CODE:
        raise ValidationFailed([FieldError("under", f"a region code, at most {MAX_CODE} "
                                                    "characters")])
    return views.listing(under)


@routes.route("/regions/{code}", methods=["GET"], authorizer=bearer)
def get_region(code: str) -> dict[str, Any]:
    """One region; 404 if the tree has none."""
    caller()
    return views.detail(code)
