"""The government data-sharing exchange (数据共享交换平台) as the platform uses it: one adapter
for the registers it reads through the exchange — the person register (人口库) and the
company register (法人库) — and for certificates other departments issue (外部证照).

Every request is signed as exchange gateways require: the application key (`X-App-Key`), a
timestamp and a nonce, and `X-Signature: <hex HMAC-SHA256(secret, canonical request)>` where
the canonical request is the method, path, timestamp, nonce, purpose, case id and the SHA-256
of the body, one per line. Every call says why (`X-Purpose`) and for which case (`X-Case-Id`):
the exchange keeps its own log of who asked for whose data, as the platform does
(`yiwang.people.registers`).

A call has a timeout and a few retries (connection failures and 5xx only: a 4xx is an
answer). After `BREAKER_THRESHOLD` failed calls in a row the circuit opens: for
`BREAKER_COOL_OFF` seconds every call fails at once with `ExchangeUnavailable` (503) instead
of making each request wait on a dead exchange; then one call is let through to try again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from yiwang.platform.config import Settings, settings
from yiwang.platform.errors import Unauthenticated, Unavailable

APP_KEY_HEADER = "X-App-Key"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
SIGNATURE_HEADER = "X-Signature"
PURPOSE_HEADER = "X-Purpose"
CASE_HEADER = "X-Case-Id"
TOLERANCE_SECONDS = 300
"""How far a request's timestamp may be from the exchange's clock (a replay, a bad clock)."""
TIMEOUT_SECONDS = 3.0
"""One attempt's timeout: intake waits at most (1 + RETRIES) times this on a slow exchange."""
RETRIES = 1
BREAKER_THRESHOLD = 3
BREAKER_COOL_OFF = 30.0

PERSON_ALIVE = "NORMAL"
PERSON_DECEASED = "DECEASED"
COMPANY_ACTIVE = "ACTIVE"
COMPANY_REVOKED = "REVOKED"
"""吊销营业执照."""
COMPANY_CANCELLED = "CANCELLED"
"""注销."""


class ExchangeUnavailable(Unavailable):
    """The exchange does not answer (down, too slow, or its circuit is open); nothing was
    read. Intake goes on without it: the applicant uploads what it would have confirmed."""

    code = "EXCHANGE_UNAVAILABLE"
    title = "The data-sharing exchange is unavailable"


class BadExchangeSignature(Unauthenticated):
    """A request to the exchange is unsigned, signed wrongly, or stale (the simulator's check,
    the same as the exchange's)."""

    code = "BAD_EXCHANGE_SIGNATURE"
    title = "The exchange request signature is not valid"


@dataclass(frozen=True)
class Person:
    """A person as the person register (人口库) holds them."""

    id_number: str
    name: str
    status: str
    address: str | None = None

    @property
    def alive(self) -> bool:
        return self.status == PERSON_ALIVE


@dataclass(frozen=True)
class Company:
    """A company (or other legal person) as the company register (法人库) holds it."""

    credit_code: str
    name: str
    status: str
    legal_representative: str | None = None
    address: str | None = None
    business_scope: str | None = None

    @property
    def active(self) -> bool:
        return self.status == COMPANY_ACTIVE


@dataclass(frozen=True)
class Call:
    """Why one call is made: the purpose (a code, e.g. `INTAKE_CHECK`) and the case."""

    purpose: str
    case_id: str


class Exchange(Protocol):
    """The data-sharing exchange, as far as the platform uses it."""

    def person(self, id_number: str, call: Call) -> Person | None:
        """The person register's record of `id_number`; None if the register has none."""
        ...

    def company(self, credit_code: str, call: Call) -> Company | None:
        """The company register's record of `credit_code`; None if it has none."""
        ...

    def certificates(self, holder: str, call: Call) -> list[dict[str, Any]]:
        """Certificates other issuers hold for `holder` (identity number or credit code), as
        each issuer signed them (the caller verifies them against the issuer's key)."""
        ...

    def issuer_key(self, issuer: str, call: Call) -> str | None:
        """The PEM public key `issuer` publishes for its certificates; None if unknown."""
        ...


def canonical(method: str, path: str, timestamp: str, nonce: str, purpose: str,
              case_id: str, body: bytes) -> bytes:
    """What the signature covers: one field a line, the body by its SHA-256."""
    return "\n".join([method.upper(), path, timestamp, nonce, purpose, case_id,
                      hashlib.sha256(body).hexdigest()]).encode("utf-8")


def sign(secret: str | bytes, message: bytes) -> str:
    """The `X-Signature` of a canonical request."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(app_key: str, secret: str | bytes, method: str, path: str, call: Call,
                   body: bytes = b"", now: float | None = None) -> dict[str, str]:
    """The headers of one signed request to the exchange."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(8)
    message = canonical(method, path, timestamp, nonce, call.purpose, call.case_id, body)
    return {APP_KEY_HEADER: app_key, TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce,
            PURPOSE_HEADER: call.purpose, CASE_HEADER: call.case_id,
            SIGNATURE_HEADER: sign(secret, message)}


def verify_request(secrets_by_key: dict[str, str], method: str, path: str,
                   headers: Any, body: bytes, now: float | None = None) -> str:
    """The app key of an authentic, fresh, purposeful request; else `BadExchangeSignature`.
    (The exchange's check: the simulator runs it on every request.)"""
    app_key = headers.get(APP_KEY_HEADER) or ""
    secret = secrets_by_key.get(app_key)
    timestamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
    given = (headers.get(SIGNATURE_HEADER) or "").strip().lower()
    purpose, case_id = headers.get(PURPOSE_HEADER) or "", headers.get(CASE_HEADER) or ""
    if secret is None or not timestamp.isdigit() or not given:
        raise BadExchangeSignature("the request is not signed by a known application")
    if not purpose or not case_id:
        raise BadExchangeSignature("every request names its purpose and case")
    expected = sign(secret, canonical(method, path, timestamp, headers.get(NONCE_HEADER) or "",
                                      purpose, case_id, body))
    if not hmac.compare_digest(expected, given):
        raise BadExchangeSignature("the signature does not match the request")
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        raise BadExchangeSignature("the timestamp is more than 5 minutes from now")
    return app_key


@dataclass
class CircuitBreaker:
    """Counts failed calls in a row; open (failing at once) for `cool_off` seconds after
    `threshold` of them, then half-open: the next call tries, and its outcome closes or
    reopens the circuit. Shared by the requests a warm function serves."""

    threshold: int = BREAKER_THRESHOLD
    cool_off: float = BREAKER_COOL_OFF
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def before(self) -> None:
        """`ExchangeUnavailable` while the circuit is open."""
        with self._lock:
            if self.opened_at is None:
                return
            left = self.cool_off - (self.clock() - self.opened_at)
            if left > 0:
                raise ExchangeUnavailable("the exchange failed repeatedly; not asking again "
                                          f"for {left:.0f} s", retry_after=max(1, round(left)))
            self.opened_at = None  # half-open: this call tries
            self.failures = self.threshold - 1

    def succeeded(self) -> None:
        with self._lock:
            self.failures, self.opened_at = 0, None

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = self.clock()


_BREAKERS: dict[str, CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(base_url: str) -> CircuitBreaker:
    """The circuit breaker of one exchange (by URL), kept for the process's life."""
    with _BREAKERS_LOCK:
        return _BREAKERS.setdefault(base_url, CircuitBreaker())


class _Retryable(Exception):
    """An attempt that may succeed if repeated (no answer, a 5xx)."""


@dataclass(frozen=True)
class HttpExchange:
    """The exchange's HTTP API (`GET /people/{id}`, `/companies/{code}`,
    `/certificates?holder=`, `/issuers/{issuer}/key`), every request signed."""

    base_url: str
    app_key: str
    secret: bytes
    timeout: float = TIMEOUT_SECONDS
    retries: int = RETRIES
    breaker: CircuitBreaker | None = None

    def person(self, id_number: str, call: Call) -> Person | None:
        found = self._get(f"/people/{quote(id_number, safe='')}", call)
        return None if found is None else Person(
            id_number=str(found["idNumber"]), name=str(found["name"]),
            status=str(found["status"]), address=found.get("address"))

    def company(self, credit_code: str, call: Call) -> Company | None:
        found = self._get(f"/companies/{quote(credit_code, safe='')}", call)
        return None if found is None else Company(
            credit_code=str(found["creditCode"]), name=str(found["name"]),
            status=str(found["status"]), legal_representative=found.get("legalRepresentative"),
            address=found.get("address"), business_scope=found.get("businessScope"))

    def certificates(self, holder: str, call: Call) -> list[dict[str, Any]]:
        found = self._get(f"/certificates?holder={quote(holder, safe='')}", call)
        return list((found or {}).get("certificates") or [])

    def issuer_key(self, issuer: str, call: Call) -> str | None:
        found = self._get(f"/issuers/{quote(issuer, safe='')}/key", call)
        return None if found is None else str(found["publicKeyPem"])

    def _get(self, path: str, call: Call) -> dict[str, Any] | None:
        """The JSON answer; None for 404; `ExchangeUnavailable` once the attempts are spent
        (or at once while the circuit is open)."""
        breaker = self.breaker or breaker_for(self.base_url)
        breaker.before()
        last: Exception | None = None
        for _ in range(1 + self.retries):
            try:
                answer = self._attempt(path, call)
            except _Retryable as error:
                last = error
                continue
            breaker.succeeded()
            return answer
        breaker.failed()
        raise ExchangeUnavailable(f"the exchange did not answer: {last}",
                                  retry_after=max(1, round(breaker.cool_off)))

    def _attempt(self, path: str, call: Call) -> dict[str, Any] | None:
        headers = signed_headers(self.app_key, self.secret, "GET", path, call)
        request = urllib.request.Request(self.base_url.rstrip("/") + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return json.load(answer)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            if error.code >= 500:
                raise _Retryable(f"HTTP {error.code}") from error
            # A 4xx is the exchange refusing us (a signature, a key): no retry helps, and it
            # is a fault of this stack's configuration, not the exchange's availability.
            raise ExchangeRefused(f"the exchange refused the request: HTTP {error.code} "
                                  f"{error.read()[:200]!r}") from error
        except (OSError, ValueError) as error:  # no answer, a timeout, a garbled answer
            raise _Retryable(str(error) or type(error).__name__) from error


class ExchangeRefused(ExchangeUnavailable):
    """The exchange answered, refusing this stack's request (its key or signature): for the
    applicant the exchange is as unavailable, for the operator it is an alarm."""

    code = "EXCHANGE_UNAVAILABLE"


def exchange_secret(config: Settings) -> bytes:
    """The application secret shared with the exchange (Secrets Manager in AWS)."""
    if config.exchange_app_secret_arn:
        from yiwang.platform.signatures import provider_secret

        return provider_secret("exchange", value=None, arn=config.exchange_app_secret_arn)
    return config.require("exchange_app_secret").encode("utf-8")


def exchange_from_settings() -> Exchange:
    """The exchange this stack is configured for; `ConfigurationError` naming EXCHANGE_URL
    (or its key) when it is not: there is no built-in register."""
    config = settings()
    return HttpExchange(config.require("exchange_url"), config.require("exchange_app_key"),
                        exchange_secret(config))
