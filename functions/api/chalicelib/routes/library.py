"""证照库 routes (openapi.yaml, tag certificates): a holder's library, a case's holder's for
the staff who handle it, a certificate's standing (暂扣、恢复、吊销、注销), and materials
satisfied by a certificate or a register check instead of a file (免提交)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import personal_data
from chalicelib.auth import bearer, caller
from chalicelib.lazy import lazy
from chalicelib.requests import json_body

library = lazy("yiwang.fulfilment.library")
reuse = lazy("yiwang.fulfilment.reuse")

routes = Blueprint(__name__)


@routes.route("/me/certificates", methods=["GET"], authorizer=bearer)
def list_my_certificates() -> dict:
    """The caller's certificates (a company's for its staff), with their standing."""
    return library.own_library(caller())


@routes.route("/applications/{application_id}/holder-certificates", methods=["GET"],
              authorizer=bearer)
def list_case_holder_certificates(application_id: str) -> dict:
    """What the case's applicant holds, for the staff who handle the case; the read leaves an
    access record with its purpose (`X-Access-Purpose`, CERTIFICATE_LOOKUP by default)."""
    who = caller()
    why = personal_data.purpose(routes.current_request, who, "certificate")
    return library.case_holder_library(who, application_id, why.value if why else None)


@routes.route("/certificates/{number}/standing", methods=["POST"], authorizer=bearer)
def change_certificate_standing(number: str) -> dict:
    """暂扣、恢复、吊销、注销 with reason and authority; the new standing."""
    record = library.change_standing(caller(), number, json_body(routes.current_request))
    return {"number": record.number, "standing": library.standing_of(record).value,
            "reason": record.standing_reason, "authority": record.standing_authority}


@routes.route("/applications/{application_id}/material-offers", methods=["GET"],
              authorizer=bearer)
def list_material_offers(application_id: str) -> dict:
    """材料免提交: for each missing material that may stand without a file, what the
    applicant's library and register hold for it."""
    return reuse.offers(caller(), application_id)


@routes.route("/applications/{application_id}/material-references", methods=["POST"],
              authorizer=bearer)
def reference_material(application_id: str) -> Response:
    """Satisfy a material by a checked certificate or register record (核验), not a file."""
    ref = reuse.reference(caller(), application_id, json_body(routes.current_request))
    return Response(status_code=201, body=ref.view())
