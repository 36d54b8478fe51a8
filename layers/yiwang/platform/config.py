"""Configuration from the environment, read once and validated at start.

Every function and the API read their settings here and nowhere else, so a missing or
malformed variable fails the cold start with one message that names it, instead of a
`KeyError` deep inside a request.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigurationError(RuntimeError):
    """The environment lacks a variable the platform needs, or holds a bad value."""


DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 12 * 3600
TOKEN_LIFETIME_BOUNDS = (300, 24 * 3600)
"""The cap's own bounds, in seconds: Cognito's ID tokens live 5 minutes to a day."""


@dataclass(frozen=True)
class Settings:
    """What a function needs to know about the stack it runs in."""

    stage: str
    table_name: str
    bucket_name: str | None
    notices_topic_arn: str | None
    lifecycle_state_machine_arn: str | None
    # Bearer tokens (openapi.yaml, tag identity): the JWKS that signs them (Cognito's in AWS,
    # the local issuer's file:// URL in the local stage), the `iss` they must carry and,
    # optionally, the audience (Cognito app client ids, comma-separated).
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # The longest a bearer token may live (`exp - iat`, seconds): a token minted for longer is
    # refused however valid its signature, so a leaked one cannot outlive a working day.
    max_token_lifetime_seconds: int = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS
    # Local stage only: where the local issuer keeps its key pair (POST /dev/token).
    local_issuer_dir: str | None = None
    # Payments (openapi.yaml, tag webhooks): the provider's base URL (the simulator's in the
    # local cloud; no default, ever) and the webhook secret, given directly or, in AWS, as a
    # Secrets Manager ARN.
    payment_provider_url: str | None = None
    payment_webhook_secret: str | None = None
    payment_webhook_secret_arn: str | None = None
    # Courier (openapi.yaml, tag webhooks): the provider's base URL (the simulator's in the
    # local cloud; without it nothing is dispatched) and the webhook secret, given directly or,
    # in AWS, as a Secrets Manager ARN.
    courier_provider_url: str | None = None
    courier_webhook_secret: str | None = None
    courier_webhook_secret_arn: str | None = None
    # Certificates (电子证照): the asymmetric KMS key (SIGN_VERIFY) that signs them; verifying
    # trusts only this key's public key, never one that a submitted certificate carries.
    signing_key_id: str | None = None
    # Complaints (投诉建议): the complaint lifecycle the API starts for each registration.
    complaint_state_machine_arn: str | None = None
    # Ratings (好差评): working days a department has to rectify a bad review (差评整改), the
    # seed's 5 unless the stack says otherwise (other localities use 15).
    rectification_working_days: int = 5
    # SMS (短信, openapi.yaml, tag webhooks): the provider's base URL (the simulator's in the
    # local cloud; no default, ever) and the secret that signs requests and receipts, given
    # directly or, in AWS, as a Secrets Manager ARN.
    sms_provider_url: str | None = None
    sms_webhook_secret: str | None = None
    sms_webhook_secret_arn: str | None = None
    # The data-sharing exchange (数据共享交换平台: person and company registers, other
    # issuers' certificates): its base URL (the simulator's in the local cloud; no default,
    # ever), this stack's application key, and the secret that signs requests, given directly
    # or, in AWS, as a Secrets Manager ARN.
    exchange_url: str | None = None
    exchange_app_key: str | None = None
    exchange_app_secret: str | None = None
    exchange_app_secret_arn: str | None = None

    def require(self, field: str) -> str:
        """Return an optional setting that the caller cannot work without."""
        value = getattr(self, field)
        if not value:
            raise ConfigurationError(f"{_ENV_NAMES[field]} is not set for this function")
        return value


_ENV_NAMES = {
    "stage": "STAGE",
    "table_name": "TABLE_NAME",
    "bucket_name": "BUCKET_NAME",
    "notices_topic_arn": "NOTICES_TOPIC_ARN",
    "lifecycle_state_machine_arn": "LIFECYCLE_STATE_MACHINE_ARN",
    "complaint_state_machine_arn": "COMPLAINT_STATE_MACHINE_ARN",
    "jwks_url": "JWKS_URL",
    "jwt_issuer": "JWT_ISSUER",
    "jwt_audience": "JWT_AUDIENCE",
    "max_token_lifetime_seconds": "MAX_TOKEN_LIFETIME_SECONDS",
    "local_issuer_dir": "LOCAL_ISSUER_DIR",
    "payment_provider_url": "PAYMENT_PROVIDER_URL",
    "payment_webhook_secret": "PAYMENT_WEBHOOK_SECRET",
    "payment_webhook_secret_arn": "PAYMENT_WEBHOOK_SECRET_ARN",
    "courier_provider_url": "COURIER_PROVIDER_URL",
    "courier_webhook_secret": "COURIER_WEBHOOK_SECRET",
    "courier_webhook_secret_arn": "COURIER_WEBHOOK_SECRET_ARN",
    "signing_key_id": "SIGNING_KEY_ID",
    "rectification_working_days": "RECTIFICATION_WORKING_DAYS",
    "sms_provider_url": "SMS_PROVIDER_URL",
    "sms_webhook_secret": "SMS_WEBHOOK_SECRET",
    "sms_webhook_secret_arn": "SMS_WEBHOOK_SECRET_ARN",
    "exchange_url": "EXCHANGE_URL",
    "exchange_app_key": "EXCHANGE_APP_KEY",
    "exchange_app_secret": "EXCHANGE_APP_SECRET",
    "exchange_app_secret_arn": "EXCHANGE_APP_SECRET_ARN",
}
_REQUIRED = ("stage", "table_name")


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build settings from an environment mapping; every missing required name is listed."""
    missing = [_ENV_NAMES[f] for f in _REQUIRED if not environ.get(_ENV_NAMES[f])]
    if missing:
        raise ConfigurationError("missing environment variables: " + ", ".join(missing))
    values: dict[str, object] = {field: environ.get(name) or None
                                 for field, name in _ENV_NAMES.items()}
    for field, default in _WORKING_DAYS.items():
        values[field] = _working_days(_ENV_NAMES[field], values[field], default)
    values["max_token_lifetime_seconds"] = _token_lifetime(values["max_token_lifetime_seconds"])
    return Settings(**values)  # type: ignore[arg-type]


_WORKING_DAYS = {"rectification_working_days": 5}
"""Settings that are a number of working days, with their defaults."""


def _working_days(name: str, text: object, default: int) -> int:
    if text is None:
        return default
    try:
        value = int(str(text))
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number of working days, "
                                 f"not {text!r}") from None
    if value < 1:
        raise ConfigurationError(f"{name} must be at least 1 working day, not {value}")
    return value


def _token_lifetime(text: object) -> int:
    name = _ENV_NAMES["max_token_lifetime_seconds"]
    if text is None:
        return DEFAULT_MAX_TOKEN_LIFETIME_SECONDS
    try:
        value = int(str(text))
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number of seconds, "
                                 f"not {text!r}") from None
    low, high = TOKEN_LIFETIME_BOUNDS
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high} seconds, not {value}")
    return value


def settings() -> Settings:
    """The settings of this function, read from `os.environ` and validated once per distinct
    environment: memoised on the variables' values, so they always describe the environment
    they are read in, whoever changed it, and cost a tuple after the first read."""
    return _settings(tuple(os.environ.get(name) for name in _ENV_NAMES.values()))


@functools.cache
def _settings(values: tuple[str | None, ...]) -> Settings:
    return load_settings(dict(zip(_ENV_NAMES.values(), values, strict=True)))


settings.cache_clear = _settings.cache_clear  # type: ignore[attr-defined]
