"""DynamoDB Streams reach their Lambda functions as Lambda's event source mappings deliver them.

moto keeps a table's stream records when the table has a StreamSpecification, and, when an
event source mapping names the stream, invokes the function synchronously inside the write
that made the record: the write does not return until the function has run, and a function
that writes to the same table waits for the write that invoked it (here behind the lock that
serialises table writes) until it times out. On AWS the write returns at once and Lambda's
poller reads the shard afterwards. So the local cloud does what that poller does:

- moto's shard only records (`keep_stream_records`); nothing is invoked inside a write;
- `StreamPoller`, a thread of the local cloud, reads each mapping's shard from its
  StartingPosition (TRIM_HORIZON: the oldest record kept; LATEST: what comes after the
  poller first sees the mapping), in sequence order, in batches of at most BatchSize;
- records that match none of the mapping's FilterCriteria patterns are dropped, as Lambda's
  event filtering does (the subset of the filter syntax implemented here: exact values,
  `prefix`, `exists`; any other operator raises instead of letting everything through);
- the function runs in the local runtime (the same as every other invocation); a function
  error retries the same batch (after a pause that grows), and with ReportBatchItemFailures
  a `batchItemFailures` answer checkpoints before the first failed record, so the retry starts
  there; after MaximumRetryAttempts the batch is skipped and, with an OnFailure destination
  (an SQS queue), described there as Lambda describes it;
- records every mapping of the table has delivered are trimmed from the shard (retention).

The shard is read under the same lock as table writes: a cancelled transaction drops the
records it added before releasing it, so no record of a write that was rolled back is ever read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.localcloud.patches import replace
from infra.localcloud.runtime import Invocation

_log = logging.getLogger(__name__)
POLL_SECONDS = 0.1
"""How often a shard is read when nothing is waiting (Lambda polls about four times a second)."""
MAX_RETRY_PAUSE = 5.0


def keep_stream_records() -> None:
    """Make moto's stream shards only record changes; delivery is the poller's."""
    from moto.dynamodb.models.table import StreamRecord, StreamShard

    def add(self: Any, old: Any, new: Any) -> None:
        view = self.table.stream_specification["StreamViewType"]
        name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        sequence = self.starting_sequence_number + len(self.items)
        self.items.append(StreamRecord(self.table, view, name, old, new, sequence))

    replace(StreamShard, "add", lambda original: add)


# --- event filtering (the subset of Lambda's filter rule syntax the template uses) -------------


def matches(pattern: Any, value: Any) -> bool:
    """Whether a record (or part of one) matches a filter pattern."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _matches_field(sub, key in value, value.get(key)) for key, sub in pattern.items())
    raise ValueError(f"a filter pattern must be an object, not {pattern!r}")


def _matches_field(pattern: Any, present: bool, value: Any) -> bool:
    if isinstance(pattern, dict):
        return present and matches(pattern, value)
    if not isinstance(pattern, list):
        raise ValueError(f"filter values must be lists, not {pattern!r}")
    return any(_matches_rule(rule, present, value) for rule in pattern)


def _matches_rule(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, dict):
        if set(rule) == {"prefix"}:
            return present and isinstance(value, str) and value.startswith(rule["prefix"])
        if set(rule) == {"exists"}:
            return present is bool(rule["exists"])
        raise NotImplementedError(f"the local cloud does not implement filter rule {rule}")
    return present and value == rule


def passes_filters(criteria: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """A record passes when there are no filters or any filter's pattern matches it."""
    filters = (criteria or {}).get("Filters") or []
    return not filters or any(matches(json.loads(f["Pattern"]), record) for f in filters)


# --- the poller --------------------------------------------------------------------------------


@dataclass
class _Position:
    """Where one mapping is in its shard: the next sequence number to read."""

    next_sequence: int
    attempts: int = 0
    retry_at: float = 0.0


@dataclass
class _Batch:
    first: int
    after: int
    records: list[dict[str, Any]] = field(default_factory=list)


Invoke = Callable[[Any, dict[str, Any]], Invocation]
"""Runs a moto function with an event (the local runtime)."""


class StreamPoller:
    """Lambda's stream poller for every mapping whose source is a DynamoDB stream."""

    def __init__(self, invoke: Invoke, lock: Any, endpoint: str) -> None:
        self.invoke = invoke
        self.lock = lock
        self.endpoint = endpoint
        self._positions: dict[str, _Position] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stream-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except Exception:  # noqa: BLE001 - the poller outlives any one bad poll
                _log.exception("stream poll failed")
                busy = False
            if not busy:
                self._stop.wait(POLL_SECONDS)

    def poll_once(self) -> bool:
        """Deliver at most one batch per mapping; True if any batch was delivered."""
        busy = False
        for table, mapping in self._mappings():
            busy |= self._deliver(table, mapping)
        return busy

    def _mappings(self) -> list[tuple[Any, Any]]:
        from moto.awslambda.utils import get_backend
        from moto.dynamodb.models import dynamodb_backends

        found = []
        with self.lock:
            for account_id, regions in list(dynamodb_backends.items()):
                for region, backend in list(regions.items()):
                    for table in list(backend.tables.values()):
                        if table.stream_shard is None:
                            continue
                        for esm in list(table.lambda_event_source_mappings.values()):
                            # The lambda backend holds the mapping as it is now (enabled...).
                            current = get_backend(account_id, region)._event_source_mappings.get(
                                esm.uuid)
                            if current is not None and current.enabled:
                                found.append((table.name, current))
        return found

    def _deliver(self, table_name: str, mapping: Any) -> bool:
        position = self._positions.get(mapping.uuid)
        if position is not None and position.retry_at > time.monotonic():
            return False
        batch = self._read(table_name, mapping)
        if batch is None:
            return False
        position = self._positions[mapping.uuid]
        if not batch.records:  # only filtered-out records: Lambda drops them
            position.next_sequence = batch.after
            return True
        result = self._invoke(mapping, batch.records)
        failed_at = self._first_failure(mapping, batch, result)
        if failed_at is None:
            position.next_sequence, position.attempts, position.retry_at = batch.after, 0, 0.0
            return True
        position.next_sequence = failed_at
        position.attempts += 1
        limit = mapping.max_retry_attempts
        if limit is not None and int(limit) >= 0 and position.attempts > int(limit):
            self._on_failure(mapping, batch, failed_at)
            position.next_sequence, position.attempts, position.retry_at = batch.after, 0, 0.0
            return True
        position.retry_at = time.monotonic() + min(MAX_RETRY_PAUSE,
                                                   0.2 * 2 ** (position.attempts - 1))
        return False

    def _read(self, table_name: str, mapping: Any) -> _Batch | None:
        """The next batch (records after the mapping's position, filtered), trimming what
        every mapping of the table has read; None when nothing new is there."""
        with self.lock:
            table = self._table(mapping, table_name)
            shard = table.stream_shard if table is not None else None
            if shard is None:
                return None
            end = shard.starting_sequence_number + len(shard.items)
            position = self._positions.setdefault(mapping.uuid, _Position(
                shard.starting_sequence_number if mapping.starting_position != "LATEST"
                else end))
            self._trim(table, shard)
            start = max(position.next_sequence, shard.starting_sequence_number)
            if start >= end:
                return None
            window = shard.items[start - shard.starting_sequence_number:][:mapping.batch_size]
            records = [self._event_record(r.to_json(), mapping) for r in window]
        after = start + len(window)
        wanted = [r for r in records if passes_filters(mapping.filter_criteria, r)]
        return _Batch(start, after, wanted)

    def _trim(self, table: Any, shard: Any) -> None:
        mine = [self._positions.get(esm.uuid)
                for esm in table.lambda_event_source_mappings.values()]
        if not mine or any(p is None for p in mine):
            return
        delivered = min(p.next_sequence for p in mine if p is not None)
        drop = delivered - shard.starting_sequence_number
        if drop > 0:
            del shard.items[:drop]
            shard.starting_sequence_number += drop

    @staticmethod
    def _table(mapping: Any, table_name: str) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[mapping.account_id][mapping.region]
        return backend.tables.get(table_name)

    @staticmethod
    def _event_record(record: dict[str, Any], mapping: Any) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = int(
                created.replace(tzinfo=created.tzinfo or UTC).timestamp())
        return {"eventID": record["eventID"], "eventName": record["eventName"],
                "eventVersion": record["eventVersion"], "eventSource": "aws:dynamodb",
                "awsRegion": mapping.region, "dynamodb": dynamodb,
                "eventSourceARN": mapping.event_source_arn}

    def _invoke(self, mapping: Any, records: list[dict[str, Any]]) -> Invocation:
        from moto.awslambda.utils import get_backend

        function = get_backend(mapping.account_id, mapping.region).get_function(
            mapping.function_arn)
        return self.invoke(function, {"Records": records})

    @staticmethod
    def _first_failure(mapping: Any, batch: _Batch, result: Invocation) -> int | None:
        """The sequence number to retry from, or None when the whole batch is done."""
        if result.failed:
            return batch.first
        if "ReportBatchItemFailures" not in (mapping.function_response_types or []):
            return None
        try:
            answer = result.json()
        except ValueError:
            return None
        failures = (answer or {}).get("batchItemFailures") if isinstance(answer, dict) else None
        if not failures:
            return None
        numbers = [int(f["itemIdentifier"]) for f in failures if f.get("itemIdentifier")]
        # An unreadable identifier fails the whole batch, as Lambda does.
        return min(numbers) if len(numbers) == len(failures) else batch.first

    def _on_failure(self, mapping: Any, batch: _Batch, failed_at: int) -> None:
        destination = ((mapping.destination_config or {}).get("OnFailure") or {}).get(
            "Destination")
        _log.error("stream batch skipped after %s retries: %s %s-%s", mapping.max_retry_attempts,
                   mapping.function_arn, failed_at, batch.after - 1)
        if not destination or ":sqs:" not in destination:
            return
        import boto3

        sqs = boto3.client("sqs", endpoint_url=self.endpoint, region_name=mapping.region,
                           aws_access_key_id="test", aws_secret_access_key="test")
        url = sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({
            "requestContext": {"functionArn": mapping.function_arn,
                               "condition": "RetryAttemptsExhausted",
                               "approximateInvokeCount": int(mapping.max_retry_attempts) + 1},
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {"shardId": "shardId-local", "startSequenceNumber": str(
                failed_at), "endSequenceNumber": str(batch.after - 1),
                "batchSize": batch.after - failed_at, "streamArn": mapping.event_source_arn},
        }))
