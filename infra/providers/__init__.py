"""Local simulators of the external providers (payment, courier): they send the same signed
callbacks the real ones do, using the platform's own signing function
(`yiwang.platform.signatures`).

What the simulators share lives here: the HTTP transport, signing a callback body, answering
a request, and the command line's report of one callback.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta, timezone
from http.server import BaseHTTPRequestHandler
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


def answer(handler: BaseHTTPRequestHandler, status: int, content_type: str, text: str) -> None:
    """Write one whole answer (status, type, length, body) to a simulator's request."""
    body = text.encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", f"{content_type}; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def answer_json(handler: BaseHTTPRequestHandler, status: int, document: dict[str, Any]) -> None:
    """Answer a simulator's request with a JSON document."""
    answer(handler, status, "application/json", json.dumps(document, ensure_ascii=False))


def report_callback(api: str, send: Callable[[], tuple[int, str]]) -> int:
    """The command line's one callback: send it, print the API's answer; the exit status."""
    try:
        status, text = send()
    except OSError as error:
        print(f"the API at {api} did not answer: {error}", file=sys.stderr)
        return 1
    print(f"HTTP {status}")
    print(text)
    return 0 if status == 200 else 1


def serve_until_interrupted(server: Any) -> int:
    """Serve a simulator's HTTP server until Ctrl-C, then close it; the exit status."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
