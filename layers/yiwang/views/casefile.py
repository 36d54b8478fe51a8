"""办件卷宗: one application with everything recorded under it, read in one Query.

Every record of an application lives in its partition, pk=`APP#<id>`, told apart by the sort
key: `META` (the application), `ATT#` (attachments), `AUDIT#` (the trail), `TASK#` (human
steps), `PAY#` (payment orders), `SHIP` / `PICKUP` (delivery), `CERT` (the certificate's
pointer), `CLOCK#` / `CARD#` (deadlines, kept as raw items here). The detail view (`GET
/applications/{id}`) reads them together instead of one request each, so its cost is one
Query however far the application has got (issue #3: at most 3 sequential calls a request).
The read is strongly consistent: the portal shows what the caller has just done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.models import Model

from yiwang.applications.drafts import can_see
from yiwang.applications.records import ApplicationRecord, AttachmentRecord
from yiwang.applications.tasks import TaskRecord
from yiwang.fulfilment.certificates import CertificatePointer
from yiwang.fulfilment.delivery import PickupRecord, ShipmentRecord
from yiwang.fulfilment.payments import PaymentOrderRecord
from yiwang.people.access import Caller
from yiwang.platform.errors import ApplicationNotFound
from yiwang.table.records import AuditRecord, partition_items


@dataclass
class CaseFile:
    """An application's records, each list in sort-key order (the trail oldest first)."""

    record: ApplicationRecord
    attachments: list[AttachmentRecord] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    orders: list[PaymentOrderRecord] = field(default_factory=list)
    shipment: ShipmentRecord | None = None
    pickup: PickupRecord | None = None
    certificate: CertificatePointer | None = None
    other: list[dict[str, Any]] = field(default_factory=list)
    """Items of kinds this module does not model (clocks, cards...), as DynamoDB gave them."""


# Each model owns its sort key (or the prefix of its sort keys); this module only says which
# field of the case file holds it.
_LISTS: dict[str, tuple[str, type[Model]]] = {
    AttachmentRecord.SORT_PREFIX: ("attachments", AttachmentRecord),
    AuditRecord.SORT_PREFIX: ("audit", AuditRecord),
    TaskRecord.SORT_PREFIX: ("tasks", TaskRecord),
    PaymentOrderRecord.SORT_PREFIX: ("orders", PaymentOrderRecord),
}
_SINGLES: dict[str, tuple[str, type[Model]]] = {
    ShipmentRecord.SORT_KEY: ("shipment", ShipmentRecord),
    PickupRecord.SORT_KEY: ("pickup", PickupRecord),
    CertificatePointer.SORT_KEY: ("certificate", CertificatePointer),
}


def load(application_id: str) -> CaseFile:
    """The application and its records (one Query); `ApplicationNotFound` if there is none."""
    items = partition_items(ApplicationRecord.key(application_id))
    meta = next((i for i in items if i["sk"]["S"] == ApplicationRecord.SORT_KEY), None)
    if meta is None:
        raise ApplicationNotFound(f"no application {application_id}")
    case = CaseFile(ApplicationRecord.from_raw_data(meta))
    for item in items:
        sk = item["sk"]["S"]
        if sk == ApplicationRecord.SORT_KEY:
            continue
        if sk in _SINGLES:
            name, model = _SINGLES[sk]
            setattr(case, name, model.from_raw_data(item))
            continue
        kind = _LISTS.get(sk[:sk.index("#") + 1] if "#" in sk else sk)
        if kind is None:
            case.other.append(item)
        else:
            name, model = kind
            getattr(case, name).append(model.from_raw_data(item))
    return case


def load_for(caller: Caller, application_id: str) -> CaseFile:
    """The case file, if the caller may see the application; otherwise (or if none)
    `ApplicationNotFound`, as `applications.load_for`."""
    case = load(application_id)
    if not can_see(caller, case.record):
        raise ApplicationNotFound(f"no application {application_id}")
    return case
