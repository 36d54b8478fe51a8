"""电子证照 routes (openapi.yaml, tag certificates): reading a certificate, verifying one
(public)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import personal_data
from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import parse_json

certificates = lazy("yiwang.fulfilment.certificates")
library = lazy("yiwang.fulfilment.library")
views = lazy("yiwang.views.certificates")

routes = Blueprint(__name__)


@routes.route("/certificates/{number}", methods=["GET"], authorizer=bearer)
def get_certificate(number: str) -> dict:
    """The signed envelope, for its holder (by identity number or credit code), the
    departments that handled it and the window; supervisors see it with the holder's identifier
    masked (`yiwang.views.certificates`); anyone else is told there is no such certificate
    (404). A staff read leaves an access record."""
    who = caller()
    why = personal_data.purpose(routes.current_request, who, "certificate")
    record = certificates.load_for(who, number)
    answer = views.present(record, who)
    personal_data.record(who, why, [(personal_data.access_log.applicant_subject(
        record.holder_code), "certificate", record.number)])
    return answer


class _DuplicateKey(Exception):  # not a ValueError: parse_json answers those as 400
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key could be read differently by another parser than by ours.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


@routes.route("/certificates/verify", methods=["POST"])
def verify_certificate() -> dict:
    """Body: the signed envelope (or its `document` and `signature`) → `{"valid", "standing"?,
    "reason"?}`: valid only if genuine and in force today. Public: no token needed.
    Malformed JSON is a 400; anything else is answered."""
    try:
        body = parse_json(routes.current_request.raw_body, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as key:
        return {"valid": False, "reason": f"the certificate has the key '{key}' twice"}
    valid, reason = certificates.verify(body, kms=aws("kms"))
    if not valid:
        return {"valid": False, "reason": reason}
    # Genuine: whether it is in force today (暂扣、吊销、注销、过期), from the library.
    return library.verdict(body["document"]["number"])
