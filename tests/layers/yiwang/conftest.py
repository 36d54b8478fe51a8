"""Domain tests on the deployed table: `table` points this process's settings at the local
cloud's stack (seeded with the sample catalogue) for the test's duration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.environment import environment


@pytest.fixture
def table(cloud_env: dict[str, str], seeded: None) -> Iterator[None]:
    """The deployed stack's environment bound for the test (settings re-read)."""
    with environment(cloud_env):
        yield
