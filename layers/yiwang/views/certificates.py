"""What a caller sees of a certificate (电子证照): the signed envelope, or, for the staff who
oversee certificates without handling them (supervisors), the document with the holder's
identifier masked."""

from __future__ import annotations

import copy
from typing import Any

from yiwang.fulfilment.certificates import CertificateRecord, envelope
from yiwang.people.access import Caller
from yiwang.platform import identity
from yiwang.views.applications import sees_personal_data

SIGNED = ("signature", "algorithm", "keyId", "publicKeyPem", "digest")
"""What checks the signed bytes; a masked document is not those bytes, so it goes without."""


def present(record: CertificateRecord, caller: Caller) -> dict[str, Any]:
    """The envelope in full for the holder and the staff who handle the case (the window that
    hands it over, the departments' reviewers); for anyone else allowed to read it, the
    document with the holder's identity number or credit code masked and no signature (the
    masked document is not what was signed)."""
    answer = envelope(record)
    if sees_personal_data(caller):
        return answer
    document = copy.deepcopy(answer["document"])
    holder = document.get("holder") or {}
    if holder.get("code"):
        holder["code"] = identity.mask_identifier(holder["code"])
    return {"document": document}
