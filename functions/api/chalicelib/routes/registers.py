"""人口库、法人库 routes (openapi.yaml, tag registers): the caller's own register record,
read through the data-sharing exchange (503 `EXCHANGE_UNAVAILABLE` while it is down)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy

prefill = lazy("yiwang.fulfilment.prefill")
registers = lazy("yiwang.people.registers")

routes = Blueprint(__name__)


@routes.route("/me/register", methods=["GET"], authorizer=bearer)
def get_my_register_record() -> dict:
    """The caller's own person or company record, to fill forms from (每个字段注明来源)."""
    return registers.own_record(caller())


@routes.route("/items/{code}/prefill", methods=["GET"], authorizer=bearer)
def prefill_form(code: str) -> dict:
    """一次填报: the item's form filled from the caller's register record and certificate
    library, each field with its source and whether it may be corrected."""
    return prefill.offer(caller(), code)
