"""People of a test's own: a valid resident identity number nobody else uses, so their inbox
and their applications hold only what the test made."""

from __future__ import annotations

import os
import secrets

from infra.providers import exchange

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def fresh_id_number() -> str:
    """A valid 18-character resident identity number (GB 11643-1999), random enough that no
    other test has it: Dongcheng, Beijing, born 1980-1999."""
    body = (f"110101{1980 + secrets.randbelow(20)}{1 + secrets.randbelow(12):02d}"
            f"{1 + secrets.randbelow(28):02d}{secrets.randbelow(1000):03d}")
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]



def enrolled_id_number(name: str) -> str:
    """A fresh identity number the exchange's person register holds under `name` (enrolled
    in the simulator the stack is configured with: EXCHANGE_URL and its application key), so
    intake's register check finds the applicant."""
    id_number = fresh_id_number()
    exchange.enrol(os.environ["EXCHANGE_URL"], id_number, name,
                   os.environ["EXCHANGE_APP_KEY"], os.environ["EXCHANGE_APP_SECRET"])
    return id_number
