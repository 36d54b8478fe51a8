"""物流/送达 routes: the courier's webhook (openapi.yaml, tag webhooks), collection at the
window and delivery tracking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint, Response

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.problems import problem
from chalicelib.requests import header, json_body
from yiwang.platform.config import ConfigurationError, settings

applications = lazy("yiwang.applications.drafts")
views = lazy("yiwang.views.applications")
couriers = lazy("yiwang.fulfilment.couriers")
delivery = lazy("yiwang.fulfilment.delivery")
signatures = lazy("yiwang.platform.signatures")

routes = Blueprint(__name__)


@routes.route("/webhooks/courier", methods=["POST"])
def courier_webhook() -> Response | dict[str, Any]:
    """`{"waybillNo","event","at","note"?}`, signed; verified on the raw bytes before the body
    is parsed. A forged or stale callback is 401 and changes nothing; a repeated one is 200."""
    request = routes.current_request
    try:
        secret = couriers.courier_webhook_secret(settings())
    except ConfigurationError as error:
        return problem(503, "MISCONFIGURED", "The API is not configured", str(error))
    signatures.verify(secret, header(request, signatures.TIMESTAMP_HEADER), request.raw_body,
                      header(request, signatures.SIGNATURE_HEADER), datetime.now(UTC))
    return delivery.record_courier_event(json_body(request), datetime.now(UTC),
                                         aws("stepfunctions"))


@routes.route("/applications/{application_id}/pickup", methods=["POST"], authorizer=bearer)
def pickup(application_id: str) -> dict[str, Any]:
    """Window staff record the collection: `{"collectedBy","note"?}` → the completed
    application; a second collection is 409."""
    who = caller()
    record = delivery.complete_pickup(who, application_id, json_body(routes.current_request),
                                      aws("stepfunctions"), datetime.now(UTC))
    return views.present(record, who)


@routes.route("/applications/{application_id}/delivery", methods=["GET"], authorizer=bearer)
def track(application_id: str) -> dict[str, Any]:
    """The delivery as the applicant tracks it (waybill, status, the courier's events)."""
    return delivery.tracking(applications.load_for(caller(), application_id,
                                                    "trackDelivery"))
