"""主题进度: the steps of a theme case, reached when its applications together reach them.

Each application of a theme moves on its own; the applicant is told of the theme's steps, one
notice per step (not one per application): ACCEPTED when every application has been decided on
at the window, one refusal notice per refused application (with where its reasons are read),
READY_FOR_PICKUP when every application still running waits at the window, COMPLETED when
every application is concluded. The payment's steps are the theme order's own audit records
(`yiwang.themes.payments`: THEME_PAYMENT_ORDERED, THEME_PAID).

`advance` runs on every audit record of an application of a theme (the table's stream,
functions/notices): it reads the case and its applications and records each step newly reached
as an audit record of the case (THEME_ACCEPTED, ...), with the case's `steps`, in one
conditional transaction; the notices are derived from those audit records. A step is recorded
once however often the stream delivers, and in whichever order the applications move.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from yiwang.applications.records import ApplicationRecord
from yiwang.applications.status import Status
from yiwang.platform.config import settings
from yiwang.platform.errors import NotFound
from yiwang.platform.observability import logger
from yiwang.table.records import AuditRecord, connection
from yiwang.table.writes import write_if
from yiwang.themes.cases import (
    COMPLETED,
    DRAFT,
    REFUSED,
    ThemeCaseRecord,
    audit,
    members,
    standing,
)

UNDECIDED = frozenset({Status.DRAFT, Status.SUBMITTED, Status.NEEDS_SUPPLEMENT})
"""Not yet accepted nor refused at the window."""
ACCEPTED, READY, DONE = "THEME_ACCEPTED", "THEME_READY_FOR_PICKUP", "THEME_COMPLETED"
STEP_MOVES = frozenset({Status.ACCEPTED, Status.NOT_ACCEPTED, Status.REJECTED,
                        Status.READY_FOR_PICKUP, Status.COMPLETED, Status.CANCELLED})
"""The moves of an application that can take its theme a step (decided at the window, refused,
waiting at the window, concluded); no other move is looked at, so an application outside a
theme costs its notices function nothing more than one read at these moves."""
REFUSED_PREFIX = "THEME_APPLICATION_REFUSED"
WAIVED = "FEE_WAIVED"
"""The audit event of a fee waived (`fulfilment.payments.waive`)."""


def case_of(application_id: str) -> str | None:
    """The theme case an application belongs to, else None."""
    try:
        return ApplicationRecord.load(application_id).theme_case_id
    except NotFound:
        return None


def steps_reached(case: ThemeCaseRecord, records: list[ApplicationRecord]
                  ) -> list[tuple[str, dict[str, Any]]]:
    """Every step the case's applications have reached together, with what its notice
    says: (step, detail)."""
    if case.status == DRAFT:
        return []
    reached: list[tuple[str, dict[str, Any]]] = []
    refused = [r for r in records if r.status in REFUSED]
    if all(r.status not in UNDECIDED for r in records) and len(refused) < len(records):
        reached.append((ACCEPTED, {"accepted": len(records) - len(refused)}))
    names = {entry["applicationId"]: entry["itemName"] for entry in case.applications}
    for record in refused:
        reached.append((f"{REFUSED_PREFIX}#{record.application_id}",
                        {"applicationId": record.application_id,
                         "itemName": names.get(record.application_id, record.item_code)}))
    state = standing(case, records)
    # A completed application was handed over at the window, which waits for every one of the
    # case's to be there: the case passed READY even when the stream delivers after the pickup.
    if state.status == Status.READY_FOR_PICKUP or (
            state.status == COMPLETED and any(r.status == Status.COMPLETED for r in records)):
        reached.append((READY, {"count": len(state.running)}))
    if state.status == COMPLETED:
        reached.append((DONE, {"completed": sum(r.status == Status.COMPLETED
                                                for r in records),
                               "refused": len(refused)}))
    return reached


def advance(case_id: str, now: datetime | None = None, attempts: int = 3) -> list[str]:
    """Record the steps the case has newly reached (each an audit record of the case, so its
    notice is sent once); the case COMPLETED with the last. Returns the steps recorded."""
    case = ThemeCaseRecord.load(case_id)
    records = members(case)
    new = [(step, detail) for step, detail in steps_reached(case, records)
           if step not in (case.steps or [])]
    if not new:
        return []
    now = now or datetime.now(UTC)
    audits: list[AuditRecord] = [audit(case_id, "system", step.split("#")[0], detail, now)
                                 for step, detail in new]
    case.steps = [*(case.steps or []), *(step for step, _ in new)]
    if any(step == DONE for step, _ in new):
        case.status = COMPLETED

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(case)  # conditional on the version read
            for record in audits:
                transaction.save(record)

    if not write_if(write):
        if attempts <= 1:
            raise RuntimeError(f"theme case {case_id} keeps changing")  # the stream retries
        return advance(case_id, now, attempts - 1)
    if any(step.startswith(REFUSED_PREFIX) for step, _ in new):
        _open_payment_if_ready(case_id)
    return [step for step, _ in new]


def _open_payment_if_ready(case_id: str) -> None:
    """A refused application (or a waived fee) drops out of the theme's order: if the others
    were all waiting for it, the order opens now, replacing one pending for other shares
    (where the provider is configured)."""
    if not settings().payment_provider_url:
        return
    from yiwang.fulfilment.payment_provider import provider_for
    from yiwang.themes.payments import open_when_ready

    order = open_when_ready(case_id, provider_for(settings()))
    if order is not None:
        logger.info("theme payment order open", extra={"orderId": order.order_id})


def on_application_audit(application_id: str, to_status: str | None,
                         event: str | None = None) -> list[str]:
    """`advance` the theme case of the application an audit record belongs to, when the move
    it records can be a step of a theme (`STEP_MOVES`; nothing for an application not in a
    theme). A fee waived (减免) takes its share out of the theme's order: the order follows
    (`payments.open_when_ready`)."""
    if event == WAIVED:
        case_id = case_of(application_id)
        if case_id:
            _open_payment_if_ready(case_id)
        return []
    if to_status not in STEP_MOVES:
        return []
    case_id = case_of(application_id)
    return advance(case_id) if case_id else []
