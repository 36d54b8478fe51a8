"""物流/送达 and 办结 (docs/rules.md §3, delivery and completion): courier delivery or pickup at the
window.

Once the certificate is issued the lifecycle waits (`.waitForTaskToken`) in the delivery step:
- COURIER: a waybill is created with the courier, the shipment stored with the task token, and
  the application moves CERTIFICATE_ISSUED → DISPATCHED. The courier's signed webhooks then
  report PICKED_UP, IN_TRANSIT, DELIVERED or EXCEPTION, in any order and possibly more than
  once. The shipment's status only moves forward (CREATED < PICKED_UP < IN_TRANSIT <
  DELIVERED), each step one conditional write on its rank; an EXCEPTION, or an event that
  arrives after a later one, is kept in the shipment's events and changes no status. The first
  DELIVERED moves the application DISPATCHED → DELIVERED → COMPLETED and resumes the execution
  with `{"waybillNo","deliveredAt"}`.
- PICKUP: the application moves CERTIFICATE_ISSUED → READY_FOR_PICKUP with the token stored;
  window staff record the collection (one conditional write, so a second one is a conflict),
  the application moves to COMPLETED and the execution resumes.

Access patterns:
- an application's shipment (dispatch, webhooks, tracking view): pk=`APP#<id>`, sk=`SHIP`;
- the application a waybill belongs to (courier webhook): pk=`WAYBILL#<no>`, sk=`META`;
- an application's pickup (window collection): pk=`APP#<id>`, sk=`PICKUP`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import single_metric
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

from yiwang.applications import drafts, escalation, lifecycle
from yiwang.applications.records import ApplicationRecord, application_stub, new_audit
from yiwang.applications.status import Status, check_move
from yiwang.people.access import Caller
from yiwang.platform import validation, workflow
from yiwang.platform.errors import Conflict, FieldError, NotFound, ValidationFailed
from yiwang.platform.observability import MetricUnit, logger
from yiwang.table.records import TableMeta, connection
from yiwang.table.writes import write_if, write_or_conflict

if TYPE_CHECKING:
    from yiwang.fulfilment.couriers import Courier
    from yiwang.table.idempotency import Receipt
# The webhook's receipts and secret are imported where the webhook uses them: the delivery
# step (its own function's cold start) needs neither.

COURIER, PICKUP = "COURIER", "PICKUP"


class ShipmentStatus(StrEnum):
    """How far a courier shipment has got (in `RANK` order)."""

    CREATED = "CREATED"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"


class PickupStatus(StrEnum):
    """A pickup is READY at the window, then COLLECTED (once)."""

    READY = "READY"
    COLLECTED = "COLLECTED"


RANK = {ShipmentStatus.CREATED: 0, ShipmentStatus.PICKED_UP: 1, ShipmentStatus.IN_TRANSIT: 2,
        ShipmentStatus.DELIVERED: 3}
"""How far a shipment has got; its status never moves to a lower rank."""
EXCEPTION = "EXCEPTION"
EVENTS = (ShipmentStatus.PICKED_UP.value, ShipmentStatus.IN_TRANSIT.value,
          ShipmentStatus.DELIVERED.value, EXCEPTION)
COURIER_ACTOR = "courier"
COURIER_SCOPE = "courier-webhook"
"""Idempotency scope of courier events (receipts keyed `<waybill>#<event>#<at, UTC>`)."""
RESUME_CLAIM = timedelta(minutes=1)
"""How long the callback resuming the execution holds its claim (see `_claim_resume`)."""

_COURIER_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["waybillNo", "event", "at"],
    "properties": {
        "waybillNo": {"type": "string", "minLength": 1, "maxLength": 40},
        "event": {"enum": list(EVENTS)},
        "at": {"type": "string", "minLength": 1, "maxLength": 64},
        "note": {"type": ["string", "null"], "maxLength": 500},
    },
    "maxProperties": 16,
}
_PICKUP: dict[str, Any] = {
    "type": "object",
    "required": ["collectedBy"],
    "properties": {
        "collectedBy": {"type": "string", "minLength": 1, "maxLength": 100},
        "note": {"type": ["string", "null"], "maxLength": 500},
    },
    "maxProperties": 8,
}


class CourierEvent(MapAttribute):
    """One courier callback as received: what happened, when (as the courier says), and why."""

    event = UnicodeAttribute()
    at = UnicodeAttribute()
    note = UnicodeAttribute(null=True)
    received_at = UnicodeAttribute(attr_name="receivedAt")


class ShipmentRecord(Model):
    """The courier delivery of one application: its waybill, how far it has got, the waiting
    execution's task token and every event the courier reported."""

    class Meta(TableMeta):
        pass

    SORT_KEY = "SHIP"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=SORT_KEY)
    application_id = UnicodeAttribute(attr_name="applicationId")
    waybill_no = UnicodeAttribute(attr_name="waybillNo")
    carrier = UnicodeAttribute()
    status = UnicodeAttribute()
    rank = NumberAttribute()
    """`RANK[status]`: status updates are conditional on it (`rank < new rank`)."""
    exception = BooleanAttribute(default=False)
    """The courier reported an EXCEPTION (the details are in `events`)."""
    task_token = UnicodeAttribute(attr_name="taskToken")
    events = ListAttribute(of=CourierEvent, default=list)
    event_keys = UnicodeSetAttribute(attr_name="eventKeys", null=True)
    """`<event>#<at, UTC>` of every recorded event, so one is never recorded twice."""
    last_event_at = Time(attr_name="lastEventAt", null=True)
    """The latest `at` among the events (not the last to arrive)."""
    created_at = Time(attr_name="createdAt")
    delivered_at = Time(attr_name="deliveredAt", null=True)
    task_resolved_at = Time(attr_name="taskResolvedAt", null=True)
    resume_claimed_until = Time(attr_name="resumeClaimedUntil", null=True)
    """Set (conditionally) by the one callback resuming the execution, until it is done or
    this time has passed (it stopped half-way: another callback may then resume it)."""

    @classmethod
    def of(cls, application_id: str) -> ShipmentRecord:
        try:
            return cls.get(ApplicationRecord.key(application_id), cls.SORT_KEY,
                           consistent_read=True)
        except cls.DoesNotExist as missing:
            raise NotFound(f"application {application_id} has no shipment") from missing


class WaybillRecord(Model):
    """Which application a courier's waybill belongs to."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    waybill_no = UnicodeAttribute(attr_name="waybillNo")
    application_id = UnicodeAttribute(attr_name="applicationId")

    @staticmethod
    def key(waybill_no: str) -> str:
        return f"WAYBILL#{waybill_no}"


class PickupRecord(Model):
    """Collection at the window (窗口领取): the waiting execution's token until collected."""

    class Meta(TableMeta):
        pass

    SORT_KEY = "PICKUP"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=SORT_KEY)
    application_id = UnicodeAttribute(attr_name="applicationId")
    status = UnicodeAttribute()
    """READY, then COLLECTED (once)."""
    task_token = UnicodeAttribute(attr_name="taskToken")
    ready_at = Time(attr_name="readyAt")
    collected_by = UnicodeAttribute(attr_name="collectedBy", null=True)
    collected_at = Time(attr_name="collectedAt", null=True)
    handled_by = UnicodeAttribute(attr_name="handledBy", null=True)
    note = UnicodeAttribute(null=True)


# --- the delivery step -------------------------------------------------------------------------


def dispatch(application_id: str, task_token: str, courier: Courier,
             now: datetime | None = None) -> ShipmentRecord:
    """Create the waybill and the shipment (holding `task_token`), then CERTIFICATE_ISSUED →
    DISPATCHED, audited with the waybill number. A retried step keeps the first waybill and
    takes the newest token."""
    now = now or datetime.now(UTC)
    record = ApplicationRecord.load(application_id)
    delivery = dict(record.delivery or {})
    if delivery.get("method") != COURIER:
        raise Conflict(f"application {application_id} is delivered by {delivery.get('method')}")
    shipment = _existing_shipment(application_id)
    if shipment is None:
        if record.status != Status.CERTIFICATE_ISSUED:
            raise Conflict(f"application {application_id} is {record.status}, not "
                           f"{Status.CERTIFICATE_ISSUED}")
        waybill_no = courier.create_waybill(application_id, delivery.get("address"),
                                            f"证照 {record.item_code} / {application_id}")
        shipment = _store_shipment(application_id, waybill_no, courier.carrier, task_token, now)
    if shipment.task_token != task_token:
        shipment.update(actions=[ShipmentRecord.task_token.set(task_token)])
    lifecycle.transition(
        application_id, Status.DISPATCHED, "system", "DISPATCHED",
        detail={"waybillNo": shipment.waybill_no, "carrier": shipment.carrier},
        updates={"delivery": {**delivery, "waybillNo": shipment.waybill_no,
                              "carrier": shipment.carrier,
                              "status": ShipmentStatus.CREATED.value}})
    logger.info("dispatched", extra={"applicationId": application_id,
                                     "waybillNo": shipment.waybill_no})
    return shipment


def _existing_shipment(application_id: str) -> ShipmentRecord | None:
    try:
        return ShipmentRecord.of(application_id)
    except NotFound:
        return None


def _store_shipment(application_id: str, waybill_no: str, carrier: str, task_token: str,
                    now: datetime) -> ShipmentRecord:
    shipment = ShipmentRecord(
        ApplicationRecord.key(application_id), ShipmentRecord.SORT_KEY,
        application_id=application_id, waybill_no=waybill_no, carrier=carrier,
        status=ShipmentStatus.CREATED, rank=RANK[ShipmentStatus.CREATED], exception=False,
        task_token=task_token, events=[], created_at=now)
    lookup = WaybillRecord(WaybillRecord.key(waybill_no), "META", waybill_no=waybill_no,
                           application_id=application_id)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(shipment, condition=ShipmentRecord.pk.does_not_exist())
            transaction.save(lookup, condition=WaybillRecord.pk.does_not_exist())

    if not write_if(write):
        # A concurrent attempt stored its shipment first: that one stands (this waybill is
        # never used), and this attempt's token replaces its token below.
        existing = _existing_shipment(application_id)
        if existing is None:
            raise Conflict(f"waybill {waybill_no} is already in use")
        return existing
    return shipment


def ready_for_pickup(application_id: str, task_token: str,
                     now: datetime | None = None) -> PickupRecord:
    """CERTIFICATE_ISSUED → READY_FOR_PICKUP, the token kept until window staff record the
    collection. A retried step takes the newest token."""
    now = now or datetime.now(UTC)
    record = ApplicationRecord.load(application_id)
    method = (record.delivery or {}).get("method")
    if method != PICKUP:
        raise Conflict(f"application {application_id} is delivered by {method}")
    pickup = PickupRecord(ApplicationRecord.key(application_id), PickupRecord.SORT_KEY,
                          application_id=application_id, status=PickupStatus.READY,
                          task_token=task_token, ready_at=now)
    if not write_if(lambda: pickup.save(condition=PickupRecord.pk.does_not_exist())):
        pickup = PickupRecord.get(pickup.pk, PickupRecord.SORT_KEY, consistent_read=True)
        if pickup.status != PickupStatus.READY:
            raise Conflict(f"application {application_id} has been collected")
        pickup.update(actions=[PickupRecord.task_token.set(task_token)])
    lifecycle.transition(application_id, Status.READY_FOR_PICKUP, "system", "READY_FOR_PICKUP")
    return pickup


def complete_pickup(caller: Caller, application_id: str, payload: Any, sfn: Any,
                    now: datetime | None = None) -> ApplicationRecord:
    """Window staff hand the certificate over (`{"collectedBy","note"?}`): READY_FOR_PICKUP →
    COMPLETED, audited, and the waiting execution resumes. Only once: a second one is a
    `Conflict`."""
    record = drafts.load_for(caller, application_id, "recordPickup")
    errors = validation.errors(_PICKUP, payload)
    if errors:
        raise ValidationFailed(errors)
    now = now or datetime.now(UTC)
    if record.status != Status.READY_FOR_PICKUP:
        raise Conflict(f"application {application_id} is {record.status}, not "
                       f"{Status.READY_FOR_PICKUP}")
    try:
        pickup = PickupRecord.get(record.pk, PickupRecord.SORT_KEY, consistent_read=True)
    except PickupRecord.DoesNotExist as missing:
        raise Conflict(f"application {application_id} is not waiting for pickup") from missing
    note = payload.get("note")
    write_or_conflict(lambda: pickup.update(actions=[
        PickupRecord.status.set(PickupStatus.COLLECTED),
        PickupRecord.collected_by.set(payload["collectedBy"]),
        PickupRecord.collected_at.set(now), PickupRecord.handled_by.set(caller.sub),
        *([PickupRecord.note.set(note)] if note else [])],
        condition=PickupRecord.status == PickupStatus.READY),
        f"application {application_id} has already been collected")
    detail = {"collectedBy": payload["collectedBy"], **({"note": note} if note else {})}
    try:
        record = lifecycle.transition(
            application_id, Status.COMPLETED, caller.sub, "COLLECTED", detail=detail,
            updates={"delivery": {**(record.delivery or {}),
                                  "status": PickupStatus.COLLECTED.value,
                                  "collectedAt": now.isoformat()}})
    except Conflict:
        # Nothing happened after all.
        pickup.update(actions=[PickupRecord.status.set(PickupStatus.READY)])
        raise
    _emit_delivered()
    escalation.delivered(record, now)  # 上报件: the accepting level's delivery step done
    # Ids and times only: who collected it is free text, kept in the pickup and its audit
    # record, never in the execution (whose state is limited to 256 KB).
    _resume(pickup.task_token, {"applicationId": application_id,
                                "collectedAt": now.isoformat()}, sfn)
    return record


# --- courier webhooks --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    waybill_no: str
    event: str
    at: datetime
    at_text: str
    note: str | None

    @property
    def key(self) -> str:
        return f"{self.event}#{self.at.astimezone(UTC).isoformat()}"


def _parse_event(payload: Any) -> _Event:
    errors = validation.errors(_COURIER_EVENT, payload)
    at: datetime | None = None
    if not errors:
        try:
            at = datetime.fromisoformat(payload["at"])
        except ValueError:
            errors.append(FieldError("at", "an ISO 8601 time with offset is required"))
        else:
            if at.tzinfo is None:
                errors.append(FieldError("at", "give the time with its offset, e.g. +08:00"))
    if errors or at is None:
        raise ValidationFailed(errors)
    return _Event(payload["waybillNo"], payload["event"], at, payload["at"], payload.get("note"))


def application_of_waybill(waybill_no: str) -> str:
    """The id of the application a waybill belongs to, or `NotFound`."""
    try:
        return WaybillRecord.get(WaybillRecord.key(waybill_no), "META").application_id
    except WaybillRecord.DoesNotExist as missing:
        raise NotFound(f"no waybill {waybill_no}") from missing


def record_courier_event(payload: Any, now: datetime | None = None,
                         sfn: Any = None) -> dict[str, Any]:
    """Record one courier callback (already authenticated) and act on it.

    `{"waybillNo","event","at","note"?}`; an unknown waybill is `NotFound`. The same event
    (waybill, event, time) delivered again has no second effect and gets the first answer.
    Returns `{"waybillNo","event","recorded","advanced","status"}`: whether the event was new,
    whether it moved the shipment forward, and the shipment's status now.

    Calls: one read of the waybill and the receipt together (a repeated event stops here), one
    of the shipment and the application together, one transaction with everything the event
    changes (shipment, application, audit, receipt), and for the first DELIVERED the task
    success: four, against seventeen with a write per step.
    """
    from yiwang.table.idempotency import Receipt

    event = _parse_event(payload)
    now = now or datetime.now(UTC)
    request = {"waybillNo": event.waybill_no, "event": event.event,
               "at": event.at.astimezone(UTC).isoformat()}
    receipt = Receipt(COURIER_SCOPE, event.key, request, owner=event.waybill_no)
    with TransactGet(connection=connection()) as read:
        lookup = read.get(WaybillRecord, WaybillRecord.key(event.waybill_no), "META")
        stored = receipt.get_in(read)
    try:
        application_id = lookup.get().application_id
    except WaybillRecord.DoesNotExist as missing:
        raise NotFound(f"no waybill {event.waybill_no}") from missing
    first = receipt.answer_from(stored)
    if first is not None:
        return first
    return _record(application_id, event, now, sfn, receipt)


@dataclass
class _Change:
    """What one courier event writes, in one transaction, and answers."""

    actions: list[Any]
    condition: Any
    recorded: bool
    advanced: bool
    status: str
    claim: datetime | None = None
    """The lease taken to resume the execution, if this event resumes it."""
    moves: list[Any] = field(default_factory=list)
    """Writes to the application (functions of the transaction)."""


def _record(application_id: str, event: _Event, now: datetime, sfn: Any, receipt: Receipt,
            attempts: int = 3) -> dict[str, Any]:
    key = ApplicationRecord.key(application_id)
    with TransactGet(connection=connection()) as read:
        found = read.get(ShipmentRecord, key, ShipmentRecord.SORT_KEY)
        application = read.get(ApplicationRecord, key, ApplicationRecord.SORT_KEY)
    try:
        shipment, record = found.get(), application.get()
    except (ShipmentRecord.DoesNotExist, ApplicationRecord.DoesNotExist) as missing:
        raise NotFound(f"application {application_id} has no shipment") from missing
    change = _change(shipment, record, event, now)
    answer = {"waybillNo": event.waybill_no, "event": event.event, "recorded": change.recorded,
              "advanced": change.advanced, "status": change.status}

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            if change.actions:
                transaction.update(shipment, actions=change.actions, condition=change.condition)
            for move in change.moves:
                move(transaction)
            receipt.write_in(transaction, answer)

    if not write_if(write):
        # The shipment or the application changed since the read: the same event delivered
        # at the same time (its receipt now answers), or another event. Decide again.
        first = receipt.stored_answer()
        if first is not None:
            return first
        if attempts <= 1:
            raise Conflict(f"waybill {event.waybill_no} is busy; send the event again")
        return _record(application_id, event, now, sfn, receipt, attempts - 1)
    logger.info("courier event", extra={"applicationId": application_id, **answer})
    if change.advanced and event.event == ShipmentStatus.DELIVERED:
        _emit_delivered()
    if change.moves:  # delivered and completed by this event
        escalation.delivered(record, now)  # 上报件: the accepting level's delivery step done
    if change.claim is not None:
        _resume_delivered(shipment, change.claim, sfn, receipt)
    return answer


def _change(shipment: ShipmentRecord, record: ApplicationRecord, event: _Event,
            now: datetime) -> _Change:
    """What the event changes, decided on the shipment and application as read. Each part is
    guarded by the condition that made it (as three conditional writes were before), so if
    any no longer holds the whole transaction is refused and the event decided again."""
    actions: list[Any] = []
    condition = ShipmentRecord.pk.exists()
    recorded = event.key not in (shipment.event_keys or set())
    if recorded:
        actions += [
            ShipmentRecord.events.set(ShipmentRecord.events.append([CourierEvent(
                event=event.event, at=event.at_text, note=event.note,
                received_at=now.isoformat())])),
            ShipmentRecord.event_keys.add({event.key}),
            *([ShipmentRecord.exception.set(True)] if event.event == EXCEPTION else [])]
        condition &= ~ShipmentRecord.event_keys.contains(event.key)
    advanced = event.event in RANK and int(shipment.rank) < RANK[event.event]
    if advanced:
        actions += [ShipmentRecord.status.set(event.event),
                    ShipmentRecord.rank.set(RANK[event.event])]
        condition &= ShipmentRecord.rank < RANK[event.event]
        if event.event == ShipmentStatus.DELIVERED:
            actions.append(ShipmentRecord.delivered_at.set(event.at))
            shipment.delivered_at = event.at
    if shipment.last_event_at is None or shipment.last_event_at < event.at:
        actions.append(ShipmentRecord.last_event_at.set(event.at))
        condition &= (ShipmentRecord.last_event_at.does_not_exist()
                      | (ShipmentRecord.last_event_at < event.at))
    change = _Change(actions, condition, recorded, advanced,
                     event.event if advanced else shipment.status)
    if change.status == ShipmentStatus.DELIVERED:
        _complete(change, shipment, record)
    return change


def _complete(change: _Change, shipment: ShipmentRecord, record: ApplicationRecord) -> None:
    """DISPATCHED → DELIVERED → COMPLETED (each step audited, both in this transaction) and,
    if no other callback is resuming the execution, the lease to resume it. Repeatable: every
    part is skipped once done (an application DELIVERED by an earlier version is completed)."""
    application_id = shipment.application_id
    delivered_at = shipment.delivered_at.isoformat() if shipment.delivered_at else None
    detail = {"waybillNo": shipment.waybill_no, "deliveredAt": delivered_at}
    status = before = record.status
    if before in (Status.DISPATCHED, Status.DELIVERED):
        actions = ApplicationRecord.moved_to(Status.COMPLETED, application_id)
        audits = []
        at = datetime.now(UTC)
        if before == Status.DISPATCHED:
            check_move(Status.DISPATCHED, Status.DELIVERED)
            actions.append(ApplicationRecord.delivery.set(
                {**(record.delivery or {}), "status": ShipmentStatus.DELIVERED.value,
                 "deliveredAt": delivered_at}))
            audits.append(new_audit(application_id, COURIER_ACTOR, "DELIVERED",
                                    Status.DISPATCHED, Status.DELIVERED, detail, at))
        check_move(Status.DELIVERED, Status.COMPLETED)
        # A microsecond later: the trail sorts by time, and both are written at once.
        audits.append(new_audit(application_id, "system", "COMPLETED", Status.DELIVERED,
                                Status.COMPLETED, detail, at + timedelta(microseconds=1)))

        def move(transaction: TransactWrite) -> None:
            transaction.update(application_stub(application_id), actions=actions,
                               condition=ApplicationRecord.status == before,
                               add_version_condition=False)
            for audit in audits:
                transaction.save(audit)

        change.moves.append(move)
        status = Status.COMPLETED
    if status != Status.COMPLETED:
        logger.warning("delivered, but the application is not completed",
                       extra={"applicationId": application_id, "status": status})
        return
    now = datetime.now(UTC)
    lease = shipment.resume_claimed_until
    if shipment.task_resolved_at is None and (lease is None or lease < now):
        # One conditional write (this transaction) decides which callback resumes it: Step
        # Functions accepts a second success while the execution has not yet moved on.
        change.claim = now + RESUME_CLAIM
        change.actions.append(ShipmentRecord.resume_claimed_until.set(change.claim))
        change.condition &= (ShipmentRecord.task_resolved_at.does_not_exist()
                             & (ShipmentRecord.task_token == shipment.task_token))
        change.condition &= (ShipmentRecord.resume_claimed_until.does_not_exist()
                             | (ShipmentRecord.resume_claimed_until < now))


def _resume_delivered(shipment: ShipmentRecord, claim: datetime, sfn: Any,
                      receipt: Receipt) -> None:
    """Resume the execution, holding the lease. On success nothing more is written: the lease
    lapses, and a callback that finds it lapsed and the task unresolved sends the success
    again, which Step Functions refuses for a token already used (then the task is marked
    resolved), or accepts if this one never arrived. On an error the lease is let go at once
    and the receipt forgotten, so the courier's retry resumes it."""
    delivered_at = shipment.delivered_at.isoformat() if shipment.delivered_at else None
    output = {"waybillNo": shipment.waybill_no, "deliveredAt": delivered_at}
    try:
        resolved_before = _resume(shipment.task_token, output, sfn)
    except Exception:
        _conditional(shipment, [ShipmentRecord.resume_claimed_until.remove()],
                     ShipmentRecord.resume_claimed_until == claim)
        receipt.forget()
        raise
    if resolved_before or shipment.resume_claimed_until is not None:
        # A lapsed lease was taken over (or the token was used): record the resolution now.
        shipment.update(actions=[ShipmentRecord.task_resolved_at.set(datetime.now(UTC)),
                                 ShipmentRecord.resume_claimed_until.remove()])


def _conditional(shipment: ShipmentRecord, actions: list[Any], condition: Any) -> bool:
    """One conditional update; False when the condition does not hold (nothing written)."""
    return write_if(lambda: shipment.update(actions=actions, condition=condition))


def _resume(task_token: str, output: dict[str, Any], sfn: Any) -> bool:
    """SendTaskSuccess; a token whose task is already complete (a concurrent or repeated
    completion) is not an error: the execution resumed once. True in that case."""
    return not workflow.resume(sfn, task_token, output)


def _emit_delivered() -> None:
    """The `Delivered` metric (namespace and service dimension from POWERTOOLS_*), written at
    once: the API has no handler wrapper to flush it."""
    with single_metric(name="Delivered", unit=MetricUnit.Count, value=1):
        pass


# --- reading -----------------------------------------------------------------------------------


def tracking(record: ApplicationRecord) -> dict[str, Any]:
    """The delivery as the applicant tracks it: the courier's waybill, status and events, or
    the pickup's state (one read)."""
    method = (record.delivery or {}).get("method")
    if method == COURIER:
        return tracking_from(record, _existing_shipment(record.application_id), None)
    try:
        pickup = PickupRecord.get(record.pk, PickupRecord.SORT_KEY)
    except PickupRecord.DoesNotExist:
        pickup = None
    return tracking_from(record, None, pickup)


def tracking_from(record: ApplicationRecord, shipment: ShipmentRecord | None,
                  pickup: PickupRecord | None) -> dict[str, Any]:
    """`tracking` from the shipment or pickup already read (a case file), or None for none."""
    delivery = dict(record.delivery or {})
    method = delivery.get("method")
    if method == COURIER:
        if shipment is None:
            return {"method": COURIER, "status": None, "events": []}
        return {
            "method": COURIER, "waybillNo": shipment.waybill_no, "carrier": shipment.carrier,
            "status": shipment.status, "exception": bool(shipment.exception),
            "lastEventAt": shipment.last_event_at.isoformat() if shipment.last_event_at
            else None,
            "deliveredAt": shipment.delivered_at.isoformat() if shipment.delivered_at else None,
            "events": sorted(({"event": e.event, "at": e.at, "note": e.note}
                              for e in shipment.events or []),
                             key=lambda e: datetime.fromisoformat(e["at"])),
        }
    if pickup is None:
        return {"method": method, "status": None}
    return {"method": method, "status": pickup.status, "readyAt": pickup.ready_at.isoformat(),
            "collectedAt": pickup.collected_at.isoformat() if pickup.collected_at else None}
