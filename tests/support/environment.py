"""One way to run code with an environment bound: the deployed stack's, a stage's, or a
single variable changed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from unittest import mock


@contextlib.contextmanager
def environment(values: Mapping[str, str], *, also: Iterable[Any] = ()) -> Iterator[None]:
    """Run the block with `values` set in `os.environ` (over what is there), then put the
    environment back. `yiwang.platform.config.settings` is cached per environment and the
    layer's AWS clients per process, so both are cleared on the way in and on the way out, and
    so is every cached function in `also` (e.g. `chalicelib.aws.aws`)."""
    from yiwang.platform.clients import client
    from yiwang.platform.config import settings

    caches = [settings, client, *also]
    try:
        with mock.patch.dict(os.environ, values):
            for cached in caches:
                cached.cache_clear()
            yield
    finally:
        for cached in caches:
            cached.cache_clear()
