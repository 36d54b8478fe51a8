"""SQS queues that keep every message under concurrent senders, as SQS does.

moto's queues are not safe across threads: a send to a queue with a Lambda event source
mapping receives (for the function) inside the send, iterating the queue's messages while
another thread's send or delete changes them, and the publish fails with "Set changed size
during iteration". The fanned-out timeout check publishes from many shards at once, so the
local cloud lost notices where SQS loses none. One lock around moto's queue operations makes
them take turns (a long-polling receive waits outside it, so it never holds senders up).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from infra.localcloud.patches import replace

QUEUES = threading.RLock()
_OPERATIONS = ("send_message", "send_message_batch", "delete_message", "delete_message_batch",
               "change_message_visibility", "receive_message")


def serialise_queue_operations() -> None:
    """Patch moto's SQS backend so its queue operations run one at a time."""
    from moto.sqs.models import SQSBackend

    for name in _OPERATIONS:
        replace(SQSBackend, name, _locked)


def _locked(operation: Any) -> Any:
    @functools.wraps(operation)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        waits = operation.__name__ == "receive_message" and (
            kwargs.get("wait_seconds_timeout") or (args[2] if len(args) > 2 else 0))
        if waits:
            return operation(self, *args, **kwargs)
        with QUEUES:
            return operation(self, *args, **kwargs)

    return locked
