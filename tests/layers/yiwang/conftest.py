"""Domain tests on the deployed table: `table` points this process's settings at the local
cloud's stack (seeded with the sample catalogue) for the test's duration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from unittest import mock

import pytest


@pytest.fixture
def table(cloud_env: dict[str, str], seeded: None) -> Iterator[None]:
    from yiwang.platform.clients import client
    from yiwang.platform.config import settings

    with mock.patch.dict(os.environ, cloud_env):
        settings.cache_clear()
        client.cache_clear()
        yield
    settings.cache_clear()
    client.cache_clear()
