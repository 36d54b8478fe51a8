"""Shared fixtures: the local cloud, started once per test session on a free port."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.environment import environment
from tests.support.network import free_port

# The local cloud runs functions in this process, sharing the layer's modules with the tests:
# give Powertools the settings the template's Globals give every function, whoever imports
# `yiwang.platform.observability` first.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "yiwang")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Yiwang")


@dataclass
class Cloud:
    """A running local cloud with the template deployed."""

    endpoint: str
    outputs: dict[str, str]
    server: Any

    def client(self, service: str) -> Any:
        from infra.localcloud.deploy import client

        return client(service, self.endpoint)


TARGET = os.environ.get("YIWANG_TEST_TARGET", "embedded")
"""Where the integration tests deploy: `embedded` (moto in this process) or `localstack`
(LocalStack in host mode, `make test-localstack`)."""


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    if TARGET == "localstack":
        yield from _localstack_cloud(tmp_path_factory)
        return
    from infra.localcloud import deploy
    from infra.localcloud.server import LocalCloud

    warnings.filterwarnings("ignore", message="Tried to parse AWS::")
    server = LocalCloud(port=free_port())
    server.start()
    outputs_dir: Path = tmp_path_factory.mktemp("outputs")
    outputs = deploy.deploy(server.endpoint, simulators=server.simulators.urls,
                            outputs_dir=outputs_dir, progress=lambda _: None)
    yield Cloud(server.endpoint, {**outputs, "OutputsDir": str(outputs_dir)}, server)
    server.stop()


def _localstack_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """LocalStack on a free port, the template deployed by the same deploy code; its figures
    (time to ready, to deployed, peak memory) are printed at the end of the session."""
    import time

    from infra.localcloud import localstack
    from infra.localcloud.simulators import Simulators

    root = tmp_path_factory.mktemp("localstack")
    server = localstack.LocalStack(port=free_port(), root=root)
    server.start()
    simulators = Simulators()
    simulators.start()
    outputs_dir: Path = tmp_path_factory.mktemp("outputs")
    started = time.perf_counter()
    try:
        outputs = localstack.deploy_to(server, simulators, outputs_dir,
                                       progress=lambda _: None)
        deployed = time.perf_counter() - started
        yield Cloud(server.endpoint, {**outputs, "OutputsDir": str(outputs_dir)}, server)
    finally:
        peak = server.peak_memory_mb()
        simulators.stop()
        server.stop()
    _FIGURES.append(f"LocalStack: ready in {server.ready_seconds:.1f}s, deployed in "
                    f"{deployed:.1f}s, peak memory {peak:.0f} MB (log: {server.log_path})")


_FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The LocalStack target's figures, after the results (each worker's, under xdist)."""
    for line in _FIGURES:
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker process (pytest-xdist) hands its figures to the controlling process."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = list(_FIGURES)


def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controlling process collects a finished worker's figures."""
    _FIGURES.extend(getattr(node, "workeroutput", {}).get("figures", []))


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
    from infra.localcloud.seed import seed

    with environment(cloud_env):
        seed({**cloud.outputs, "Endpoint": cloud.endpoint}, progress=lambda _: None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test by what it needs, so no test has to remember to.

    - ``integration``: the test's fixture closure includes ``cloud`` (directly or through
      ``cloud_env``, ``seeded``, ``table``, ``http``...): it needs the deployed local cloud.
    - ``e2e``: an ``integration`` test under ``tests/functions/api/``: it drives the real app
      (through Chalice's test client or over HTTP) against the deployed stack, usually through
      a whole journey. API tests without the cloud (the authorizer, the stages) are not e2e.

    Explicit marks stay as they are. ``make test`` runs everything; ``pytest -m "not
    integration"`` is the fast ring, which never starts the cloud.
    """
    api = Path(__file__).parent / "functions" / "api"
    for item in items:
        only = item.get_closest_marker("embedded_only")
        if only is not None and TARGET != "embedded":
            item.add_marker(pytest.mark.skip(reason=f"embedded cloud only: {only.args[0]}"))
        if "cloud" not in getattr(item, "fixturenames", ()):
            continue
        item.add_marker(pytest.mark.integration)
        if api in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def clients(cloud: Cloud) -> Any:
    return partial(lambda service, c: c.client(service), c=cloud)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Spare the interpreter's last garbage collection: by the end of the session the local
    cloud's moto state (a 1 GiB upload, thousands of records) holds gigabytes in millions of
    objects, and the collection Python runs at exit would walk them all for minutes. Freezing
    them first moves them out of its reach; the process is ending, the memory goes with it."""
    import gc

    gc.freeze()
