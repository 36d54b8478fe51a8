"""`Idempotency-Key` for the API and idempotent effects (webhooks, functions).

Two ways, both in the platform's single table, expiring through the table's TTL attribute
(`expiresAt`):

- `Receipt`: the answer to a request is written *in the same transaction as its effect*
  (pk=`IDEMPOTENCY#<scope>#<first 16 hex of the hash>`, sk=`KEY#<sha256 of the JSON array
  [scope, owner, key]>`: a partition per key, never one per scope), so an
  effect never exists without its receipt nor a receipt without its effect, and it costs no
  call of its own: a repeated request is found by a read the caller makes anyway (or one
  GetItem), and gets the first answer. Used by `POST /applications` and both webhooks (the
  sequential-call budget of issue #3).
- `once`: Powertools idempotency around any function (an in-progress record, the effect, the
  stored result: two writes of their own), for effects that are not one DynamoDB transaction;
  pk=`IDEMPOTENCY#<scope>` (Powertools keeps a scope's records in one partition when the table
  has a sort key).

Either way, a repeated key with the same payload returns the first answer; the same key with a
different payload is a conflict.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from yiwang.platform.config import settings
from yiwang.platform.errors import Conflict
from yiwang.table.records import TableMeta

if TYPE_CHECKING:  # Powertools idempotency is imported when `once` is first used (cold start)
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from pynamodb.transactions import TransactGet, TransactWrite

ONE_DAY = 24 * 3600


def persistence(scope: str) -> DynamoDBPersistenceLayer:
    """The idempotency store of one scope (an API operation, a webhook provider...)."""
    return _persistence(scope, settings().table_name)


@functools.cache
def _persistence(scope: str, table_name: str) -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=table_name, key_attr="pk", sort_key_attr="sk",
        static_pk_value=f"IDEMPOTENCY#{scope}", expiry_attr="expiresAt",
    )


def once(
    scope: str, key: str, payload: Any, effect: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run `effect` once per `key`; later calls with that key get the first result.

    `payload` is what the caller sent: the same key with another payload is a `Conflict`.
    """
    from aws_lambda_powertools.utilities.idempotency import (
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="payload",
                               expires_after_seconds=ONE_DAY)

    @idempotent_function(data_keyword_argument="request", config=config,
                         persistence_store=persistence(scope))
    def run(request: dict[str, Any]) -> dict[str, Any]:
        return effect()

    try:
        return run(request={"key": key, "payload": payload})
    except IdempotencyValidationError as error:
        raise Conflict("this Idempotency-Key was used with a different request") from error
    except IdempotencyAlreadyInProgressError as error:
        raise Conflict("a request with this Idempotency-Key is still in progress") from error


class ReceiptRecord(Model):
    """The first answer to one idempotent request (see `Receipt`)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    payload_hash = UnicodeAttribute(attr_name="payloadHash")
    response = JSONAttribute()
    expires_at = NumberAttribute(attr_name="expiresAt")
    """Unix seconds: the table's TTL attribute (DynamoDB deletes it some time after)."""


@dataclass(frozen=True)
class Receipt:
    """One idempotent request: its scope, its key, what was sent with it and whose key it is
    (`owner`: the caller's `sub` for an API key, empty for a provider's own ids).

    The effect's transaction writes the receipt with the answer (`write_in`), on the condition
    that no live receipt of the key exists, so of two concurrent requests one commits and the
    other's transaction is cancelled whole; it then finds the first answer (`stored_answer`).
    A receipt past `expires_at` counts as absent (TTL deletes lag), as Powertools' records do.
    """

    scope: str
    key: str
    payload: Any
    owner: str = ""
    ttl_seconds: int = ONE_DAY

    @property
    def pk(self) -> str:
        # A partition per key, not per scope: every application's draft writes a receipt, and
        # one `IDEMPOTENCY#create-application` partition took them all (measured by
        # `python -m bench heat`; a partition takes about 1,000 writes a second).
        return f"IDEMPOTENCY#{self.scope}#{self._digest()[:16]}"

    @property
    def sk(self) -> str:
        return "KEY#" + self._digest()

    def _digest(self) -> str:
        # Hashed: keys come from clients (any length, any characters). The parts are hashed as
        # a JSON array, never joined with a separator: caller `w:1` with key `k` and caller `w`
        # with key `1:k` are two receipts.
        parts = json.dumps([self.scope, self.owner, self.key], ensure_ascii=False)
        return hashlib.sha256(parts.encode("utf-8")).hexdigest()

    def payload_hash(self) -> str:
        """SHA-256 of the payload as canonical JSON (key order does not matter)."""
        text = json.dumps(self.payload, sort_keys=True, ensure_ascii=False,
                          separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def answer(self, record: ReceiptRecord | None,
               now: datetime | None = None) -> dict[str, Any] | None:
        """The first answer if `record` is this key's live receipt, else None; `Conflict` if
        the key was first used with another payload."""
        if record is None or int(record.expires_at) <= _epoch(now):
            return None
        if record.payload_hash != self.payload_hash():
            raise Conflict(f"this key ({self.scope}) was used with a different request")
        return dict(record.response or {})

    def get_in(self, transaction: TransactGet) -> Any:
        """Read the receipt as part of a TransactGet the caller makes anyway; pass the future
        to `answer_from` after it commits."""
        return transaction.get(ReceiptRecord, self.pk, self.sk)

    def answer_from(self, future: Any, now: datetime | None = None) -> dict[str, Any] | None:
        """`answer` for a receipt read with `get_in`."""
        try:
            record = future.get()
        except ReceiptRecord.DoesNotExist:
            return None
        return self.answer(record, now)

    def stored_answer(self, now: datetime | None = None) -> dict[str, Any] | None:
        """`answer` for the receipt as stored now (one consistent GetItem)."""
        try:
            record = ReceiptRecord.get(self.pk, self.sk, consistent_read=True)
        except ReceiptRecord.DoesNotExist:
            return None
        return self.answer(record, now)

    def write_in(self, transaction: TransactWrite, response: dict[str, Any],
                 now: datetime | None = None) -> None:
        """Add the receipt with `response` to the effect's transaction (cancelled whole if a
        live receipt of this key exists)."""
        now_epoch = _epoch(now)
        record = ReceiptRecord(self.pk, self.sk, payload_hash=self.payload_hash(),
                               response=response, expires_at=now_epoch + self.ttl_seconds)
        transaction.save(record, condition=ReceiptRecord.pk.does_not_exist()
                         | (ReceiptRecord.expires_at <= now_epoch))

    def amend(self, response: dict[str, Any]) -> None:
        """Replace the stored answer (a follow-up after the transaction changed the outcome)."""
        ReceiptRecord(self.pk, self.sk).update(actions=[ReceiptRecord.response.set(response)],
                                               condition=ReceiptRecord.pk.exists())

    def forget(self) -> None:
        """Delete the receipt: the request failed after its transaction (e.g. resuming the
        execution), so a retry must act again rather than get the stored answer. Best effort:
        the error being handled is the one the caller needs to see."""
        try:
            ReceiptRecord(self.pk, self.sk).delete()
        except Exception:  # noqa: BLE001 - see above
            pass


def _epoch(now: datetime | None) -> int:
    return int((now or datetime.now(UTC)).timestamp())
