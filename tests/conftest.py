"""Shared fixtures: the local cloud, started once per test session on a free port."""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

# The local cloud runs functions in this process, sharing the layer's modules with the tests:
# give Powertools the settings the template's Globals give every function, whoever imports
# `yiwang.platform.observability` first.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "yiwang")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Yiwang")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cloud:
    """A running local cloud with the template deployed."""

    endpoint: str
    outputs: dict[str, str]
    server: Any

    def client(self, service: str) -> Any:
        from infra.localcloud.deploy import client

        return client(service, self.endpoint)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    from infra.localcloud import deploy
    from infra.localcloud.server import LocalCloud

    warnings.filterwarnings("ignore", message="Tried to parse AWS::")
    server = LocalCloud(port=free_port())
    server.start()
    outputs_dir: Path = tmp_path_factory.mktemp("outputs")
    outputs = deploy.deploy(server.endpoint, outputs_dir=outputs_dir, progress=lambda _: None)
    yield Cloud(server.endpoint, {**outputs, "OutputsDir": str(outputs_dir)}, server)
    server.stop()


@pytest.fixture(scope="session")
def cloud_env(cloud: Cloud) -> dict[str, str]:
    """The environment a process gets to talk to the deployed stack (as `make run` gives)."""
    from infra.localcloud.deploy import environment, read_outputs

    outputs_dir = Path(cloud.outputs["OutputsDir"])
    return environment(read_outputs(outputs_dir), outputs_dir)


@pytest.fixture(scope="session")
def seeded(cloud: Cloud, cloud_env: dict[str, str]) -> None:
    """The sample data (`make run` seeds the same, through the same loaders) in the deployed
    table: the departments, then the catalogue."""
    from unittest import mock

    from infra.localcloud.seed import seed

    with mock.patch.dict(os.environ, cloud_env):
        from yiwang.platform.clients import client
        from yiwang.platform.config import settings

        settings.cache_clear()
        seed({**cloud.outputs, "Endpoint": cloud.endpoint}, progress=lambda _: None)
    settings.cache_clear()
    client.cache_clear()


@pytest.fixture
def clients(cloud: Cloud) -> Any:
    return partial(lambda service, c: c.client(service), c=cloud)
