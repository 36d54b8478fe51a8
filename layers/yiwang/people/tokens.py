"""Bearer tokens (openapi.yaml, tag identity): verifying a JWT into a `Caller`, and the local
issuer.

A token is an RS256 JWT whose key is published in a JWKS: Cognito's user pool in AWS
(`https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json`), the local issuer's
file in the local stage (`file:///.../jwks.json`). Verification is the same for both; only the
URL differs. PyJWT's `PyJWKClient` fetches http(s) key sets (and caches them); since PyJWT 2.13
it refuses `file://` URLs, so a local key set is read by `_FileKeySet` instead, which hands the
same `PyJWK` objects to the same `jwt.decode` call.

Claims (plain, or as Cognito custom attributes `custom:<name>`): `sub`, `role` (one of
`access.ROLES`), `dept` (required for reviewers), `region`, `idNumber` / `creditCode` (an
applicant needs one; each is validated with `yiwang.platform.identity`), `position` (HEAD for a
科室负责人, HANDLER for a 经办人; staff only). A refused token raises
`Unauthenticated` with a message that says why and never repeats the token or an identity
number.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse
from urllib.request import url2pathname

from yiwang.people.access import APPLICANT, POSITIONS, REVIEWER, ROLES, STAFF, Caller
from yiwang.platform.config import (
    DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
    ConfigurationError,
    Settings,
)
from yiwang.platform.errors import FieldError, Unauthenticated, ValidationFailed
from yiwang.platform.identity import InvalidIdentifier, validate_credit_code, validate_resident_id

# PyJWT and cryptography are imported where a token is verified or signed: that is the
# authorizer's Lambda function (and the local issuer), while the API's own function imports
# this module only to read the claims the authorizer passed on (`caller_from_claims`), and
# would pay for both at every cold start (make bench).
if TYPE_CHECKING:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "ALGORITHM",
    "CLAIMS",
    "LOCAL_ISSUER",
    "LocalIssuer",
    "TrustedIssuer",
    "caller_from_claims",
    "claims_of",
    "verify",
]

ALGORITHM: Final = "RS256"
LOCAL_ISSUER: Final = "urn:yiwang:local-issuer"
# The claims a token may carry about its caller, by their API names (openapi.yaml, tag identity).
CLAIMS: Final = ("sub", "role", "dept", "region", "idNumber", "creditCode", "position")
_COGNITO_PREFIX: Final = "custom:"
_KEY_FILE: Final = "private_key.pem"
_JWKS_FILE: Final = "jwks.json"
CLOCK_LEEWAY_SECONDS: Final = 60
"""How far in the future `iat` or `nbf` may lie: the issuer's clock may run a little ahead."""
_DEFAULT_TTL_SECONDS: Final = 3600


@dataclass(frozen=True)
class TrustedIssuer:
    """Whose tokens the API accepts: the JWKS URL, the `iss`, if set the audiences, and the
    longest lifetime (`exp - iat`) a token may have."""

    jwks_url: str
    issuer: str
    audiences: tuple[str, ...] = ()
    max_lifetime_seconds: int = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustedIssuer:
        """From JWKS_URL, JWT_ISSUER, the optional JWT_AUDIENCE (comma-separated) and
        MAX_TOKEN_LIFETIME_SECONDS."""
        audience = settings.jwt_audience or ""
        return cls(
            jwks_url=settings.require("jwks_url"),
            issuer=settings.require("jwt_issuer"),
            audiences=tuple(a.strip() for a in audience.split(",") if a.strip()),
            max_lifetime_seconds=settings.max_token_lifetime_seconds,
        )


def verify(token: str, trusted: TrustedIssuer) -> Caller:
    """The caller a bearer token speaks for; `Unauthenticated` if it is not to be trusted.

    Checks the RS256 signature against the issuer's JWKS (by the token's `kid`), `iss`, `exp`,
    the audience when `trusted.audiences` is set, the times (`_check_times`: `iat` required,
    neither `iat` nor `nbf` in the future, a lifetime within `trusted.max_lifetime_seconds`),
    `token_use` when present (Cognito: only ID tokens carry the caller's attributes), then the
    claims (`caller_from_claims`).
    """
    if not token:
        raise Unauthenticated("no bearer token was given")
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise Unauthenticated("the bearer token is not a well-formed JWT") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated(f"the bearer token must be signed with {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("the bearer token does not name its signing key (kid)")
    try:
        key = _key_source(trusted.jwks_url)(kid)
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[ALGORITHM],
            issuer=trusted.issuer,
            audience=list(trusted.audiences) or None,
            options={
                "require": ["exp", "iat", "iss", "sub"],
                "verify_aud": bool(trusted.audiences),
                # Checked by _check_times, with a leeway that `exp` does not get.
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWKClientConnectionError:
        raise Unauthenticated("the token issuer's signing keys could not be fetched") from None
    except (jwt.PyJWKClientError, jwt.PyJWKSetError):
        raise Unauthenticated("the bearer token was signed with an unknown key") from None
    except jwt.InvalidTokenError as error:
        raise Unauthenticated(_refusal(error)) from None
    _check_times(claims, trusted.max_lifetime_seconds, time.time())
    token_use = claims.get("token_use")
    if token_use is not None and token_use != "id":
        raise Unauthenticated("only ID tokens are accepted (token_use must be 'id')")
    return caller_from_claims(claims)


def _check_times(claims: Mapping[str, Any], max_lifetime: int, now: float) -> None:
    """`Unauthenticated` unless `iat` (and `nbf`, when present) are times not beyond
    `now` plus the leeway, and the token lives (`exp - iat`) at most `max_lifetime`."""
    times = {name: claims.get(name) for name in ("exp", "iat", "nbf")}
    for name, value in times.items():
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, int | float)):
            raise Unauthenticated(f"the bearer token's '{name}' must be a time in seconds")
    issued, expires, not_before = times["iat"], times["exp"], times["nbf"]
    if issued > now + CLOCK_LEEWAY_SECONDS:
        raise Unauthenticated("the bearer token was issued in the future (iat)")
    if not_before is not None and not_before > now + CLOCK_LEEWAY_SECONDS:
        raise Unauthenticated("the bearer token is not valid yet (nbf)")
    if expires - issued > max_lifetime:
        raise Unauthenticated(f"the bearer token lives longer than the {max_lifetime} seconds "
                              "a token may (exp - iat)")


def _refusal(error: jwt.InvalidTokenError) -> str:
    import jwt

    # Order matters: InvalidSignatureError is a DecodeError.
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the bearer token has expired"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the bearer token's signature is not valid"
    if isinstance(error, jwt.InvalidIssuerError):
        return "the bearer token was not issued by the trusted issuer"
    if isinstance(error, jwt.InvalidAudienceError):
        return "the bearer token is not meant for this API (audience)"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "the bearer token is not valid yet"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the bearer token lacks the '{error.claim}' claim"
    if isinstance(error, jwt.DecodeError):
        return "the bearer token is not a well-formed JWT"
    return "the bearer token is not valid"


def caller_from_claims(claims: Mapping[str, Any]) -> Caller:
    """The `Caller` of verified claims; `Unauthenticated` when they do not describe one."""
    caller, errors = _caller(claims)
    if caller is None:
        reasons = "; ".join(f"{e.path}: {e.message}" for e in errors)
        raise Unauthenticated(f"the bearer token's claims are not acceptable ({reasons})")
    return caller


def claims_of(caller: Caller) -> dict[str, str]:
    """The caller's claims by their API names, absent ones left out (API Gateway authorizer
    context values must be strings, never null)."""
    values = {
        "sub": caller.sub,
        "role": caller.role,
        "dept": caller.dept,
        "region": caller.region,
        "idNumber": caller.id_number,
        "creditCode": caller.credit_code,
        "position": caller.position,
    }
    return {name: value for name, value in values.items() if value is not None}


def _claim(claims: Mapping[str, Any], name: str, errors: list[FieldError]) -> str | None:
    """A claim by its plain or Cognito (`custom:`) name; empty counts as absent."""
    values = [claims.get(key) for key in (name, _COGNITO_PREFIX + name)]
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return None
    if any(not isinstance(v, str) for v in present):
        errors.append(FieldError(name, "must be text"))
        return None
    if len(set(present)) > 1:
        errors.append(FieldError(name, f"'{name}' and '{_COGNITO_PREFIX}{name}' disagree"))
        return None
    return present[0].strip() or None


def _caller(claims: Mapping[str, Any]) -> tuple[Caller | None, list[FieldError]]:
    """The caller the claims describe, or None and every reason they do not."""
    errors: list[FieldError] = []
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        errors.append(FieldError("sub", "is required (the caller's stable id)"))
        sub = None
    role = _claim(claims, "role", errors)
    if role not in ROLES:
        if not any(e.path == "role" for e in errors):
            errors.append(FieldError("role", "must be one of " + ", ".join(sorted(ROLES))))
        role = None
    dept = _claim(claims, "dept", errors)
    if role == REVIEWER and dept is None and not any(e.path == "dept" for e in errors):
        errors.append(FieldError("dept", "is required for reviewers (their department)"))
    region = _claim(claims, "region", errors)
    id_number = _identifier(claims, "idNumber", validate_resident_id, errors)
    credit_code = _identifier(claims, "creditCode", validate_credit_code, errors)
    if (role == APPLICANT and id_number is None and credit_code is None
            and not any(e.path in ("idNumber", "creditCode") for e in errors)):
        errors.append(FieldError(
            "idNumber",
            "an applicant needs idNumber (natural person) or creditCode (legal person)",
        ))
    position = _position(claims, role, errors)
    if errors or sub is None or role is None:
        return None, errors
    return Caller(sub=sub.strip(), role=role, dept=dept, region=region,
                  id_number=id_number, credit_code=credit_code, position=position), []


def _position(claims: Mapping[str, Any], role: str | None,
              errors: list[FieldError]) -> str | None:
    """The staff member's position (HEAD 科室负责人 or HANDLER 经办人), if the token says."""
    position = _claim(claims, "position", errors)
    if position is None:
        return None
    if position not in POSITIONS:
        errors.append(FieldError("position", "must be one of " + ", ".join(sorted(POSITIONS))))
    elif role is not None and role not in STAFF:
        errors.append(FieldError("position", "is for staff only"))
    return position


def _identifier(
    claims: Mapping[str, Any],
    name: str,
    validate: Callable[[str], str],
    errors: list[FieldError],
) -> str | None:
    value = _claim(claims, name, errors)
    if value is None:
        return None
    try:
        return validate(value)
    except InvalidIdentifier as error:
        errors.append(FieldError(name, error.message))  # the message never holds the number
        return None


# --- key sets ---------------------------------------------------------------------------------

KeySource = Callable[[str], "jwt.PyJWK"]


@functools.cache
def _key_source(jwks_url: str) -> KeySource:
    """The signing key by `kid` from the JWKS at `jwks_url`, one cached source per URL."""
    scheme = urlparse(jwks_url).scheme.lower()
    if scheme in ("https", "http"):
        import jwt

        # Caches the key set for 5 minutes and refetches once for an unknown kid (rotation).
        return jwt.PyJWKClient(jwks_url, lifespan=300, timeout=5).get_signing_key
    if scheme == "file":
        return _FileKeySet(Path(url2pathname(urlparse(jwks_url).path))).get_signing_key
    raise ConfigurationError("JWKS_URL must be an https:// URL (or file:// in the local stage)")


class _FileKeySet:
    """A JWKS file (the local issuer's), read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        import jwt

        with self._lock:
            try:
                stat = self._path.stat()
                if (stat.st_mtime_ns, stat.st_size) != self._stamp:
                    key_set = jwt.PyJWKSet.from_dict(json.loads(self._path.read_bytes()))
                    self._keys = {k.key_id: k for k in key_set.keys if k.key_id}
                    self._stamp = (stat.st_mtime_ns, stat.st_size)
            except (OSError, ValueError) as error:
                raise jwt.PyJWKClientConnectionError(f"cannot read {self._path}") from error
            key = self._keys.get(kid)
        if key is None:
            raise jwt.PyJWKClientError("no signing key matches the token's kid")
        return key


# --- the local issuer -------------------------------------------------------------------------


class LocalIssuer:
    """The local stage's token issuer: an RSA key pair in `key_dir`, created on first use
    (`private_key.pem`, and `jwks.json` publishing the public key under its RFC 7638
    thumbprint as `kid`), and Cognito-shaped ID tokens signed with it.

    Verify its tokens with `TrustedIssuer(issuer.jwks_url, issuer.issuer)`, exactly as
    Cognito's are verified. Not for any other stage: whoever can call `issue` is anyone.
    """

    def __init__(
        self, key_dir: Path, issuer: str = LOCAL_ISSUER, audience: str | None = None,
        max_lifetime_seconds: int = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
    ) -> None:
        self.key_dir = Path(key_dir)
        self.issuer = issuer
        self.audience = audience
        self.max_lifetime_seconds = max_lifetime_seconds
        self._lock = threading.Lock()
        self._signing: tuple[rsa.RSAPrivateKey, str] | None = None

    @property
    def jwks_url(self) -> str:
        """The `file://` URL of the JWKS that verifies this issuer's tokens."""
        return (self.key_dir / _JWKS_FILE).resolve().as_uri()

    @property
    def trusted(self) -> TrustedIssuer:
        """How a verifier trusts this issuer."""
        return TrustedIssuer(self.jwks_url, self.issuer, (self.audience,) if self.audience else (),
                             self.max_lifetime_seconds)

    def issue(
        self, claims: Mapping[str, Any], ttl_seconds: int | None = None, *,
        now: int | None = None,
    ) -> str:
        """A signed ID token for the caller `claims` describe (by their API names: sub, role,
        dept, region, idNumber, creditCode, position), valid `ttl_seconds` from `now`
        (default: now).
        `ttl_seconds` defaults to an hour (or the cap, if shorter) and may not exceed the cap
        (`max_lifetime_seconds`): the issuer never signs what a verifier would refuse.

        The claims are checked as a verifier checks them; every problem is reported at once as
        `ValidationFailed` (unknown names, an unknown role, a reviewer without dept, an
        applicant without a valid idNumber or creditCode). Identity numbers are normalised.
        """
        if ttl_seconds is None:
            ttl_seconds = min(_DEFAULT_TTL_SECONDS, self.max_lifetime_seconds)
        if not 0 < ttl_seconds <= self.max_lifetime_seconds:
            raise ValueError(f"ttl_seconds must be positive and at most "
                             f"{self.max_lifetime_seconds} (the cap)")
        unknown = sorted(set(claims) - set(CLAIMS))
        errors = [FieldError(name, "is not a claim this platform knows") for name in unknown]
        caller, problems = _caller({k: v for k, v in claims.items() if k in CLAIMS})
        errors += problems
        if caller is None or errors:
            raise ValidationFailed(errors)
        issued_at = int(time.time()) if now is None else int(now)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            **claims_of(caller),
            "token_use": "id",
            "iat": issued_at,
            "exp": issued_at + ttl_seconds,
        }
        if self.audience:
            payload["aud"] = self.audience
        key, kid = self._signing_key()
        import jwt

        return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": kid})

    def _signing_key(self) -> tuple[rsa.RSAPrivateKey, str]:
        from jwt.algorithms import RSAAlgorithm

        with self._lock:
            if self._signing is None:
                self.key_dir.mkdir(parents=True, exist_ok=True)
                key = _load_or_create_key(self.key_dir / _KEY_FILE)
                public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
                jwk = {name: public[name] for name in ("kty", "e", "n")}
                kid = _thumbprint(jwk)
                # The shape of Cognito's key sets: kty, e, n, kid, alg, use.
                key_set = {"keys": [{**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}]}
                _write_if_changed(self.key_dir / _JWKS_FILE, json.dumps(key_set, indent=1))
                self._signing = (key, kid)
            return self._signing


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The key in `path`, created there if absent. Several processes may race to create it:
    each writes a private temporary file and links it into place, and the first link wins."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(f"{path} does not hold an RSA private key")
    return key


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _write_if_changed(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, unless it already says exactly that."""
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".jwks-")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
