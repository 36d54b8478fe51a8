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


@dataclass(frozen=True)
class Settings:
    """What a function needs to know about the stack it runs in."""

    stage: str
    table_name: str
    bucket_name: str | None
    notices_topic_arn: str | None
    lifecycle_state_machine_arn: str | None
    # Bearer tokens (API.md "Identity"): the JWKS that signs them (Cognito's in AWS, the local
    # issuer's file:// URL in the local stage), the `iss` they must carry and, optionally, the
    # audience (Cognito app client ids, comma-separated).
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # Local stage only: where the local issuer keeps its key pair (POST /dev/token).
    local_issuer_dir: str | None = None

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
    "jwks_url": "JWKS_URL",
    "jwt_issuer": "JWT_ISSUER",
    "jwt_audience": "JWT_AUDIENCE",
    "local_issuer_dir": "LOCAL_ISSUER_DIR",
}
_REQUIRED = ("stage", "table_name")


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build settings from an environment mapping; every missing required name is listed."""
    missing = [_ENV_NAMES[f] for f in _REQUIRED if not environ.get(_ENV_NAMES[f])]
    if missing:
        raise ConfigurationError("missing environment variables: " + ", ".join(missing))
    return Settings(**{field: environ.get(name) or None for field, name in _ENV_NAMES.items()})


@functools.cache
def settings() -> Settings:
    """The settings of this process, read from `os.environ` on first use."""
    return load_settings(os.environ)
