"""The SMS provider (短信平台) as the platform uses it: the adapter that sends one templated
message, and the secret that signs both our requests and the provider's delivery receipts.

Like every SMS provider, it sends only templates registered with it in advance, each with
named variables: an unregistered template or a missing variable is refused (`SmsRefused`,
permanent: sending it again would be refused again); a provider that does not answer or
answers 5xx is `SmsUnavailable` (worth another try). Requests carry the same
`X-Yiwang-Timestamp` / `X-Yiwang-Signature` HMAC headers as the providers' callbacks
(`yiwang.platform.signatures`), so the provider knows they are ours.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from yiwang.platform.config import Settings, settings
from yiwang.platform.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, provider_secret, sign


class SmsRefused(Exception):
    """The provider refused the message for good (its `code`: TEMPLATE_NOT_REGISTERED,
    MISSING_VARIABLE, BAD_PHONE...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class SmsUnavailable(Exception):
    """The provider did not take the message this time (network, 5xx, throttled)."""


class SmsProvider(Protocol):
    def send(self, reference: str, phone: str, template: str,
             variables: dict[str, str]) -> str:
        """Send one message (idempotent on `reference`); the provider's message id."""
        ...


@dataclass(frozen=True)
class HttpSmsProvider:
    """The provider's HTTP API (`POST <url>/sms/send`), as the local simulator speaks it
    (`python -m infra.providers.sms serve`)."""

    base_url: str
    secret: bytes

    def send(self, reference: str, phone: str, template: str,
             variables: dict[str, str]) -> str:
        body = json.dumps({"reference": reference, "phone": phone, "template": template,
                           "variables": variables}, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            self.base_url.rstrip("/") + "/sms/send", data=body, method="POST",
            headers={"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                     SIGNATURE_HEADER: sign(self.secret, timestamp, body)})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - configured
                return str(json.load(answer)["messageId"])
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            if 400 <= error.code < 500 and error.code != 429:
                try:
                    problem = json.loads(text)
                except json.JSONDecodeError:
                    problem = {}
                raise SmsRefused(str(problem.get("code") or f"HTTP_{error.code}"),
                                 str(problem.get("message") or text)[:300]) from error
            raise SmsUnavailable(f"HTTP {error.code}: {text[:300]}") from error
        except (OSError, ValueError, KeyError) as error:
            raise SmsUnavailable(str(error)) from error


def sms_secret(config: Settings) -> bytes:
    """The SMS provider's secret (Secrets Manager in AWS; openapi.yaml, tag webhooks)."""
    return provider_secret("sms", value=config.sms_webhook_secret,
                           arn=config.sms_webhook_secret_arn)


def provider_from_settings() -> SmsProvider:
    """The provider this stack is configured for; `ConfigurationError` naming
    SMS_PROVIDER_URL when none is (messages then wait in the outbox)."""
    config = settings()
    return HttpSmsProvider(config.require("sms_provider_url"), sms_secret(config))
