"""收费 (fee): payment orders (缴款单), the provider adapter, and the signed callback that settles
an order and resumes the waiting lifecycle execution (DOMAIN.md "Application lifecycle" 4).

After every department approved an item with a fee, the lifecycle's payment step waits
(`lambda:invoke.waitForTaskToken`) while `open_order` creates the order with the provider and
moves the application IN_REVIEW → AWAITING_PAYMENT. The provider's callback (`POST
/webhooks/payment`) is verified (`yiwang.signatures`) before anything is parsed; `settle` then
acts once per provider transaction id (Powertools idempotency): a successful payment of the
right amount marks the order PAID (only from PENDING), the application PAID, and sends the
execution its task token back. A wrong amount, a payment of an order that is no longer payable
or one made after the order expired is recorded as a flag on the order (and audited), never
treated as paid. A failed payment is audited; the order stays payable.

Records, in the single table:
- order: pk=`APP#<application id>`, sk=`PAY#<order id>` (an application's orders, one read
  with its other records);
- lookup: pk=`ORDER#<order id>`, sk=`META` → the application id, so a callback that names only
  the order finds it in two key reads;
- audit: the application's trail (`records.AuditRecord`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang import applications, validation
from yiwang.access import ADMIN, Caller
from yiwang.catalogue import get_item
from yiwang.config import ConfigurationError, Settings
from yiwang.errors import Conflict, FieldError, NotFound, Unprocessable, ValidationFailed
from yiwang.idempotency import once
from yiwang.observability import MetricUnit, logger, metrics
from yiwang.records import ApplicationRecord, TableMeta, new_audit
from yiwang.signatures import BadSignature, StaleWebhook, provider_secret, verify

__all__ = [
    "BadSignature", "LocalPaymentProvider", "PaymentOrderLookup", "PaymentOrderRecord",
    "PaymentProvider", "SettleOutcome", "StaleWebhook", "open_order", "orders_of",
    "pending_payment", "provider_for", "settle", "verify_signature", "waive", "webhook_secret",
]

PENDING, PAID, EXPIRED, CANCELLED, WAIVED = "PENDING", "PAID", "EXPIRED", "CANCELLED", "WAIVED"
ORDER_TTL = timedelta(days=7)
"""DOMAIN.md: the order expires after 7 days (the lifecycle's payment Task times out then)."""
WEBHOOK_SCOPE = "payment-webhook"
PROVIDER_ACTOR = "payment-provider"
_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
"""SendTaskSuccess errors meaning the execution no longer waits for this token."""

_CALLBACK: dict[str, Any] = {
    "type": "object",
    "required": ["orderId", "transactionId", "amountFen", "status"],
    "properties": {
        "orderId": {"type": "string", "minLength": 1, "maxLength": 64},
        "transactionId": {"type": "string", "minLength": 1, "maxLength": 128},
        "amountFen": {"type": "integer", "minimum": 0},
        "status": {"enum": ["SUCCESS", "FAILED"]},
        "paidAt": {"type": ["string", "null"]},
    },
    "if": {"properties": {"status": {"const": "SUCCESS"}}},
    "then": {"required": ["paidAt"], "properties": {"paidAt": {"type": "string"}}},
}


class PaymentOrderRecord(Model):
    """缴款单: what the applicant owes for one application, and how it was settled."""

    class Meta(TableMeta):
        pass

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
        return f"PAY#{order_id}"

    def to_api(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id, "applicationId": self.application_id,
            "amountFen": int(self.amount_fen), "status": self.status, "payUrl": self.pay_url,
            "createdAt": self.created_at.isoformat(), "expiresAt": self.expires_at.isoformat(),
            **({"transactionId": self.transaction_id} if self.transaction_id else {}),
            **({"paidAt": self.paid_at.isoformat()} if self.paid_at else {}),
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
# The provider


class PaymentProvider(Protocol):
    """A payment provider: registers an order and tells where the applicant pays it."""

    def create_payment(self, order_id: str, amount_fen: int, description: str) -> str:
        """Register the order (idempotent on `order_id`); return the URL the applicant opens."""
        ...


@dataclass(frozen=True)
class LocalPaymentProvider:
    """The local simulator (`python -m infra.providers.payment serve`): it keeps no state, so
    registering is building the URL of its pay page."""

    base_url: str

    def create_payment(self, order_id: str, amount_fen: int, description: str) -> str:
        query = urlencode({"amount": amount_fen, "subject": description})
        return f"{self.base_url.rstrip('/')}/pay/{quote(order_id, safe='')}?{query}"


def provider_for(config: Settings) -> PaymentProvider:
    """The provider this stack is configured for (only the local simulator exists so far)."""
    if config.payment_provider_url:
        return LocalPaymentProvider(config.payment_provider_url)
    raise ConfigurationError("PAYMENT_PROVIDER_URL is not set for this function")


def webhook_secret(config: Settings) -> bytes:
    """The payment provider's webhook secret (Secrets Manager in AWS; API.md "Webhooks")."""
    return provider_secret("payment", value=config.payment_webhook_secret,
                           arn=config.payment_webhook_secret_arn)


def verify_signature(secret: bytes, timestamp: str | None, raw_body: bytes | None,
                     signature_header: str | None, now: datetime | None = None) -> None:
    """`BadSignature` or `StaleWebhook` unless the callback is authentic and fresh."""
    verify(secret, timestamp, raw_body, signature_header, now)


# ---------------------------------------------------------------------------------------------
# Opening an order


def _connection() -> Connection:
    return PaymentOrderRecord._get_connection().connection


def orders_of(application_id: str) -> list[PaymentOrderRecord]:
    """An application's orders (by order id; at most one is PENDING), read consistently."""
    return list(PaymentOrderRecord.query(ApplicationRecord.key(application_id),
                                         PaymentOrderRecord.sk.startswith("PAY#"),
                                         consistent_read=True))


def pending_payment(application_id: str) -> dict[str, Any] | None:
    """`pending.payment` of the Application (API.md): the order the applicant must pay now."""
    for order in orders_of(application_id):
        if order.status == PENDING:
            return {"orderId": order.order_id, "amountFen": int(order.amount_fen),
                    "payUrl": order.pay_url, "expiresAt": order.expires_at.isoformat()}
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
            try:
                order.update(actions=[PaymentOrderRecord.task_token.set(task_token)],
                             condition=PaymentOrderRecord.status == PENDING)
            except UpdateError as error:
                raise Conflict(f"order {order.order_id} was settled meanwhile") from error
        _await_payment(order)
        return order
    record = ApplicationRecord.load(application_id)
    if record.status != "IN_REVIEW":
        raise Conflict(f"application {application_id} is {record.status}, not IN_REVIEW")
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
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.save(order, condition=PaymentOrderRecord.pk.does_not_exist())
            transaction.save(lookup, condition=PaymentOrderLookup.pk.does_not_exist())
    except TransactWriteError as error:
        # The same step, at the same time: the other call wrote this very order.
        try:
            order = PaymentOrderRecord.get(order.pk, order.sk)
        except PaymentOrderRecord.DoesNotExist:
            raise Conflict(f"order {order_id} could not be written") from error
    if order.status == PENDING:
        _await_payment(order)
    return order


def _await_payment(order: PaymentOrderRecord) -> None:
    # A no-op when the application already awaits payment (a repeated step).
    applications.transition(order.application_id, "AWAITING_PAYMENT", "system",
                            "PAYMENT_ORDERED", allowed_from={"IN_REVIEW"},
                            detail={"orderId": order.order_id,
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


def _validated(event: Any) -> dict[str, Any]:
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


def _order(order_id: str) -> PaymentOrderRecord:
    try:
        lookup = PaymentOrderLookup.get(PaymentOrderLookup.key(order_id), "META")
        return PaymentOrderRecord.get(ApplicationRecord.key(lookup.application_id),
                                      PaymentOrderRecord.sort_key(order_id))
    except (PaymentOrderLookup.DoesNotExist, PaymentOrderRecord.DoesNotExist) as missing:
        raise NotFound(f"no payment order {order_id}") from missing


def settle(event: Any, sfn: Any, now: datetime | None = None) -> SettleOutcome:
    """Act on a verified callback `{"orderId","transactionId","amountFen","status","paidAt"}`,
    once per transaction id (the same delivery again returns the first outcome).

    `ValidationFailed` lists every error of a malformed callback; an unknown order is
    `NotFound`; neither changes anything.
    """
    body = _validated(event)
    _order(body["orderId"])  # unknown orders are refused before anything is written
    now = now or datetime.now(UTC)
    result = once(WEBHOOK_SCOPE, body["transactionId"], body,
                  lambda: _settle(body, sfn, now).to_dict())
    return SettleOutcome.from_dict(result)


def _settle(body: dict[str, Any], sfn: Any, now: datetime) -> SettleOutcome:
    order = _order(body["orderId"])
    txn, paid_fen = body["transactionId"], int(body["amountFen"])
    about = {"orderId": order.order_id, "transactionId": txn, "amountFen": paid_fen}
    if body["status"] == "FAILED":
        new_audit(order.application_id, PROVIDER_ACTOR, "PAYMENT_FAILED", None, None,
                  about).save()
        metrics.add_metric(name="PaymentFailed", unit=MetricUnit.Count, value=1)
        return SettleOutcome(order.order_id, order.status, "FAILED", list(order.flags or []))
    if order.status == PAID and order.transaction_id == txn:
        return _resume(order, sfn, again=True)  # an earlier delivery stopped half-way
    if order.status != PENDING:
        return _flag(order, f"NOT_PAYABLE order {order.status} paid {paid_fen} (txn {txn})",
                     "PaymentNotPayable", about)
    if paid_fen != int(order.amount_fen):
        return _flag(order, f"AMOUNT_MISMATCH paid {paid_fen} owed {int(order.amount_fen)} "
                            f"(txn {txn})", "PaymentAmountMismatch", about)
    paid_at = datetime.fromisoformat(body["paidAt"]).astimezone(UTC)
    if paid_at > order.expires_at:
        return _flag(order, f"PAID_AFTER_EXPIRY paid {paid_at.isoformat()} expired "
                            f"{order.expires_at.isoformat()} (txn {txn})",
                     "PaymentAfterExpiry", about)
    try:
        order.update(actions=[PaymentOrderRecord.status.set(PAID),
                              PaymentOrderRecord.transaction_id.set(txn),
                              PaymentOrderRecord.paid_at.set(paid_at)],
                     condition=PaymentOrderRecord.status == PENDING)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        order.refresh(consistent_read=True)
        if order.status == PAID and order.transaction_id == txn:
            return _resume(order, sfn, again=True)
        return _flag(order, f"NOT_PAYABLE order {order.status} paid {paid_fen} (txn {txn})",
                     "PaymentNotPayable", about)
    metrics.add_metric(name="Paid", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="PaidFen", unit=MetricUnit.Count, value=paid_fen)
    return _resume(order, sfn, again=False)


def _resume(order: PaymentOrderRecord, sfn: Any, *, again: bool) -> SettleOutcome:
    """Application AWAITING_PAYMENT → PAID (audited once) and the execution resumed."""
    paid_at = order.paid_at.isoformat() if order.paid_at else None
    about = {"orderId": order.order_id, "transactionId": order.transaction_id,
             "amountFen": int(order.amount_fen), "paidAt": paid_at}
    try:
        applications.transition(order.application_id, PAID, PROVIDER_ACTOR, "PAID",
                                allowed_from={"AWAITING_PAYMENT"}, detail=about)
    except Conflict:
        status = ApplicationRecord.load(order.application_id).status
        return _flag(order, f"APPLICATION_NOT_AWAITING_PAYMENT status {status} "
                            f"(txn {order.transaction_id})", "PaymentOrphaned", about)
    try:
        sfn.send_task_success(taskToken=order.task_token, output=json.dumps(about))
    except Exception as error:  # noqa: BLE001 - only the "no longer waiting" codes are handled
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        if code not in _GONE:
            raise
        if not again:
            return _flag(order, f"WORKFLOW_NOT_WAITING {code} (txn {order.transaction_id})",
                         "PaymentWorkflowGone", about)
        logger.info("payment already resumed its execution", extra=about)
    return SettleOutcome(order.order_id, PAID, "ALREADY_PAID" if again else PAID,
                         list(order.flags or []))


def _flag(order: PaymentOrderRecord, flag: str, metric: str,
          about: dict[str, Any]) -> SettleOutcome:
    """Record an anomaly on the order (once), audit it and count it; nothing is paid."""
    flags = list(order.flags or [])
    if flag not in flags:
        audit = new_audit(order.application_id, PROVIDER_ACTOR, "PAYMENT_FLAGGED", None, None,
                          {**about, "flag": flag})
        with TransactWrite(connection=_connection()) as transaction:
            transaction.update(order, actions=[PaymentOrderRecord.flags.set(
                PaymentOrderRecord.flags.append([flag]))])
            transaction.save(audit)
        flags.append(flag)
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        logger.warning("payment flagged", extra={**about, "flag": flag})
    return SettleOutcome(order.order_id, order.status, "FLAGGED", flags)


# ---------------------------------------------------------------------------------------------
# 减免: an administrator waives the fee


def waive(caller: Caller, application_id: str, reason: str, sfn: Any,
          now: datetime | None = None) -> PaymentOrderRecord:
    """An administrator waives the pending order's fee (with a reason, audited); the
    application goes on as paid and the execution resumes with `waived: true`."""
    caller.require(ADMIN)
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed([FieldError("reason", "a waiver needs a reason (减免理由)")])
    pending = [o for o in orders_of(application_id) if o.status == PENDING]
    if not pending:
        ApplicationRecord.load(application_id)  # 404 for an unknown application
        raise Conflict(f"application {application_id} has no payment order to waive")
    order = pending[-1]
    now = now or datetime.now(UTC)
    try:
        order.update(actions=[PaymentOrderRecord.status.set(WAIVED),
                              PaymentOrderRecord.waived_by.set(caller.sub),
                              PaymentOrderRecord.waive_reason.set(reason.strip()),
                              PaymentOrderRecord.paid_at.set(now)],
                     condition=PaymentOrderRecord.status == PENDING)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"order {order.order_id} was settled meanwhile") from error
        raise
    about = {"orderId": order.order_id, "transactionId": None, "amountFen": 0,
             "paidAt": now.isoformat(), "waived": True}
    applications.transition(application_id, PAID, caller.sub, "FEE_WAIVED",
                            allowed_from={"AWAITING_PAYMENT"},
                            detail={"orderId": order.order_id, "owedFen": int(order.amount_fen),
                                    "reason": reason.strip()})
    metrics.add_metric(name="FeeWaived", unit=MetricUnit.Count, value=1)
    sfn.send_task_success(taskToken=order.task_token, output=json.dumps(about))
    return order

