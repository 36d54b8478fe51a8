"""收费 routes: the payment provider's signed callback (openapi.yaml, tag webhooks) and the
administrator's fee waiver (减免, docs/rules.md §3, fee).

The callback has no bearer token: the HMAC signature over timestamp and raw body is its
authentication, checked on the raw bytes before the body is parsed, so a forged or stale
callback (401 `BAD_SIGNATURE` / `STALE_WEBHOOK`) changes nothing.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

from chalice import Blueprint

from chalicelib.auth import bearer, caller
from chalicelib.aws import aws
from chalicelib.lazy import lazy
from chalicelib.requests import header, json_body
from yiwang.platform.config import settings
from yiwang.platform.observability import metrics

payment_provider = lazy("yiwang.fulfilment.payment_provider")
payments = lazy("yiwang.fulfilment.payments")
signatures = lazy("yiwang.platform.signatures")
theme_payments = lazy("yiwang.themes.payments")

routes = Blueprint(__name__)


@routes.route("/webhooks/payment", methods=["POST"])
def payment_webhook() -> dict:
    """`{"orderId","transactionId","amountFen","status","paidAt"}` → `{"orderId","status",
    "flags"?}`; the same delivery again answers the same and does nothing more."""
    request = routes.current_request
    now = datetime.now(UTC)
    payment_provider.verify_signature(
        payment_provider.webhook_secret(settings()), header(request, signatures.TIMESTAMP_HEADER),
        request.raw_body, header(request, signatures.SIGNATURE_HEADER), now)
    body = json_body(request)
    try:
        if isinstance(body, dict) and theme_payments.is_theme_order(str(body.get("orderId"))):
            return theme_payments.settle(body, aws("stepfunctions"), now)  # 一次缴费
        outcome = payments.settle(body, aws("stepfunctions"), now)
    finally:
        _flush_metrics()
    return outcome.to_api()


@routes.route("/applications/{application_id}/fee-waiver", methods=["POST"],
              authorizer=bearer)
def waive_fee(application_id: str) -> dict:
    """Administrators: `{"reason"}` → the waived order; the application goes on as paid."""
    body = json_body(routes.current_request)
    reason = body.get("reason") if isinstance(body, dict) else None
    try:
        order = payments.waive(caller(), application_id, reason, aws("stepfunctions"))
    finally:
        _flush_metrics()
    return order.to_api()


def _flush_metrics() -> None:
    # The API has no `lambda_entry` to flush metrics; a callback that added none only warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics.flush_metrics()
