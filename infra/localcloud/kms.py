"""KMS signing as AWS does it: `MessageType=DIGEST` signs the digest it is given.

AWS recommends signing a message's digest (the message may be larger than KMS's 4096 bytes;
only the digest travels): `Sign(Message=sha256(document), MessageType="DIGEST")`, whose
signature verifies against the document itself. moto ignores MessageType and hashes whatever
it is given, so a local DIGEST signature would be over the digest's digest. While a Sign or
Verify request says DIGEST, moto's keys treat the message as already hashed (cryptography's
`Prehashed`), as KMS does.
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any

from infra.localcloud.patches import replace

_DIGEST: contextvars.ContextVar[bool] = contextvars.ContextVar("kms_message_is_digest",
                                                               default=False)


def sign_digests_as_kms_does() -> None:
    """Make moto's KMS honour `MessageType=DIGEST` in Sign and Verify."""
    from moto.kms.responses import KmsResponse
    from moto.kms.utils import ECDSAPrivateKey, RSAPrivateKey

    for action in ("sign", "verify"):
        replace(KmsResponse, action, _saying_whether_digest)
    replace(ECDSAPrivateKey, "_ECDSAPrivateKey__hash_algorithm", _prehashed_ecdsa)
    replace(RSAPrivateKey, "_RSAPrivateKey__padding_and_hash_algorithm", _prehashed_rsa)


def _saying_whether_digest(handle: Any) -> Any:
    @functools.wraps(handle)
    def handled(self: Any) -> str:
        token = _DIGEST.set(self._get_param("MessageType") == "DIGEST")
        try:
            return handle(self)
        finally:
            _DIGEST.reset(token)

    return handled


def _prehashed_ecdsa(hash_algorithm: Any) -> Any:
    @functools.wraps(hash_algorithm)
    def chosen(self: Any, signing_algorithm: str) -> Any:
        return _as_digest(hash_algorithm(self, signing_algorithm))

    return chosen


def _prehashed_rsa(padding_and_hash: Any) -> Any:
    @functools.wraps(padding_and_hash)
    def chosen(self: Any, signing_algorithm: str) -> tuple[Any, Any]:
        padding, algorithm = padding_and_hash(self, signing_algorithm)
        return padding, _as_digest(algorithm)

    return chosen


def _as_digest(algorithm: Any) -> Any:
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    return Prehashed(algorithm) if _DIGEST.get() else algorithm
