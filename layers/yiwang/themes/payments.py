"""一次缴费: a theme's fees paid once, as one order with the provider.

Each application of a theme still reaches its own payment step (`AwaitPayment` of the
lifecycle) and holds its own order, its share (`yiwang.fulfilment.payments.open_order`, with
its clock and promise hold as for any application); but the share is not opened with the
provider. When every application of the case whose item has a fee and that is still running
waits for payment, ONE order covering their shares is opened with the provider
(`open_when_ready`): an application refused (or otherwise concluded) drops out of it, one
without a fee never enters it, nor one whose fee is behind it (waived: 减免). An order still
pending whose shares are no longer all to pay (a fee waived after it opened) is SUPERSEDED by
one for the shares still due, and a callback for it is flagged, never taken as payment.
The provider's signed callback for that order (`POST
/webhooks/payment`, the same route) is verified as every callback is; `settle` then checks the
amount against the whole order and settles each share as a callback of its own would
(`payments.settle`, once per share: its transaction id is the provider's with the application
id), which marks each application PAID and resumes each execution.

Records, in the single table:
- theme order: pk=`THEMECASE#<case id>`, sk=`TPAY#<order id>`: the shares (application,
  share order, amount), the total, the provider's page, the status (PENDING, PAID,
  SUPERSEDED), the
  provider's transaction, flags. The order id is the case id, `T` and a digest of the shares,
  so a callback names its case and opening it twice opens one order;
- audit: the case's trail (THEME_PAYMENT_ORDERED, THEME_PAID, THEME_PAYMENT_FLAGGED,
  THEME_PAYMENT_SUPERSEDED).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.attributes import UTCDateTimeAttribute as Time
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from yiwang.applications.records import ApplicationRecord
from yiwang.applications.status import MOVES, Status
from yiwang.calendar.workdays import local_time
from yiwang.catalogue.items import get_item
from yiwang.fulfilment import payments
from yiwang.fulfilment.payment_provider import PaymentProvider
from yiwang.platform.errors import FieldError, NotFound, ValidationFailed
from yiwang.platform.observability import MetricUnit, metrics
from yiwang.table.records import TableMeta, connection
from yiwang.table.writes import write_if
from yiwang.themes.cases import CONCLUDED, ThemeCaseRecord, audit, members

PENDING, PAID, SUPERSEDED = "PENDING", "PAID", "SUPERSEDED"
ACTOR = payments.PROVIDER_ACTOR
SHARE_ROOM = 28
"""Each share is settled with the theme transaction id, `#` and its application id; the
provider's id may use the callback's 128 characters less this room."""


class ThemeOrderRecord(Model):
    """主题缴款单: one order for the fees of every application of a theme case that has one."""

    class Meta(TableMeta):
        pass

    SORT_PREFIX = "TPAY#"
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    order_id = UnicodeAttribute(attr_name="orderId")
    case_id = UnicodeAttribute(attr_name="caseId")
    amount_fen = NumberAttribute(attr_name="amountFen")
    shares = JSONAttribute()
    """[{"applicationId", "orderId", "amountFen"}]: each application's share."""
    status = UnicodeAttribute()
    pay_url = UnicodeAttribute(attr_name="payUrl")
    created_at = Time(attr_name="createdAt")
    expires_at = Time(attr_name="orderExpiresAt")
    transaction_id = UnicodeAttribute(attr_name="transactionId", null=True)
    paid_at = Time(attr_name="paidAt", null=True)
    flags = ListAttribute(of=UnicodeAttribute, default=list)

    @staticmethod
    def sort_key(order_id: str) -> str:
        return f"{ThemeOrderRecord.SORT_PREFIX}{order_id}"

    def to_api(self) -> dict[str, Any]:
        return {"orderId": self.order_id, "amountFen": int(self.amount_fen),
                "status": self.status, "payUrl": self.pay_url,
                "expiresAt": local_time(self.expires_at),
                "applications": [{"applicationId": s["applicationId"],
                                  "amountFen": s["amountFen"]} for s in self.shares],
                **({"flags": list(self.flags)} if self.flags else {})}


@dataclass(frozen=True)
class _ShareOfTheme:
    """The provider as an application of a theme sees it: its share is paid through the
    theme's one order, so nothing is registered with the provider for the share itself; the
    share's page is the theme case's."""

    case_id: str

    def create_payment(self, order_id: str, amount_fen: int, description: str) -> str:
        return f"/theme-cases/{self.case_id}"


def is_theme_order(order_id: str) -> bool:
    """Whether a callback's order id names a theme's order (`TH...T<digest>`)."""
    return order_id.startswith("TH") and _case_of(order_id) is not None


def _case_of(order_id: str) -> str | None:
    head, separator, digest = order_id.rpartition("T")
    return head if separator and head.startswith("TH") and len(digest) == 8 else None


def new_order_id(case_id: str, share_ids: list[str]) -> str:
    digest = hashlib.sha256("|".join(sorted(share_ids)).encode()).hexdigest()[:8].upper()
    return f"{case_id}T{digest}"


def orders_of(case_id: str) -> list[ThemeOrderRecord]:
    return list(ThemeOrderRecord.query(ThemeCaseRecord.key(case_id),
                                       ThemeOrderRecord.sk.startswith(
                                           ThemeOrderRecord.SORT_PREFIX),
                                       consistent_read=True))


def pending(case_id: str) -> dict[str, Any] | None:
    """The theme's order the applicant must pay now, if any."""
    return next((o.to_api() for o in orders_of(case_id) if o.status == PENDING), None)


# --- opening -----------------------------------------------------------------------------------


def open_order(application_id: str, task_token: str, provider: PaymentProvider,
               now: datetime | None = None) -> payments.PaymentOrderRecord:
    """The lifecycle's payment step for any application: an application of a theme gets its
    share (and the theme's one order opens once every share is there); any other its own
    order with the provider (`payments.open_order`)."""
    record = ApplicationRecord.load(application_id)
    if not record.theme_case_id:
        return payments.open_order(application_id, task_token, provider, now)
    share = payments.open_order(application_id, task_token, _ShareOfTheme(record.theme_case_id),
                                now)
    open_when_ready(record.theme_case_id, provider, now)
    return share


def open_when_ready(case_id: str, provider: PaymentProvider,
                    now: datetime | None = None) -> ThemeOrderRecord | None:
    """The theme's one order, opened with the provider when every running application with a
    fee waits for payment (None while one does not yet, or when none owes anything). A
    pending order for other shares (one was waived since) is superseded first."""
    case = ThemeCaseRecord.load(case_id)
    shares = []
    for record in members(case):
        if record.status in CONCLUDED:
            continue  # refused or cancelled: out of the order
        if record.status != Status.AWAITING_PAYMENT:
            if Status.AWAITING_PAYMENT in MOVES.reachable([record.status]) and \
                    get_item(record.item_code, int(record.item_version)).fee_fen > 0:
                return None  # a fee still to come
            continue  # its fee is behind it (paid, or waived)
        share = next((o for o in payments.orders_of(record.application_id)
                      if o.status == payments.PENDING), None)
        if share is None:
            return None
        shares.append(share)
    # Read once every share is there: a share a paid theme order holds is being settled now.
    orders = orders_of(case_id)
    settling = {s["orderId"] for o in orders if o.status == PAID for s in o.shares}
    shares = [share for share in shares if share.order_id not in settling]
    if not shares:
        return None
    order_id = new_order_id(case_id, [s.order_id for s in shares])
    existing = order_of(case_id, order_id)
    if existing is not None:
        return existing
    now = now or datetime.now(UTC)
    for stale in (o for o in orders if o.status == PENDING):
        if not _supersede(stale, order_id, now):
            return None  # paid meanwhile: that payment settles its shares
    total = sum(int(s.amount_fen) for s in shares)
    order = ThemeOrderRecord(
        ThemeCaseRecord.key(case_id), ThemeOrderRecord.sort_key(order_id), order_id=order_id,
        case_id=case_id, amount_fen=total, status=PENDING, created_at=now,
        expires_at=min(s.expires_at for s in shares), flags=[],
        shares=[{"applicationId": s.application_id, "orderId": s.order_id,
                 "amountFen": int(s.amount_fen)} for s in shares],
        pay_url=provider.create_payment(order_id, total, f"{case.theme_name} {case_id}"))
    ordered = audit(case_id, "system", "THEME_PAYMENT_ORDERED",
                    {"orderId": order_id, "amountFen": total,
                     "applications": [s.application_id for s in shares]}, now)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(order, condition=ThemeOrderRecord.pk.does_not_exist())
            transaction.save(ordered)

    if not write_if(write):
        return order_of(case_id, order_id)  # opened at the same moment by another step
    metrics.add_metric(name="ThemePaymentOrdered", unit=MetricUnit.Count, value=1)
    return order


def _supersede(order: ThemeOrderRecord, by: str, now: datetime) -> bool:
    """PENDING → SUPERSEDED (audited), for an order whose shares are no longer all due; False
    if it was paid meanwhile."""
    superseded = audit(order.case_id, "system", "THEME_PAYMENT_SUPERSEDED",
                       {"orderId": order.order_id, "by": by,
                        "amountFen": int(order.amount_fen)}, now)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(order, actions=[ThemeOrderRecord.status.set(SUPERSEDED)],
                               condition=ThemeOrderRecord.status == PENDING)
            transaction.save(superseded)

    if write_if(write):
        return True
    now_is = order_of(order.case_id, order.order_id)
    return now_is is not None and now_is.status == SUPERSEDED


def order_of(case_id: str, order_id: str) -> ThemeOrderRecord | None:
    """The theme's order `order_id`, else None."""
    try:
        return ThemeOrderRecord.get(ThemeCaseRecord.key(case_id),
                                    ThemeOrderRecord.sort_key(order_id), consistent_read=True)
    except ThemeOrderRecord.DoesNotExist:
        return None


# --- settling ----------------------------------------------------------------------------------


def settle(event: Any, sfn: Any, now: datetime | None = None) -> dict[str, Any]:
    """Act on a verified callback for a theme's order: a successful payment of the whole
    amount marks the order PAID (audited once) and settles every share as its own callback
    would (each application PAID, each execution resumed, each once); a wrong amount is a flag
    on the order, never a payment; a failure is audited and the order stays payable. The
    answer is the webhook's: `{"orderId","status","flags"?}`."""
    body = payments.validated_callback(event)
    longest = payments.TRANSACTION_ID_MAX - SHARE_ROOM
    if len(body["transactionId"]) > longest:
        raise ValidationFailed([FieldError("transactionId", "a theme order's transaction id is "
                                                            f"at most {longest} characters")])
    now = now or datetime.now(UTC)
    order_id, txn, paid = body["orderId"], body["transactionId"], int(body["amountFen"])
    case_id = _case_of(order_id)
    order = order_of(case_id, order_id) if case_id else None
    if order is None:
        raise NotFound(f"no payment order {order_id}")
    about = {"orderId": order_id, "transactionId": txn, "amountFen": paid}
    if body["status"] == "FAILED":
        audit(order.case_id, ACTOR, "THEME_PAYMENT_FAILED", about, now).save()
        return _answer(order)
    paid_at = datetime.fromisoformat(body["paidAt"]).astimezone(UTC)
    if order.status == SUPERSEDED:  # its shares are due on the order that replaced it
        return _flag(order, f"SUPERSEDED paid {paid} (txn {txn})", about, now)
    if order.status == PAID and order.transaction_id != txn or \
            order.status == PENDING and paid != int(order.amount_fen):
        return _flag(order, f"{'AMOUNT_MISMATCH' if order.status == PENDING else 'NOT_PAYABLE'}"
                            f" paid {paid} owed {int(order.amount_fen)} (txn {txn})", about, now)
    if order.status == PENDING and paid_at > order.expires_at:
        return _flag(order, f"PAID_AFTER_EXPIRY paid {paid_at.isoformat()} expired "
                            f"{order.expires_at.isoformat()} (txn {txn})", about, now)
    if order.status == PENDING:
        _mark_paid(order, txn, paid_at, now)
    flags = []
    for share in order.shares:
        outcome = payments.settle({"orderId": share["orderId"],
                                   "transactionId": f"{txn}#{share['applicationId']}",
                                   "amountFen": share["amountFen"], "status": "SUCCESS",
                                   "paidAt": body["paidAt"]}, sfn, now)
        flags += [f"{share['applicationId']}: {flag}" for flag in outcome.flags]
    return {**_answer(order), **({"flags": flags} if flags else {})}


def _mark_paid(order: ThemeOrderRecord, txn: str, paid_at: datetime, now: datetime) -> None:
    """PENDING → PAID with the provider's transaction, and THEME_PAID audited, once."""
    paid = audit(order.case_id, ACTOR, "THEME_PAID",
                 {"orderId": order.order_id, "amountFen": int(order.amount_fen),
                  "transactionId": txn}, now)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(order, actions=[ThemeOrderRecord.status.set(PAID),
                                               ThemeOrderRecord.transaction_id.set(txn),
                                               ThemeOrderRecord.paid_at.set(paid_at)],
                               condition=ThemeOrderRecord.status == PENDING)
            transaction.save(paid)

    write_if(write)  # lost only to the same callback delivered at the same moment
    order.status, order.transaction_id, order.paid_at = PAID, txn, paid_at
    metrics.add_metric(name="ThemePaid", unit=MetricUnit.Count, value=1)


def _flag(order: ThemeOrderRecord, flag: str, about: dict[str, Any],
          now: datetime) -> dict[str, Any]:
    flagged = audit(order.case_id, ACTOR, "THEME_PAYMENT_FLAGGED", {**about, "flag": flag}, now)

    def write() -> None:
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(order, actions=[ThemeOrderRecord.flags.set(
                ThemeOrderRecord.flags.append([flag]))])
            transaction.save(flagged)

    write_if(write)
    order.flags = [*(order.flags or []), flag]
    return _answer(order)


def _answer(order: ThemeOrderRecord) -> dict[str, Any]:
    return {"orderId": order.order_id, "status": order.status,
            **({"flags": list(order.flags)} if order.flags else {})}
