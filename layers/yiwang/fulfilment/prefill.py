"""一次填报、多处共享: an item's form filled from what the platform already knows of the caller —
their register record (人口库、法人库) and their certificate library (证照库) — each field shown
with its source and whether the item lets the applicant correct it. The fields and their sources
are the item schema's (`yiwang.applications.prefill`)."""

from __future__ import annotations

from typing import Any

from yiwang.applications.prefill import resolve, sourced_fields
from yiwang.catalogue.items import get_item
from yiwang.fulfilment import library
from yiwang.people.access import APPLICANT, Caller
from yiwang.platform.errors import NotFound


def offer(caller: Caller, item_code: str, exchange: Any = None) -> dict[str, Any]:
    """`GET /items/{code}/prefill`: `{"form", "sources", "exchange"}` for the caller; every
    lookup recorded (purpose PREFILL, or CERTIFICATE_CHECK for the library)."""
    from yiwang.people.access_log import AccessRecord, Purpose
    from yiwang.people.registers import (
        COMPANY_REGISTER,
        PERSON_REGISTER,
        SELF,
        Check,
        CheckStatus,
        lookup_record,
    )
    from yiwang.platform.exchange import Call, ExchangeUnavailable, exchange_from_settings

    caller.require(APPLICANT)
    code = caller.credit_code or caller.id_number
    if not code:
        raise NotFound("your account carries no identity number or credit code")
    item = get_item(item_code)
    legal = bool(caller.credit_code)
    source = COMPANY_REGISTER if legal else PERSON_REGISTER
    call = Call(Purpose.PREFILL.value, SELF)
    records = [lookup_record(caller, code, source, call)]
    certificates = [library.summary(found) for found in library.held_by(code)]
    try:
        exchange = exchange or exchange_from_settings()
        found = exchange.company(code, call) if legal else exchange.person(code, call)
        register = Check(CheckStatus.VERIFIED, source, found).fields() if found else {}
        verified, _, access = library.external_library(caller, code, SELF, exchange)
        certificates += verified
        records += access
        status = "AVAILABLE"
    except ExchangeUnavailable:
        register, status = {}, "UNAVAILABLE"
    with AccessRecord.batch_write() as batch:
        for record in records:
            batch.save(record)
    form: dict[str, Any] = {}
    sources: dict[str, dict[str, Any]] = {}
    for name, (where, correctable) in sourced_fields(item.form_schema).items():
        value = resolve(where, register, certificates)
        if value is not None:
            form[name] = value
            sources[name] = {"source": where, "correctable": correctable}
    return {"itemCode": item.code, "form": form, "sources": sources, "exchange": status}
