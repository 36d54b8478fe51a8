"""One way to wait: `eventually(check)` polls until the check answers something truthy, for a
bounded time, and otherwise fails saying what it waited for and what it saw last."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT = 60.0 if os.environ.get("YIWANG_TEST_TARGET") == "localstack" else 30.0
"""Seconds any asynchronous step of the local cloud (an execution, a stream, a queue) gets. On
LocalStack each function runs in a process of its own, started cold on first use, while two
LocalStacks share the machine's cores with the tests: a chain of steps there (a payment's
callback → certificate → courier) has been seen to need more than 30 s."""

SLOW_TIMEOUT = 120.0
"""Seconds for work that really takes long: checking a 1 GiB upload under load."""

INTERVAL = 0.1


def eventually(check: Callable[[], T], *, timeout: float = TIMEOUT, interval: float = INTERVAL,
               what: str | None = None) -> T:
    """Call `check` until it returns something truthy and return that; after `timeout` seconds
    fail with an `AssertionError` naming `what` was awaited (the check's name by default) and
    the last value seen. Never waits longer than `timeout` plus one check."""
    deadline = time.monotonic() + timeout
    while True:
        seen = check()
        if seen:
            return seen
        if time.monotonic() >= deadline:
            awaited = what or getattr(check, "__name__", repr(check))
            raise AssertionError(f"gave up after {timeout:g} s waiting for {awaited}; "
                                 f"last seen: {seen!r}")
        time.sleep(interval)
