"""A local SMS provider (短信平台): templated messages sent on signed requests, and signed
delivery receipts to the API (openapi.yaml, tag webhooks).

    python -m infra.providers.sms serve [--port 8300] [--api http://127.0.0.1:8000]
                                        [--receipt-after SECONDS]
    python -m infra.providers.sms receipt <reference> <messageId> DELIVERED|FAILED [--api ...]

`serve` is what `SMS_PROVIDER_URL` may point at locally: `POST /sms/send`
`{"reference","phone","template","variables"}`, signed like every callback
(`X-Yiwang-Timestamp`, `X-Yiwang-Signature`), → `{"messageId"}`. As real providers do, it
sends only templates registered in advance, with every named variable: its registry is the
platform's catalogue (`layers/yiwang/data/notices.json`, each template's `sms` code and
variables), registered when it starts. An unregistered template is 400
`TEMPLATE_NOT_REGISTERED`, a missing variable 400 `MISSING_VARIABLE`, a bad signature 401.
The same reference sent twice is one message. `--receipt-after` seconds later (default 1) it
posts the receipt `{"reference","messageId","status","at"}` to `<api>/webhooks/sms`; numbers
beginning 1700 are 空号 and get a FAILED receipt. The secret is `SMS_WEBHOOK_SECRET`, else the
local stage's `local-sms-secret`. Standard library only (and `yiwang.platform.signatures`).
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.providers import (
    CHINA,
    DEFAULT_API,
    REPO_ROOT,
    Send,
    answer_json,
    post,
    report_callback,
    serve_until_interrupted,
    signed_headers,
)
from yiwang.platform.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

DEFAULT_PORT = 8300
WEBHOOK_PATH = "/webhooks/sms"
LOCAL_SECRET = "local-sms-secret"
CATALOGUE = REPO_ROOT / "layers" / "yiwang" / "data" / "notices.json"
EMPTY_NUMBER_PREFIX = "1700"
_PHONE = re.compile(r"^1[3-9]\d{9}$")


def default_secret() -> str:
    return os.environ.get("SMS_WEBHOOK_SECRET") or LOCAL_SECRET


def registered_templates() -> dict[str, tuple[str, ...]]:
    """The templates registered with the provider: SMS code → its variables."""
    document = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return {template["sms"]: tuple(template["variables"])
            for template in document["templates"].values() if template.get("sms")}


def receipt(reference: str, message_id: str, status: str, *, secret: str,
            error: str | None = None, now: float | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed delivery receipt, as the provider sends it."""
    sent = time.time() if now is None else now
    payload = {"reference": reference, "messageId": message_id, "status": status,
               "at": datetime.fromtimestamp(sent, CHINA).isoformat(timespec="seconds")}
    if error:
        payload["error"] = error
    body = json.dumps(payload, ensure_ascii=False).encode()
    return body, signed_headers(secret, str(int(sent)), body)


def send_receipt(reference: str, message_id: str, status: str, *, api: str = DEFAULT_API,
                 secret: str | None = None, error: str | None = None,
                 send: Send = post) -> tuple[int, str]:
    """Post one signed receipt to the API; its answer."""
    body, headers = receipt(reference, message_id, status, secret=secret or default_secret(),
                            error=error)
    return send(api.rstrip("/") + WEBHOOK_PATH, body, headers)


class SmsServer(ThreadingHTTPServer):
    """The simulator's server, with what it sent (for whoever started it to look at)."""

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        super().__init__(address, handler)
        self.messages: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()


def handler_for(api: str, secret: str, receipt_after: float | None,
                templates: dict[str, tuple[str, ...]],
                send: Send = post) -> type[BaseHTTPRequestHandler]:
    """The provider's request handler: `POST /sms/send` sends one templated message."""

    class SmsApi(BaseHTTPRequestHandler):
        server_version = "YiwangSmsSimulator/1"
        server: SmsServer

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path.rstrip("/") != "/sms/send":
                return self._answer(404, {"code": "NOT_FOUND", "message": "POST /sms/send"})
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            timestamp = self.headers.get(TIMESTAMP_HEADER) or ""
            expected = sign(secret, timestamp, body)
            given = self.headers.get(SIGNATURE_HEADER) or ""
            if not timestamp or not hmac.compare_digest(expected, given) or \
                    abs(time.time() - float(timestamp)) > 300:
                return self._answer(401, {"code": "BAD_SIGNATURE",
                                          "message": "the request is not signed by the platform"})
            try:
                message = json.loads(body)
            except json.JSONDecodeError:
                return self._answer(400, {"code": "BAD_REQUEST", "message": "not JSON"})
            problem = _problem(message, templates)
            if problem:
                return self._answer(400, {"code": problem[0], "message": problem[1]})
            with self.server.lock:
                known = self.server.messages.get(message["reference"])
                if known is None:
                    known = {**message, "messageId": f"SMS{secrets.token_hex(8).upper()}",
                             "text": _text(message)}
                    self.server.messages[message["reference"]] = known
                    _schedule(known)
            sys.stderr.write(f"sms simulator: {known['phone']} ← {known['text']}\n")
            self._answer(200, {"messageId": known["messageId"]})

        def _answer(self, status: int, document: dict[str, str]) -> None:
            answer_json(self, status, document)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    def _schedule(message: dict[str, Any]) -> None:
        if receipt_after is None:
            return
        timer = threading.Timer(receipt_after, _report, args=(message,))
        timer.daemon = True
        timer.start()

    def _report(message: dict[str, Any]) -> None:
        empty = message["phone"].startswith(EMPTY_NUMBER_PREFIX)
        try:
            status, answer = send_receipt(
                message["reference"], message["messageId"], "FAILED" if empty else "DELIVERED",
                api=api, secret=secret, error="空号" if empty else None, send=send)
            sys.stderr.write(f"sms simulator: receipt {message['messageId']} → HTTP {status}\n")
        except OSError as error:
            sys.stderr.write(f"sms simulator: the API at {api} did not answer: {error}\n")

    return SmsApi


def _problem(message: Any, templates: dict[str, tuple[str, ...]]) -> tuple[str, str] | None:
    if not isinstance(message, dict) or not isinstance(message.get("reference"), str) or \
            not isinstance(message.get("variables"), dict):
        return "BAD_REQUEST", "reference, phone, template and variables are required"
    if not _PHONE.match(str(message.get("phone") or "")):
        return "BAD_PHONE", "not a mainland China mobile number"
    template = message.get("template")
    if template not in templates:
        return "TEMPLATE_NOT_REGISTERED", f"template {template!r} is not registered"
    missing = [name for name in templates[template]
               if not str(message["variables"].get(name) or "")]
    if missing:
        return "MISSING_VARIABLE", f"template {template} needs {', '.join(missing)}"
    return None


def _text(message: dict[str, Any]) -> str:
    values = ", ".join(f"{name}={value}" for name, value in message["variables"].items())
    return f"[{message['template']}] {values}"


def serve(port: int = DEFAULT_PORT, api: str = DEFAULT_API, secret: str | None = None,
          receipt_after: float | None = 1.0, host: str = "127.0.0.1") -> SmsServer:
    """The simulator's HTTP server (not yet serving: call `serve_forever`)."""
    return SmsServer((host, port), handler_for(api, secret or default_secret(), receipt_after,
                                               registered_templates()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.providers.sms",
                                     description="Local SMS provider simulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("receipt", help="send one signed delivery receipt")
    one.add_argument("reference")
    one.add_argument("message_id", metavar="messageId")
    one.add_argument("status", choices=("DELIVERED", "FAILED"))
    one.add_argument("--api", default=DEFAULT_API)
    serving = commands.add_parser("serve", help="serve POST /sms/send (SMS_PROVIDER_URL)")
    serving.add_argument("--port", type=int, default=DEFAULT_PORT)
    serving.add_argument("--api", default=DEFAULT_API)
    serving.add_argument("--receipt-after", type=float, default=1.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    if args.command == "receipt":
        return report_callback(args.api, lambda: send_receipt(
            args.reference, args.message_id, args.status, api=args.api))
    server = serve(args.port, args.api, receipt_after=args.receipt_after)
    print(f"sms simulator on http://127.0.0.1:{args.port} (POST /sms/send), receipts to "
          f"{args.api}{WEBHOOK_PATH} (Ctrl-C stops it)")
    return serve_until_interrupted(server)


if __name__ == "__main__":
    sys.exit(main())
