"""Local simulators of the external providers (payment, courier): they send the same signed
callbacks the real ones do, using the platform's own signing function
(`yiwang.platform.signatures`).

What both simulators share lives here: the HTTP transport, and signing a callback body.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / "layers") not in sys.path:
    sys.path.append(str(REPO_ROOT / "layers"))

from yiwang.platform.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign  # noqa: E402

DEFAULT_API = "http://127.0.0.1:8000"
CHINA = timezone(timedelta(hours=8))

Send = Callable[[str, bytes, dict[str, str]], tuple[int, str]]
"""(url, body, headers) → (HTTP status, answer text)."""


def signed_headers(secret: str, timestamp: str, body: bytes) -> dict[str, str]:
    """The headers of a callback as a provider sends it (openapi.yaml, tag webhooks)."""
    return {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body)}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST with urllib; an HTTP error status is an answer, not an exception."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def serve_until_interrupted(server: Any) -> int:
    """Serve a simulator's HTTP server until Ctrl-C, then close it; the exit status."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
