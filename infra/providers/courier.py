"""A local courier: waybills, and signed tracking callbacks to the API (openapi.yaml, tag webhooks).

    python -m infra.providers.courier event <waybillNo> PICKED_UP|IN_TRANSIT|DELIVERED|EXCEPTION
                                            [--at ISO] [--note TEXT] [--api http://127.0.0.1:8000]
    python -m infra.providers.courier journey <waybillNo> [--api ...]
    python -m infra.providers.courier serve [--port 8200] [--api ...] [--deliver-after SECONDS]

`event` sends one callback (`--at` defaults to now, Asia/Shanghai) and prints the answer.
`journey` sends PICKED_UP, IN_TRANSIT and DELIVERED, each an hour after the one before and the
last one now. `serve` is what `COURIER_PROVIDER_URL` may point at locally: `POST /waybills`
`{"orderId","address","contents"}` → `{"waybillNo"}` (`SF` + 12 digits); with
`--deliver-after` it plays the journey of each new waybill that many seconds later. The secret
is `COURIER_WEBHOOK_SECRET`, else the local stage's `local-courier-secret`. Standard library
only (and the layer's `yiwang.platform.signatures`, so both sides sign the same way).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from infra.providers import (
    CHINA,
    DEFAULT_API,
    Send,
    answer_json,
    post,
    serve_until_interrupted,
    signed_headers,
)

DEFAULT_PORT = 8200
WEBHOOK_PATH = "/webhooks/courier"
LOCAL_SECRET = "local-courier-secret"
EVENTS = ("PICKED_UP", "IN_TRANSIT", "DELIVERED", "EXCEPTION")
JOURNEY = ("PICKED_UP", "IN_TRANSIT", "DELIVERED")


def default_secret() -> str:
    return os.environ.get("COURIER_WEBHOOK_SECRET") or LOCAL_SECRET


def new_waybill_no() -> str:
    """A waybill number in SF Express's format: `SF` and 12 digits."""
    return f"SF{secrets.randbelow(10**12):012d}"


def callback(waybill_no: str, event: str, at: str | None = None, note: str | None = None, *,
             secret: str, now: float | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed tracking callback, as the courier sends it."""
    sent = time.time() if now is None else now
    payload = {"waybillNo": waybill_no, "event": event,
               "at": at or datetime.fromtimestamp(sent, CHINA).isoformat(timespec="seconds")}
    if note:
        payload["note"] = note
    body = json.dumps(payload, ensure_ascii=False).encode()
    timestamp = str(int(sent))
    return body, signed_headers(secret, timestamp, body)


def send_event(waybill_no: str, event: str, at: str | None = None, note: str | None = None, *,
               api: str = DEFAULT_API, secret: str | None = None,
               send: Send = post) -> tuple[int, str]:
    """Send one signed callback for `waybill_no` to the API; return its answer."""
    body, headers = callback(waybill_no, event, at, note, secret=secret or default_secret())
    return send(api.rstrip("/") + WEBHOOK_PATH, body, headers)


def journey(waybill_no: str, *, api: str = DEFAULT_API, secret: str | None = None,
            send: Send = post, now: datetime | None = None) -> list[tuple[str, int, str]]:
    """PICKED_UP, IN_TRANSIT, DELIVERED an hour apart (DELIVERED at `now`), in that order;
    `(event, status, answer)` for each. Stops at the first answer that is not 200."""
    end = (now or datetime.now(CHINA)).astimezone(CHINA).replace(microsecond=0)
    answers = []
    for hours_before, event in zip(range(len(JOURNEY) - 1, -1, -1), JOURNEY, strict=True):
        at = (end - timedelta(hours=hours_before)).isoformat()
        status, answer = send_event(waybill_no, event, at, api=api, secret=secret, send=send)
        answers.append((event, status, answer))
        if status != 200:
            break
    return answers


def handler_for(api: str, secret: str, deliver_after: float | None,
                send: Send = post) -> type[BaseHTTPRequestHandler]:
    """The courier API's request handler: `POST /waybills` books a waybill."""

    class CourierApi(BaseHTTPRequestHandler):
        server_version = "YiwangCourierSimulator/1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path.rstrip("/") != "/waybills":
                return self._answer(404, {"message": "POST /waybills"})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                order = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                return self._answer(400, {"message": "the body is not JSON"})
            waybill_no = new_waybill_no()
            sys.stderr.write(f"courier simulator: waybill {waybill_no} for "
                             f"{order.get('orderId')}\n")
            if deliver_after is not None:
                timer = threading.Timer(deliver_after, _play, args=(waybill_no,))
                timer.daemon = True
                timer.start()
            self._answer(201, {"waybillNo": waybill_no})

        def _answer(self, status: int, document: dict[str, str]) -> None:
            answer_json(self, status, document)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            sys.stderr.write(f"courier simulator: {format % args}\n")

    def _play(waybill_no: str) -> None:
        try:
            for event, status, answer in journey(waybill_no, api=api, secret=secret, send=send):
                sys.stderr.write(f"courier simulator: {waybill_no} {event} → HTTP {status} "
                                 f"{answer}\n")
        except OSError as error:
            sys.stderr.write(f"courier simulator: the API at {api} did not answer: {error}\n")

    return CourierApi


def serve(port: int = DEFAULT_PORT, api: str = DEFAULT_API, secret: str | None = None,
          deliver_after: float | None = None, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The simulator's HTTP server (not yet serving: call `serve_forever`)."""
    return ThreadingHTTPServer((host, port),
                               handler_for(api, secret or default_secret(), deliver_after))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.providers.courier",
                                     description="Local courier simulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("event", help="send one signed tracking callback")
    one.add_argument("waybill_no", metavar="waybillNo")
    one.add_argument("event", choices=EVENTS)
    one.add_argument("--at", help="when it happened (ISO 8601 with offset; default now)")
    one.add_argument("--note")
    one.add_argument("--api", default=DEFAULT_API)
    trip = commands.add_parser("journey", help="PICKED_UP, IN_TRANSIT, DELIVERED in order")
    trip.add_argument("waybill_no", metavar="waybillNo")
    trip.add_argument("--api", default=DEFAULT_API)
    serving = commands.add_parser("serve", help="serve POST /waybills (COURIER_PROVIDER_URL)")
    serving.add_argument("--port", type=int, default=DEFAULT_PORT)
    serving.add_argument("--api", default=DEFAULT_API)
    serving.add_argument("--deliver-after", type=float, metavar="SECONDS",
                         help="play each new waybill's journey this many seconds later")
    args = parser.parse_args(argv)
    try:
        if args.command == "event":
            if args.at:
                try:
                    datetime.fromisoformat(args.at)
                except ValueError:
                    parser.error(f"--at {args.at!r} is not an ISO 8601 time")
            status, answer = send_event(args.waybill_no, args.event, args.at, args.note,
                                        api=args.api)
            print(f"HTTP {status}")
            print(answer)
            return 0 if status == 200 else 1
        if args.command == "journey":
            answers = journey(args.waybill_no, api=args.api)
            for event, status, answer in answers:
                print(f"{event}: HTTP {status} {answer}")
            return 0 if all(status == 200 for _, status, _ in answers) else 1
    except OSError as error:
        print(f"the API at {args.api} did not answer: {error}", file=sys.stderr)
        return 1
    server = serve(args.port, args.api, deliver_after=args.deliver_after)
    print(f"courier simulator on http://127.0.0.1:{args.port} (POST /waybills), callbacks to "
          f"{args.api}{WEBHOOK_PATH} (Ctrl-C stops it)")
    return serve_until_interrupted(server)


if __name__ == "__main__":
    sys.exit(main())
