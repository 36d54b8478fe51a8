"""The payment provider (收费渠道) as the platform uses it: the adapter that registers an order
and names the page where the applicant pays it, and the provider's settings (its URL, the
secret that signs its callbacks, the check of a callback's signature).

The orders themselves, and what a verified callback does, are `yiwang.fulfilment.payments`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import quote, urlencode

from yiwang.platform.config import Settings
from yiwang.platform.signatures import provider_secret, verify


class PaymentProvider(Protocol):
    """A payment provider: registers an order and tells where the applicant pays it."""

    def create_payment(self, order_id: str, amount_fen: int, description: str) -> str:
        """Register the order (idempotent on `order_id`); return the URL the applicant opens."""
        ...


@dataclass(frozen=True)
class LocalPaymentProvider:
    """The local simulator (`python -m infra.providers.payment serve`): it keeps no state, so
    registering is building the URL of its pay page."""

    base_url: str

    def create_payment(self, order_id: str, amount_fen: int, description: str) -> str:
        query = urlencode({"amount": amount_fen, "subject": description})
        return f"{self.base_url.rstrip('/')}/pay/{quote(order_id, safe='')}?{query}"


def provider_for(config: Settings) -> PaymentProvider:
    """The provider this stack is configured for (only the local simulator exists so far);
    `ConfigurationError` naming PAYMENT_PROVIDER_URL when none is: no order is opened."""
    return LocalPaymentProvider(config.require("payment_provider_url"))


def webhook_secret(config: Settings) -> bytes:
    """The payment provider's webhook secret (Secrets Manager in AWS; openapi.yaml)."""
    return provider_secret("payment", value=config.payment_webhook_secret,
                           arn=config.payment_webhook_secret_arn)


def verify_signature(secret: bytes, timestamp: str | None, raw_body: bytes | None,
                     signature_header: str | None, now: datetime | None = None) -> None:
    """`BadSignature` or `StaleWebhook` unless the callback is authentic and fresh."""
    verify(secret, timestamp, raw_body, signature_header, now)
