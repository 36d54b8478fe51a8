"""Sample data for a local platform: what a person needs to click through the flows.

Each piece of the platform that has sample data adds its loader to `LOADERS`.

Loaders run inside the local cloud's own process (`make run`), after the deployment. The
domain package reads its settings (table name, endpoint) from the environment, once per
process (`yiwang.platform.config.settings`), exactly as in Lambda. So a loader that writes through
`yiwang` first gives this process the part of the environment a function of the stack gets
(`bind_environment`: it changes `os.environ` for good, which is what the local cloud's process
wants; a test wraps the call in `mock.patch.dict(os.environ)`), then imports from `yiwang`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from infra.localcloud import deploy
from infra.localcloud.server import REPO_ROOT

Progress = Callable[[str], None]
LOADERS: list[tuple[str, Callable[[dict[str, str]], int]]] = []
SEED_ACTOR = "seed"
_SEED_ENVIRONMENT = ("STAGE", "TABLE_NAME", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
                     "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def seed(outputs: dict[str, str], progress: Progress = print) -> None:
    """Run every loader against the deployed stack."""
    if not LOADERS:
        progress("no sample data to seed yet")
    for name, load in LOADERS:
        progress(f"seeded {load(outputs)} {name}")


def bind_environment(outputs: dict[str, str]) -> None:
    """Point this process's `yiwang` at the deployed stack: the table, stage, endpoint, region
    and credentials a function of the stack gets (`deploy.environment`; nothing else is
    changed), the layer on `sys.path`, and the settings read again.

    `outputs` are the stack outputs; the endpoint is `outputs["Endpoint"]` when given (as in
    `.local/outputs.json`), else the one recorded for the same table in `.local/outputs.json`
    (deploy writes it before seeding).
    """
    endpoint = outputs.get("Endpoint")
    if not endpoint:
        recorded = deploy.read_outputs()
        if recorded.get("TableName") != outputs["TableName"]:
            raise RuntimeError("no endpoint for the stack of table "
                               f"{outputs['TableName']}: pass outputs with 'Endpoint'")
        endpoint = recorded["Endpoint"]
    stack = deploy.environment(
        {**outputs, "Endpoint": endpoint, "Region": outputs.get("Region", deploy.REGION)})
    os.environ.update({name: stack[name] for name in _SEED_ENVIRONMENT})
    layer = str(REPO_ROOT / "layers")
    if layer not in sys.path:
        sys.path.append(layer)
    from yiwang.platform.clients import client
    from yiwang.platform.config import settings

    settings.cache_clear()
    client.cache_clear()


SAMPLE_FILE = REPO_ROOT / "layers" / "yiwang" / "data" / "items.json"
"""The local stage's sample catalogue: its departments and its items."""


def load_sample_departments(outputs: dict[str, str]) -> int:
    """Register the sample departments (`departments` of the sample file) through the
    registry, before the items that name them; idempotent: a department already as in the
    file is left alone. Returns how many sample departments there are."""
    import json

    bind_environment(outputs)
    from yiwang.catalogue import departments

    sample = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))["departments"]
    for code, fields in sample.items():
        departments.put(SEED_ACTOR, code, fields)
    return len(sample)


def load_sample_items(outputs: dict[str, str]) -> int:
    """Publish the sample service items (`layers/yiwang/data/items.json`) through the catalogue;
    idempotent: an item already published as in the file is left alone, one that differs gets
    a new version. Returns how many sample items the catalogue holds."""
    bind_environment(outputs)
    from yiwang.catalogue import items as catalogue

    items = catalogue.sample_items()
    for payload in items:
        catalogue.ensure_published(payload, SEED_ACTOR)
    return len(items)


def load_sample_themes(outputs: dict[str, str]) -> int:
    """Define the sample themes (一件事一次办, `layers/yiwang/data/themes.json`) from the
    published sample items; idempotent. Returns how many sample themes there are."""
    bind_environment(outputs)
    from yiwang.themes import definitions

    themes = definitions.sample_themes()
    for payload in themes:
        definitions.ensure_defined(payload, SEED_ACTOR)
    return len(themes)


LOADERS.append(("departments", load_sample_departments))
LOADERS.append(("service items", load_sample_items))
LOADERS.append(("themes", load_sample_themes))
