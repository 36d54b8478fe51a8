"""The data-sharing exchange connector against the exchange simulator over real HTTP: signed
requests (a wrong secret is refused), the registers' answers, timeouts and retries, and the
circuit breaker that answers at once while the exchange is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.providers import exchange as simulator
from tests.support.data import CITIZEN_ID
from tests.support.network import free_port
from yiwang.platform.exchange import (
    Call,
    CircuitBreaker,
    ExchangeRefused,
    ExchangeUnavailable,
    HttpExchange,
    canonical,
    sign,
    signed_headers,
    verify_request,
)

CALL = Call("INTAKE_CHECK", "YW2026TEST0001")
SECRET = "test-exchange-secret"


@pytest.fixture(scope="module")
def exchange_url() -> Iterator[str]:
    server = simulator.serve(port=0, credentials={"yiwang": SECRET})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def connector(url: str, secret: str = SECRET, **options: object) -> HttpExchange:
    return HttpExchange(url, "yiwang", secret.encode(), breaker=CircuitBreaker(), **options)


def test_a_signed_request_reads_the_registers(exchange_url: str) -> None:
    person = connector(exchange_url).person(CITIZEN_ID, CALL)
    assert person is not None and (person.name, person.alive) == ("张伟", True)
    revoked = connector(exchange_url).company(simulator.REVOKED_COMPANY, CALL)
    assert revoked is not None and revoked.status == "REVOKED" and not revoked.active
    dead = connector(exchange_url).person(simulator.DECEASED_ID, CALL)
    assert dead is not None and not dead.alive


def test_someone_the_register_does_not_hold_is_none(exchange_url: str) -> None:
    assert connector(exchange_url).person("440106199003071231", CALL) is None


def test_a_wrong_secret_is_refused_by_the_exchange(exchange_url: str) -> None:
    with pytest.raises(ExchangeRefused):
        connector(exchange_url, secret="not-the-secret").person(CITIZEN_ID, CALL)


def test_the_signature_covers_purpose_case_and_time() -> None:
    headers = signed_headers("yiwang", SECRET, "GET", "/people/1", CALL, now=1_700_000_000)
    assert verify_request({"yiwang": SECRET}, "GET", "/people/1", headers, b"",
                          now=1_700_000_100) == "yiwang"
    for name, value in (("X-Purpose", "MARKETING"), ("X-Case-Id", "YW-OTHER")):
        with pytest.raises(Exception, match="signature"):
            verify_request({"yiwang": SECRET}, "GET", "/people/1", {**headers, name: value},
                           b"", now=1_700_000_100)
    with pytest.raises(Exception, match="5 minutes"):
        verify_request({"yiwang": SECRET}, "GET", "/people/1", headers, b"",
                       now=1_700_000_000 + 301)
    with pytest.raises(Exception, match="purpose"):
        verify_request({"yiwang": SECRET}, "GET", "/people/1",
                       {**headers, "X-Purpose": ""}, b"", now=1_700_000_000)
    expected = sign(SECRET, canonical("GET", "/people/1", headers["X-Timestamp"],
                                      headers["X-Nonce"], CALL.purpose, CALL.case_id, b""))
    assert headers["X-Signature"] == expected


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        time.sleep(1.0)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_slow_exchange_times_out_after_the_retries() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        slow = connector(f"http://127.0.0.1:{server.server_address[1]}", timeout=0.2, retries=1)
        began = time.monotonic()
        with pytest.raises(ExchangeUnavailable):
            slow.person(CITIZEN_ID, CALL)
        waited = time.monotonic() - began
        assert 0.4 <= waited < 0.9  # two attempts of 0.2 s each, not the server's 1 s
    finally:
        server.shutdown()
        server.server_close()


def test_the_circuit_opens_after_repeated_failures_and_closes_after_a_success(
        exchange_url: str) -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cool_off=30, clock=lambda: now[0])
    down = HttpExchange(f"http://127.0.0.1:{free_port()}", "yiwang", SECRET.encode(),
                        timeout=0.2, retries=0, breaker=breaker)
    for _ in range(2):
        with pytest.raises(ExchangeUnavailable, match="did not answer"):
            down.person(CITIZEN_ID, CALL)
    with pytest.raises(ExchangeUnavailable, match="not asking again") as refused:
        down.person(CITIZEN_ID, CALL)  # at once: no attempt while open
    assert refused.value.retry_after == 30 and refused.value.code == "EXCHANGE_UNAVAILABLE"
    now[0] = 31  # half-open: one call tries, and succeeds against a live exchange
    up = HttpExchange(exchange_url, "yiwang", SECRET.encode(), breaker=breaker)
    assert up.person(CITIZEN_ID, CALL) is not None
    assert (breaker.failures, breaker.opened_at) == (0, None)
