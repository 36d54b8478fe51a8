"""快递 (couriers) as the platform uses them: the adapter that books a waybill, the courier
this deployment is configured for, and the secret that signs the courier's webhooks.

The shipments themselves, and what a courier's event does, are `yiwang.fulfilment.delivery`.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from yiwang.platform.config import Settings, settings


class Courier(Protocol):
    """A courier company's API, as far as the platform uses it."""

    carrier: str

    def create_waybill(self, application_id: str, address: Any, contents: str) -> str:
        """Book a pickup of `contents` for delivery to `address`; the waybill number.

        `application_id` is the order reference the courier keeps with the waybill."""
        ...


@dataclass(frozen=True)
class LocalCourier:
    """The courier API the local simulator speaks (`python -m infra.providers.courier serve`,
    `POST <url>/waybills`), waybill numbers in SF Express's format (`SF` + 12 digits).

    Every waybill number comes from the courier at `provider_url`: the platform never makes
    one up, since a number no courier knows would leave the certificate undelivered."""

    provider_url: str
    carrier: str = "SF"

    def create_waybill(self, application_id: str, address: Any, contents: str) -> str:
        request = urllib.request.Request(
            self.provider_url.rstrip("/") + "/waybills", method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"orderId": application_id, "address": address,
                             "contents": contents}, ensure_ascii=False).encode())
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - configured URL
            return str(json.load(answer)["waybillNo"])


def courier_from_settings() -> Courier:
    """The courier this deployment is configured for (only the simulator's API exists so far);
    `ConfigurationError` naming COURIER_PROVIDER_URL when none is: nothing is dispatched.

    Not cached beyond the settings: a courier remembered from another configuration (a
    process that runs several functions, as the local cloud does) would dispatch anyway."""
    return LocalCourier(settings().require("courier_provider_url"))


def courier_webhook_secret(config: Settings) -> bytes:
    """The courier's webhook secret (Secrets Manager in AWS; openapi.yaml)."""
    # Imported here: the delivery step (its own function's cold start) needs no secret.
    from yiwang.platform.signatures import provider_secret

    return provider_secret("courier", value=config.courier_webhook_secret,
                           arn=config.courier_webhook_secret_arn)
