"""收费 step of the application lifecycle: open the payment order the execution waits on.

Called as a `lambda:invoke.waitForTaskToken` Task after every department approved an item with
a fee; the execution resumes when the provider's signed callback reports the payment
(`POST /webhooks/payment`, `yiwang.fulfilment.payments.settle`).
"""

from __future__ import annotations

from typing import Any

from yiwang.fulfilment import payment_provider
from yiwang.platform.config import settings
from yiwang.platform.observability import MetricUnit, lambda_entry, logger, metrics
from yiwang.themes import payments as theme_payments


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Event: `{"applicationId", "taskToken"}`. Returns the order (`orderId`, `amountFen`,
    `payUrl`, `expiresAt`, `status`); the execution itself waits for the callback."""
    logger.set_correlation_id(event["applicationId"])
    provider = payment_provider.provider_for(settings())
    # An application of a theme (一件事一次办) holds its share; the theme's one order opens
    # with the provider once every share is there.
    order = theme_payments.open_order(event["applicationId"], event["taskToken"], provider)
    metrics.add_metric(name="PaymentOrdered", unit=MetricUnit.Count, value=1)
    logger.info("payment order open", extra={"orderId": order.order_id,
                                              "amountFen": int(order.amount_fen)})
    return {key: value for key, value in order.to_api().items() if key != "applicationId"}
