"""收费 (fee): payment orders (缴款单), opened with the provider
(`yiwang.fulfilment.payment_provider`), and the signed callback that settles an order and
resumes the waiting lifecycle execution (the lifecycle's step 4).

After every department approved an item with a fee, the lifecycle's payment step waits
(`lambda:invoke.waitForTaskToken`) while `open_order` creates the order with the provider and
moves the application IN_REVIEW → AWAITING_PAYMENT. The provider's callback (`POST
/webhooks/payment`) is verified (`yiwang.platform.signatures`) before anything is parsed;
`settle` then acts once per provider transaction id (a `yiwang.table.idempotency.Receipt`
written with the effect):
a successful payment of the right amount marks the order PAID (only from PENDING) and the
application PAID, audited, in one transaction, and sends the execution its task token back.
A wrong amount, a payment of an order that is no longer payable or one made after the order
expired is recorded as a flag on the order (and audited), never treated as paid. A failed
payment is audited; the order stays payable.

Records, in the single table:
- order: pk=`APP#<application id>`, sk=`PAY#<order id>` (an application's orders, one read
  with its other records);
- lookup: pk=`ORDER#<order id>`, sk=`META` → the application id. The order id itself begins
  with the application id (`new_order_id`), so a callback reads the order, the application
  and its receipt in one TransactGetItems; the lookup serves ids of any other shape;
- audit: the application's trail (`records.AuditRecord`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

from yiwang.applications import lifecycle, promise
from yiwang.applications.records import ApplicationRecord, new_audit
from yiwang.applications.status import Status
from yiwang.calendar.workdays import local_time
from yiwang.catalogue.items import get_item
from yiwang.deadlines import clocks
from yiwang.fulfilment.payment_provider import PaymentProvider
from yiwang.people import policy
from yiwang.people.access import Caller
from yiwang.people.notices import Notice
from yiwang.platform import validation, workflow
from yiwang.platform.errors import Conflict, FieldError, NotFound, Unprocessable, ValidationFailed
from yiwang.platform.observability import MetricUnit, logger, metrics
from yiwang.table.idempotency import Receipt
from yiwang.table.records import AuditRecord, TableMeta, connection
from yiwang.table.writes import write_if, write_or_conflict

__all__ = [
    "OrderStatus", "PaymentOrderLookup", "PaymentOrderRecord", "SettleOutcome", "open_order",
    "orders_of", "payable", "pending_payment", "settle", "waive",
]



class OrderStatus(StrEnum):
    """A payment order is PENDING until paid, waived (减免) or expired; CANCELLED is kept for
    orders cancelled by hand."""

    PENDING = "PENDING"
    PAID = "PAID"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    WAIVED = "WAIVED"


PENDING, PAID, EXPIRED, CANCELLED, WAIVED = (
    OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED,
    OrderStatus.WAIVED)
ORDER_TTL = timedelta(days=7)
PAYMENT_CLOCK = "PAYMENT"
EXPIRE_PAYMENT = "EXPIRE_PAYMENT"
"""The payment clock's automatic rule (`expire`): the order's window closed unpaid."""
"""The order expires after 7 days (docs/rules.md §3; the lifecycle's payment Task times out
then)."""
WEBHOOK_SCOPE = "payment-webhook"
PROVIDER_ACTOR = "payment-provider"

MAX_AMOUNT_FEN = 10**12
"""The largest amount a callback may report (10 billion yuan, in fen)."""
TRANSACTION_ID_MAX = 128
"""The longest transaction id a callback may report."""
_CALLBACK: dict[str, Any] = {
    "type": "object",
    "required": ["orderId", "transactionId", "amountFen", "status"],
    "properties": {
        "orderId": {"type": "string", "minLength": 1, "maxLength": 64},
        "transactionId": {"type": "string", "minLength": 1,
                          "maxLength": TRANSACTION_ID_MAX},
        "amountFen": {"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT_FEN},
        "status": {"enum": ["SUCCESS", "FAILED"]},
        "paidAt": {"type": ["string", "null"], "maxLength": 64},
    },
    "maxProperties": 16,
    "if": {"properties": {"status": {"const": "SUCCESS"}}},
    "then": {"required": ["paidAt"], "properties": {"paidAt": {"type": "string"}}},
}


class PaymentOrderRecord(Model):
    """缴款单: what the applicant owes for one application, and how it was settled."""

    class Meta(TableMeta):
        pass

    SORT_PREFIX = "PAY#"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    order_id = UnicodeAttribute(attr_name="orderId")
    application_id = UnicodeAttribute(attr_name="applicationId")
    amount_fen = NumberAttribute(attr_name="amountFen")
    status = UnicodeAttribute()
    task_token = UnicodeAttribute(attr_name="taskToken")
    pay_url = UnicodeAttribute(attr_name="payUrl")
    created_at = Time(attr_name="createdAt")
    # Not `expiresAt`: that is the table's TTL attribute, and an order must never vanish.
    expires_at = Time(attr_name="orderExpiresAt")
    transaction_id = UnicodeAttribute(attr_name="transactionId", null=True)
    paid_at = Time(attr_name="paidAt", null=True)
    flags = ListAttribute(of=UnicodeAttribute, default=list)
    waived_by = UnicodeAttribute(attr_name="waivedBy", null=True)
    waive_reason = UnicodeAttribute(attr_name="waiveReason", null=True)

    @staticmethod
    def sort_key(order_id: str) -> str:
        return f"{PaymentOrderRecord.SORT_PREFIX}{order_id}"

    def to_api(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id, "applicationId": self.application_id,
            "amountFen": int(self.amount_fen), "status": self.status, "payUrl": self.pay_url,
            "createdAt": local_time(self.created_at), "expiresAt": local_time(self.expires_at),
            **({"transactionId": self.transaction_id} if self.transaction_id else {}),
            **({"paidAt": local_time(self.paid_at)} if self.paid_at else {}),
            **({"flags": list(self.flags)} if self.flags else {}),
        }


class PaymentOrderLookup(Model):
    """pk=`ORDER#<order id>`: which application an order belongs to."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="META")
    order_id = UnicodeAttribute(attr_name="orderId")
    application_id = UnicodeAttribute(attr_name="applicationId")

    @staticmethod
    def key(order_id: str) -> str:
        return f"ORDER#{order_id}"


# ---------------------------------------------------------------------------------------------
# Opening an order


def orders_of(application_id: str) -> list[PaymentOrderRecord]:
    """An application's orders (by order id; at most one is PENDING), read consistently."""
    return list(PaymentOrderRecord.query(ApplicationRecord.key(application_id),
                                         PaymentOrderRecord.sk.startswith(
                                             PaymentOrderRecord.SORT_PREFIX),
                                         consistent_read=True))


def pending_payment(application_id: str) -> dict[str, Any] | None:
    """`pending.payment` of the Application (openapi.yaml): the order the applicant must pay now."""
    return payable(orders_of(application_id))


def payable(orders: list[PaymentOrderRecord]) -> dict[str, Any] | None:
    """`pending_payment` from the application's orders already read (a case file)."""
    for order in orders:
        if order.status == PENDING:
            return {"orderId": order.order_id, "amountFen": int(order.amount_fen),
                    "payUrl": order.pay_url, "expiresAt": local_time(order.expires_at)}
    return None


def new_order_id(application_id: str, task_token: str) -> str:
    """The application id and a digest of the waiting step's token: the same step asking twice
    gets the same id (at most 32 characters of [0-9A-Z], what providers accept)."""
    digest = hashlib.sha256(task_token.encode()).hexdigest()[:8].upper()
    return f"{application_id}P{digest}"


def open_order(application_id: str, task_token: str, provider: PaymentProvider,
               now: datetime | None = None) -> PaymentOrderRecord:
    """The payment order the execution waits on; IN_REVIEW → AWAITING_PAYMENT, audited.

    Idempotent: while an order of the application is PENDING, asking again returns it (with the
    newest task token, so the callback resumes whichever execution step waits).
    """
    now = now or datetime.now(UTC)
    pending = [o for o in orders_of(application_id) if o.status == PENDING]
    if pending:
        order = pending[-1]
        if order.task_token != task_token:
            write_or_conflict(lambda: order.update(
                actions=[PaymentOrderRecord.task_token.set(task_token)],
                condition=PaymentOrderRecord.status == PENDING),
                f"order {order.order_id} was settled meanwhile")
        _await_payment(order)
        return order
    record = ApplicationRecord.load(application_id)
    if record.status != Status.IN_REVIEW:
        raise Conflict(f"application {application_id} is {record.status}, not "
                       f"{Status.IN_REVIEW}")
    item = get_item(record.item_code, int(record.item_version))
    if item.fee_fen <= 0:
        raise Unprocessable(f"{item.name} has no fee; there is nothing to pay")
    order_id = new_order_id(application_id, task_token)
    pay_url = provider.create_payment(order_id, item.fee_fen, f"{item.name} {application_id}")
    order = PaymentOrderRecord(
        ApplicationRecord.key(application_id), PaymentOrderRecord.sort_key(order_id),
        order_id=order_id, application_id=application_id, amount_fen=item.fee_fen,
        status=PENDING, task_token=task_token, pay_url=pay_url, created_at=now,
        expires_at=now + ORDER_TTL, flags=[],
    )
    lookup = PaymentOrderLookup(PaymentOrderLookup.key(order_id), "META", order_id=order_id,
                                application_id=application_id)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(order, condition=PaymentOrderRecord.pk.does_not_exist())
            transaction.save(lookup, condition=PaymentOrderLookup.pk.does_not_exist())

    if not write_if(write):
        # The same step, at the same time: the other call wrote this very order.
        try:
            order = PaymentOrderRecord.get(order.pk, order.sk)
        except PaymentOrderRecord.DoesNotExist as missing:
            raise Conflict(f"order {order_id} could not be written") from missing
    if order.status == PENDING:
        # The clock first: once the application shows AWAITING_PAYMENT, a payment may come,
        # and it stops the clock it reads with the order.
        clocks.start(order.pk, PAYMENT_CLOCK, kind=PAYMENT_CLOCK, subject=application_id,
                     department="APPLICANT", step="缴费", now=order.created_at,
                     deadline=order.expires_at, cards=False, action=EXPIRE_PAYMENT,
                     context={"orderId": order.order_id})
        # The applicant holds the case until paid: the promise (总时限) does not count.
        promise.hold(application_id, promise.PAYMENT, now)
        _await_payment(order)
    return order


def _await_payment(order: PaymentOrderRecord) -> None:
    # A no-op when the application already awaits payment (a repeated step).
    lifecycle.transition(order.application_id, Status.AWAITING_PAYMENT, "system",
                      "PAYMENT_ORDERED", detail={"orderId": order.order_id,
                                                 "amountFen": int(order.amount_fen)})


# ---------------------------------------------------------------------------------------------
# Settling a verified callback


@dataclass(frozen=True)
class SettleOutcome:
    """What a callback did: `effect` is PAID, FAILED (recorded), FLAGGED (recorded, not paid)
    or ALREADY_PAID; `status` is the order's status afterwards."""

    order_id: str
    status: str
    effect: str
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"orderId": self.order_id, "status": self.status, "effect": self.effect,
                "flags": list(self.flags)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SettleOutcome:
        return cls(data["orderId"], data["status"], data["effect"], list(data.get("flags", [])))

    def to_api(self) -> dict[str, Any]:
        """The webhook's answer: `{"orderId","status","flags"?}`."""
        return {"orderId": self.order_id, "status": self.status,
                **({"flags": list(self.flags)} if self.flags else {})}


def validated_callback(event: Any) -> dict[str, Any]:
    """The provider's callback, checked against its one contract (a successful payment says
    when, with an offset); `ValidationFailed` with every error otherwise."""
    if not isinstance(event, dict):
        raise ValidationFailed([FieldError("$", "the callback must be a JSON object")])
    errors = validation.errors(_CALLBACK, event)
    if not errors and event.get("paidAt") is not None:
        try:
            paid_at = datetime.fromisoformat(event["paidAt"])
            if paid_at.tzinfo is None:
                errors.append(FieldError("paidAt", "an ISO 8601 time with an offset"))
        except ValueError:
            errors.append(FieldError("paidAt", "not an ISO 8601 time"))
    if errors:
        raise ValidationFailed(errors)
    return event


def _application_of(order_id: str) -> str | None:
    """The application an order id names: `new_order_id` makes `<application id>P<8 hex>`."""
    head, separator, digest = order_id.rpartition("P")
    return head if separator and head and len(digest) == 8 else None


def _read(order_id: str, receipt: Receipt | None
          ) -> tuple[PaymentOrderRecord, ApplicationRecord, dict[str, Any] | None,
                     clocks.ClockRecord | None]:
    """The order, its application, its payment clock and (with `receipt`) the first answer
    to this callback, in one TransactGetItems: the order id names the application, so no
    lookup is read first (the `ORDER#` lookup is the fallback for an id of another shape).
    `NotFound` for an unknown order; `Conflict` for a transaction id first sent with another
    body."""
    application_id = _application_of(order_id)
    found = _read_with(application_id, order_id, receipt) if application_id else None
    if found is None:
        try:
            lookup = PaymentOrderLookup.get(PaymentOrderLookup.key(order_id), "META")
        except PaymentOrderLookup.DoesNotExist as missing:
            raise NotFound(f"no payment order {order_id}") from missing
        found = _read_with(lookup.application_id, order_id, receipt)
        if found is None:
            raise NotFound(f"no payment order {order_id}")
    return found


def _read_with(application_id: str, order_id: str, receipt: Receipt | None
               ) -> tuple[PaymentOrderRecord, ApplicationRecord, dict[str, Any] | None,
                          clocks.ClockRecord | None] | None:
    key = ApplicationRecord.key(application_id)
    with TransactGet(connection=connection()) as read:
        order = read.get(PaymentOrderRecord, key, PaymentOrderRecord.sort_key(order_id))
        record = read.get(ApplicationRecord, key, ApplicationRecord.SORT_KEY)
        clock = read.get(clocks.ClockRecord, key, f"CLOCK#{PAYMENT_CLOCK}")
        stored = receipt.get_in(read) if receipt is not None else None
    try:
        found = (order.get(), record.get(),
                 receipt.answer_from(stored) if receipt is not None else None)
    except (PaymentOrderRecord.DoesNotExist, ApplicationRecord.DoesNotExist):
        return None
    try:
        return (*found, clock.get())
    except clocks.ClockRecord.DoesNotExist:
        return (*found, None)


def settle(event: Any, sfn: Any, now: datetime | None = None) -> SettleOutcome:
    """Act on a verified callback `{"orderId","transactionId","amountFen","status","paidAt"}`,
    once per transaction id (the same delivery again returns the first outcome).

    `ValidationFailed` lists every error of a malformed callback; an unknown order is
    `NotFound`; neither changes anything. A payment costs three calls: one read (order,
    application, payment clock, receipt), one transaction (order, application, audit, clock,
    receipt), the task success.
    """
    body = validated_callback(event)
    now = now or datetime.now(UTC)
    return _settle(body, sfn, now, Receipt(WEBHOOK_SCOPE, body["transactionId"], body))


@dataclass
class _Settlement:
    """What one callback writes (in one transaction) and answers."""

    order: PaymentOrderRecord
    order_actions: list[Any] = field(default_factory=list)
    order_condition: Any = None
    audits: list[AuditRecord] = field(default_factory=list)
    transition: dict[str, Any] | None = None
    """`lifecycle.transition_in` arguments, when the application moves."""
    flags: list[str] = field(default_factory=list)
    counted: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    resume: dict[str, Any] | None = None
    """The task success's output, when the execution is to resume."""
    effect: str = PAID
    clock: clocks.ClockRecord | None = None
    """The payment clock, to stop in the same transaction (when paid)."""

    def flag(self, flag: str, metric: str, about: dict[str, Any]) -> None:
        """Record an anomaly on the order (once), audit it and count it; nothing is paid."""
        if flag in self.flags:
            return
        self.order_actions.append(PaymentOrderRecord.flags.set(
            PaymentOrderRecord.flags.append([flag])))
        self.audits.append(new_audit(self.order.application_id, PROVIDER_ACTOR,
                                     "PAYMENT_FLAGGED", None, None, {**about, "flag": flag}))
        self.flags.append(flag)
        self.counted.append((metric, 1))
        self.warnings.append({**about, "flag": flag})
        self.effect = "FLAGGED"

    def outcome(self) -> SettleOutcome:
        return SettleOutcome(self.order.order_id, self.order.status, self.effect,
                             list(self.flags))


def _settle(body: dict[str, Any], sfn: Any, now: datetime, receipt: Receipt | None = None,
            attempts: int = 3) -> SettleOutcome:
    order, record, first, clock = _read(body["orderId"], receipt)
    if first is not None:
        return SettleOutcome.from_dict(first)
    plan = _plan(body, order, record)
    if plan.transition and plan.transition["to_status"] == Status.PAID:
        plan.clock = clock  # paid: the payment window's clock stops with the payment
    outcome = plan.outcome()
    if not write_if(lambda: _commit(plan, receipt, outcome)):
        if attempts <= 1:
            raise Conflict(f"order {order.order_id} keeps changing; send the callback again")
        # The order or the application changed since the read (or the same callback got there
        # first, and its receipt now answers): decide again on what is there now.
        return _settle(body, sfn, now, receipt, attempts - 1)
    for name, value in plan.counted:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for about in plan.warnings:
        logger.warning("payment flagged", extra=about)
    if plan.transition:  # paid: the case is the administration's again
        promise.release(order.application_id, promise.PAYMENT, now)
    if plan.resume is None:
        return outcome
    return _resume(plan, sfn, receipt, outcome)


def _plan(body: dict[str, Any], order: PaymentOrderRecord,
          record: ApplicationRecord) -> _Settlement:
    """Decide, on the order and application as read, what the callback does."""
    plan = _Settlement(order, flags=list(order.flags or []),
                       order_condition=PaymentOrderRecord.status == order.status)
    txn, paid_fen = body["transactionId"], int(body["amountFen"])
    about = {"orderId": order.order_id, "transactionId": txn, "amountFen": paid_fen}
    if body["status"] == "FAILED":
        plan.audits.append(new_audit(order.application_id, PROVIDER_ACTOR, "PAYMENT_FAILED",
                                     None, None, about))
        plan.counted.append(("PaymentFailed", 1))
        plan.effect = "FAILED"
        return plan
    if order.status == PAID and order.transaction_id == txn:
        plan.effect = "ALREADY_PAID"  # an earlier delivery stopped half-way
        _to_paid(plan, record)
        return plan
    if order.status != PENDING:
        plan.flag(f"NOT_PAYABLE order {order.status} paid {paid_fen} (txn {txn})",
                  "PaymentNotPayable", about)
        return plan
    if paid_fen != int(order.amount_fen):
        plan.flag(f"AMOUNT_MISMATCH paid {paid_fen} owed {int(order.amount_fen)} (txn {txn})",
                  "PaymentAmountMismatch", about)
        return plan
    paid_at = datetime.fromisoformat(body["paidAt"]).astimezone(UTC)
    if paid_at > order.expires_at:
        plan.flag(f"PAID_AFTER_EXPIRY paid {paid_at.isoformat()} expired "
                  f"{order.expires_at.isoformat()} (txn {txn})", "PaymentAfterExpiry", about)
        return plan
    plan.order_actions += [PaymentOrderRecord.status.set(PAID),
                           PaymentOrderRecord.transaction_id.set(txn),
                           PaymentOrderRecord.paid_at.set(paid_at)]
    order.status, order.transaction_id, order.paid_at = PAID, txn, paid_at
    plan.counted += [("Paid", 1), ("PaidFen", paid_fen)]
    _to_paid(plan, record)
    return plan


def _to_paid(plan: _Settlement, record: ApplicationRecord) -> None:
    """The application AWAITING_PAYMENT → PAID (audited once) and the execution to resume; an
    application no longer waiting for the payment is flagged instead."""
    order = plan.order
    about = _resume_output(order)
    if record.status == Status.AWAITING_PAYMENT:
        plan.transition = {"from_status": Status.AWAITING_PAYMENT, "to_status": Status.PAID,
                           "actor": PROVIDER_ACTOR, "event": "PAID", "detail": about}
    elif record.status != Status.PAID:  # PAID already: a repeated step, nothing to move
        plan.flag(f"APPLICATION_NOT_AWAITING_PAYMENT status {record.status} "
                  f"(txn {order.transaction_id})", "PaymentOrphaned", about)
        return
    plan.resume = about


def _resume_output(order: PaymentOrderRecord) -> dict[str, Any]:
    return {"orderId": order.order_id, "transactionId": order.transaction_id,
            "amountFen": int(order.amount_fen),
            "paidAt": order.paid_at.isoformat() if order.paid_at else None}


def _commit(plan: _Settlement, receipt: Receipt | None, outcome: SettleOutcome) -> None:
    """One transaction: the order, the application's move, the audit records, the receipt
    (each only if there is something to write)."""
    if not (plan.order_actions or plan.audits or plan.transition or receipt):
        return
    with TransactWrite(connection=connection()) as transaction:
        if plan.order_actions:
            transaction.update(plan.order, actions=plan.order_actions,
                               condition=plan.order_condition)
        for audit in plan.audits:
            transaction.save(audit)
        if plan.transition:
            lifecycle.transition_in(transaction, plan.order.application_id,
                                       **plan.transition)
        clocks.stop_in(transaction, plan.clock, datetime.now(UTC),
                       reason=OrderStatus.PAID.value)
        if receipt is not None:
            receipt.write_in(transaction, outcome.to_dict())


def _resume(plan: _Settlement, sfn: Any, receipt: Receipt | None,
            outcome: SettleOutcome) -> SettleOutcome:
    """Send the waiting execution its task token back, after the transaction."""
    order, about, again = plan.order, plan.resume or {}, plan.effect == "ALREADY_PAID"
    try:
        waiting = workflow.resume(sfn, order.task_token, about)
    except Exception:
        if receipt is not None:
            receipt.forget()  # so the provider's retry resumes it (the order says PAID)
        raise
    if waiting:
        return outcome
    if not again:
        return _flag_gone(plan, receipt)
    logger.info("payment already resumed its execution", extra=about)
    return outcome


def _flag_gone(plan: _Settlement, receipt: Receipt | None) -> SettleOutcome:
    """Paid, but the execution no longer waits for it: flag the order (its own transaction,
    after the fact) and keep that as the callback's answer."""
    order = plan.order
    after = _Settlement(order, flags=list(plan.flags))
    after.flag(f"WORKFLOW_NOT_WAITING (txn {order.transaction_id})",
               "PaymentWorkflowGone", plan.resume or {})
    outcome = after.outcome()
    if after.audits:
        _commit(after, None, outcome)
        for name, value in after.counted:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        for about in after.warnings:
            logger.warning("payment flagged", extra=about)
    if receipt is not None:
        receipt.amend(outcome.to_dict())
    return outcome


# ---------------------------------------------------------------------------------------------
# 减免: an administrator waives the fee


def waive(caller: Caller, application_id: str, reason: str, sfn: Any,
          now: datetime | None = None) -> PaymentOrderRecord:
    """An administrator waives the pending order's fee (with a reason, audited); the
    application goes on as paid and the execution resumes with `waived: true`."""
    policy.permit("waiveFee", caller)
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed([FieldError("reason", "a waiver needs a reason (减免理由)")])
    pending = [o for o in orders_of(application_id) if o.status == PENDING]
    if not pending:
        ApplicationRecord.load(application_id)  # 404 for an unknown application
        raise Conflict(f"application {application_id} has no payment order to waive")
    order = pending[-1]
    now = now or datetime.now(UTC)
    write_or_conflict(lambda: order.update(
        actions=[PaymentOrderRecord.status.set(WAIVED),
                 PaymentOrderRecord.waived_by.set(caller.sub),
                 PaymentOrderRecord.waive_reason.set(reason.strip()),
                 PaymentOrderRecord.paid_at.set(now)],
        condition=PaymentOrderRecord.status == PENDING),
        f"order {order.order_id} was settled meanwhile")
    about = {"orderId": order.order_id, "transactionId": None, "amountFen": 0,
             "paidAt": now.isoformat(), "waived": True}
    lifecycle.transition(application_id, Status.PAID, caller.sub, "FEE_WAIVED",
                      detail={"orderId": order.order_id, "owedFen": int(order.amount_fen),
                              "reason": reason.strip()})
    metrics.add_metric(name="FeeWaived", unit=MetricUnit.Count, value=1)
    clocks.stop(order.pk, PAYMENT_CLOCK, now, reason=WAIVED.value)
    promise.release(application_id, promise.PAYMENT, now)
    if not workflow.resume(sfn, order.task_token, about):
        logger.warning("fee waived, but the payment step no longer waits", extra=about)
    return order



# ---------------------------------------------------------------------------------------------
# The payment window closes (the timeout check's rule)


def expire(clock: clocks.ClockRecord, now: datetime, sfn: Any) -> list[Notice]:
    """The order's window closed unpaid: the order EXPIRED, the application CANCELLED (both
    audited), the waiting execution ended with `PaymentExpired`, the applicant told. A
    payment that arrives later is flagged (`NOT_PAYABLE`), never taken as paid."""
    order = PaymentOrderRecord.get(clock.pk, PaymentOrderRecord.sort_key(
        clock.context["orderId"]), consistent_read=True)
    if not write_if(lambda: order.update(actions=[PaymentOrderRecord.status.set(EXPIRED)],
                                         condition=PaymentOrderRecord.status == PENDING)):
        return []  # paid or waived at the last moment
    about = {"orderId": order.order_id, "expiresAt": order.expires_at.isoformat()}
    clocks.stop_all(order.pk, now, reason=Status.CANCELLED.value)  # nothing more is owed
    record = lifecycle.transition(order.application_id, Status.CANCELLED, "system",
                               "PAYMENT_EXPIRED", detail=about)
    # A step that no longer waits (timed out as well) needs no failure: nothing to do.
    workflow.fail(sfn, order.task_token, "PaymentExpired", about)
    metrics.add_metric(name="PaymentsExpired", unit=MetricUnit.Count, value=1)
    return [Notice(record.owner_sub, "PAYMENT_EXPIRED", "缴费期限已过，办件已取消",
                   f"办件 {order.application_id} 的缴费订单 {order.order_id} 已于 "
                   f"{local_time(order.expires_at)} 过期，办件已取消；如需办理请重新申请。",
                   order.application_id)]
