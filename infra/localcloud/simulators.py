"""The outside world of the local cloud: the payment provider's, the courier's and the
data-sharing exchange's simulators (`infra.providers`), serving on free loopback ports beside it.

The platform has no provider of its own to fall back on: a stack is always told where its
providers are. The local cloud tells it these simulators' URLs, through the template's
local-cloud-only parameters (`infra/localcloud/deploy.py`), exactly as an AWS stack is told
the real providers' (`infra/package.py`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from infra.providers import DEFAULT_API, courier, exchange, payment, sms


@dataclass(frozen=True)
class SimulatorUrls:
    """Where the simulators answer: the base URLs a stack's functions are configured with."""

    payment: str
    courier: str
    sms: str
    exchange: str

    def parameters(self) -> dict[str, str]:
        """The template parameters that give a local-cloud stack these URLs."""
        return {"LocalCloudPaymentProviderUrl": self.payment,
                "LocalCloudCourierProviderUrl": self.courier,
                "LocalCloudSmsProviderUrl": self.sms,
                "LocalCloudExchangeUrl": self.exchange}


class Simulators:
    """The simulators, each an HTTP server in a daemon thread; `start()` returns once all
    listen. Callbacks (the pay page's 支付 button) go to the API at `api`."""

    def __init__(self, host: str = "127.0.0.1", api: str = DEFAULT_API) -> None:
        self.host = host
        self.api = api
        self._servers: dict[str, ThreadingHTTPServer] = {}

    def start(self) -> None:
        """Serve the simulators on ports the system picks."""
        self._servers = {"payment": payment.serve(port=0, api=self.api, host=self.host),
                         "courier": courier.serve(port=0, api=self.api, host=self.host),
                         "sms": sms.serve(port=0, api=self.api, host=self.host),
                         "exchange": exchange.serve(port=0, host=self.host)}
        for server in self._servers.values():
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def urls(self) -> SimulatorUrls:
        """The simulators' base URLs; only while they serve."""
        if not self._servers:
            raise RuntimeError("the provider simulators are not serving; start() them first")
        return SimulatorUrls(**{name: f"http://{self.host}:{server.server_address[1]}"
                                for name, server in self._servers.items()})

    def stop(self) -> None:
        """Stop serving and free the ports."""
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers = {}
