"""A local payment provider: a pay page, and signed callbacks to the API (openapi.yaml, tag
webhooks).

    python -m infra.providers.payment pay <orderId> --amount <fen> [--status SUCCESS|FAILED]
                                                    [--api http://127.0.0.1:8000]
    python -m infra.providers.payment serve [--port 8100] [--api http://127.0.0.1:8000]

`pay` sends one callback (a fresh timestamp, a new transaction id) and prints the answer.
`serve` is what `PAYMENT_PROVIDER_URL` points at locally: `GET /pay/<orderId>?amount=<fen>`
shows a page with a 支付 button; pressing it makes the simulator send the callback. The secret
is `PAYMENT_WEBHOOK_SECRET`, else the local stage's `local-payment-secret`. Standard library
only (and the layer's `yiwang.platform.signatures`, so both sides sign the same way).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from infra.providers import (
    CHINA,
    DEFAULT_API,
    Send,
    answer,
    post,
    report_callback,
    serve_until_interrupted,
    signed_headers,
)

DEFAULT_PORT = 8100
WEBHOOK_PATH = "/webhooks/payment"
LOCAL_SECRET = "local-payment-secret"


def default_secret() -> str:
    return os.environ.get("PAYMENT_WEBHOOK_SECRET") or LOCAL_SECRET


def callback(order_id: str, amount_fen: int, status: str = "SUCCESS", *, secret: str,
             transaction_id: str | None = None, now: float | None = None,
             ) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed callback, as the provider sends it."""
    sent = time.time() if now is None else now
    body = json.dumps({
        "orderId": order_id,
        "transactionId": transaction_id or f"SIM{int(sent)}{uuid.uuid4().hex[:12].upper()}",
        "amountFen": int(amount_fen),
        "status": status,
        "paidAt": datetime.fromtimestamp(sent, CHINA).isoformat(timespec="seconds"),
    }, ensure_ascii=False).encode()
    timestamp = str(int(sent))
    return body, signed_headers(secret, timestamp, body)


def pay(order_id: str, amount_fen: int, status: str = "SUCCESS", *, api: str = DEFAULT_API,
        secret: str | None = None, send: Send = post) -> tuple[int, str]:
    """Send one signed callback for `order_id` to the API; return its answer."""
    body, headers = callback(order_id, amount_fen, status, secret=secret or default_secret())
    return send(api.rstrip("/") + WEBHOOK_PATH, body, headers)


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>模拟支付 {order}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}
button{{font-size:1.2rem;padding:.5rem 2rem}}</style></head>
<body><h1>模拟支付</h1>
<p>缴款单号 <code>{order}</code></p><p>{subject}</p>
<p>应缴金额 <strong>¥{yuan}</strong> ({fen} 分)</p>
<form method="post" action="/pay/{order_path}">
<input type="hidden" name="amount" value="{fen}">
<button name="status" value="SUCCESS">支付</button>
<button name="status" value="FAILED">模拟失败</button>
</form></body></html>
"""
_RESULT = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>支付结果</title></head>
<body><h1>{title}</h1><p>回调答复 HTTP {status}</p><pre>{answer}</pre></body></html>
"""


def handler_for(api: str, secret: str, send: Send = post) -> type[BaseHTTPRequestHandler]:
    """The pay page's request handler, sending callbacks to `api`."""

    class PayPage(BaseHTTPRequestHandler):
        server_version = "YiwangPaymentSimulator/1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if (found := self._order()) is None:
                return
            order_id, query = found
            try:
                fen = int(query.get("amount", [""])[0])
            except ValueError:
                return self._answer(400, "text/plain", "amount=<fen> is required")
            subject = query.get("subject", [""])[0]
            self._answer(200, "text/html", _PAGE.format(
                order=html.escape(order_id), order_path=quote(order_id, safe=""),
                subject=html.escape(subject), fen=fen, yuan=f"{fen / 100:.2f}"))

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if (found := self._order()) is None:
                return
            order_id = found[0]
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            status = form.get("status", ["SUCCESS"])[0]
            try:
                fen = int(form.get("amount", [""])[0])
            except ValueError:
                return self._answer(400, "text/plain", "amount is required")
            if status not in {"SUCCESS", "FAILED"}:
                return self._answer(400, "text/plain", "status is SUCCESS or FAILED")
            try:
                code, reply = pay(order_id, fen, status, api=api, secret=secret, send=send)
            except OSError as error:
                code, reply = 502, f"the API at {api} did not answer: {error}"
            title = "支付成功" if code == 200 and status == "SUCCESS" else "支付未完成"
            self._answer(200, "text/html", _RESULT.format(
                title=title, status=code, answer=html.escape(reply)))

        def _order(self) -> tuple[str, dict[str, list[str]]] | None:
            """The order id and query of /pay/<orderId>; None (answered 404) otherwise."""
            parts = urlsplit(self.path)
            if not parts.path.startswith("/pay/") or len(parts.path) <= len("/pay/"):
                self._answer(404, "text/plain", "GET /pay/<orderId>?amount=<fen>")
                return None
            return unquote(parts.path[len("/pay/"):]), parse_qs(parts.query)

        def _answer(self, status: int, content_type: str, text: str) -> None:
            answer(self, status, content_type, text)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            sys.stderr.write(f"payment simulator: {format % args}\n")

    return PayPage


def serve(port: int = DEFAULT_PORT, api: str = DEFAULT_API, secret: str | None = None,
          host: str = "127.0.0.1", send: Send = post) -> ThreadingHTTPServer:
    """The simulator's HTTP server (not yet serving: call `serve_forever`)."""
    return ThreadingHTTPServer((host, port), handler_for(api, secret or default_secret(), send))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.providers.payment",
                                     description="Local payment provider simulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    paying = commands.add_parser("pay", help="send one signed payment callback")
    paying.add_argument("order_id", metavar="orderId")
    paying.add_argument("--amount", type=int, required=True, help="amount paid, in fen")
    paying.add_argument("--status", choices=["SUCCESS", "FAILED"], default="SUCCESS")
    paying.add_argument("--api", default=DEFAULT_API)
    serving = commands.add_parser("serve", help="serve the pay pages")
    serving.add_argument("--port", type=int, default=DEFAULT_PORT)
    serving.add_argument("--api", default=DEFAULT_API)
    args = parser.parse_args(argv)
    if args.command == "pay":
        return report_callback(args.api, lambda: pay(args.order_id, args.amount, args.status,
                                                      api=args.api))
    server = serve(args.port, args.api)
    print(f"payment simulator on http://127.0.0.1:{args.port}/pay/<orderId>?amount=<fen>, "
          f"callbacks to {args.api}{WEBHOOK_PATH} (Ctrl-C stops it)")
    return serve_until_interrupted(server)


if __name__ == "__main__":
    sys.exit(main())
