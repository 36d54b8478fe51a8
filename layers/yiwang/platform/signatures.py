"""Webhook signatures (openapi.yaml, tag webhooks), shared by every provider and by the local
simulators.

A provider sends `X-Yiwang-Timestamp: <Unix seconds>` and
`X-Yiwang-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`, one secret
per provider. A callback older than five minutes (or more than five minutes ahead of our clock)
is stale; anything else that does not match is forged. Both answer 401 and change nothing, so
verify on the raw bytes *before* parsing the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from yiwang.platform.config import ConfigurationError
from yiwang.platform.errors import Unauthenticated

SECRET_MAX_AGE_SECONDS = 300
"""How long a secret read from Secrets Manager is cached (a rotation takes effect within it)."""
TIMESTAMP_HEADER = "X-Yiwang-Timestamp"
SIGNATURE_HEADER = "X-Yiwang-Signature"
TOLERANCE = timedelta(minutes=5)
_PREFIX = "sha256="


class BadSignature(Unauthenticated):
    """The webhook's signature is missing, malformed or does not match its body and timestamp."""

    code = "BAD_SIGNATURE"
    title = "The webhook signature is not valid"


class StaleWebhook(Unauthenticated):
    """The webhook is more than five minutes older or newer than now (a replay, a bad clock)."""

    code = "STALE_WEBHOOK"
    title = "The webhook is too old"


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: bytes | str, timestamp: str, raw_body: bytes | str) -> str:
    """The `X-Yiwang-Signature` value for a body sent at `timestamp` (Unix seconds, as text)."""
    message = _as_bytes(str(timestamp)) + b"." + _as_bytes(raw_body)
    return _PREFIX + hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def verify(
    secret: bytes | str,
    timestamp: str | None,
    raw_body: bytes | str | None,
    signature_header: str | None,
    now: datetime | None = None,
) -> None:
    """Raise `BadSignature` or `StaleWebhook` unless the callback is authentic and fresh.

    The signature is checked first (a forged request learns nothing about our clock), then the
    timestamp's distance from `now`, both ways. Each refusal counts one `WebhookSignatureFailed`
    metric (alarmed on: forged callbacks, a rotated secret, a provider's drifting clock).
    """
    try:
        _check(secret, timestamp, raw_body, signature_header, now)
    except Unauthenticated as refused:
        _count_refusal(refused)
        raise


def _count_refusal(refused: Unauthenticated) -> None:
    # Imported here: the local simulators sign with this module and need no Powertools.
    from yiwang.platform.observability import MetricUnit, logger, metrics

    metrics.add_metric(name="WebhookSignatureFailed", unit=MetricUnit.Count, value=1)
    logger.warning("webhook refused", extra={"reason": type(refused).__name__,
                                             "detail": str(refused)})


def _check(secret: bytes | str, timestamp: str | None, raw_body: bytes | str | None,
           signature_header: str | None, now: datetime | None) -> None:
    if not timestamp or not signature_header or not signature_header.startswith(_PREFIX):
        raise BadSignature("the webhook is not signed")
    timestamp = timestamp.strip()
    if not timestamp.isascii() or not timestamp.isdigit():
        raise BadSignature(f"{TIMESTAMP_HEADER} must be Unix seconds")
    expected = sign(secret, timestamp, raw_body or b"")
    if not hmac.compare_digest(expected.encode("ascii"),
                               signature_header.strip().lower().encode("utf-8", "replace")):
        raise BadSignature("the webhook signature does not match")
    now = now or datetime.now(UTC)
    try:
        sent = datetime.fromtimestamp(int(timestamp), UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise StaleWebhook("the webhook timestamp is out of range") from error
    if abs(now - sent) > TOLERANCE:
        raise StaleWebhook("the webhook timestamp is more than 5 minutes from now")


def provider_secret(provider: str, *, value: str | None, arn: str | None) -> bytes:
    """The webhook secret of one provider (`payment`, `courier`).

    In AWS it is a Secrets Manager secret (`arn`, a plain string or a JSON object with a
    `secret` key, cached for five minutes); otherwise the value the environment gives
    (`PAYMENT_WEBHOOK_SECRET`, `COURIER_WEBHOOK_SECRET`).
    """
    if arn:
        from aws_lambda_powertools.utilities import parameters

        stored = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS)
        text = stored.decode() if isinstance(stored, bytes) else str(stored)
        if text.lstrip().startswith("{"):
            text = str(json.loads(text).get("secret", ""))
        if not text:
            raise ConfigurationError(f"the {provider} webhook secret {arn} is empty")
        return text.encode("utf-8")
    if value:
        return value.encode("utf-8")
    raise ConfigurationError(f"no {provider} webhook secret is configured: set "
                             f"{provider.upper()}_WEBHOOK_SECRET_ARN or "
                             f"{provider.upper()}_WEBHOOK_SECRET")
