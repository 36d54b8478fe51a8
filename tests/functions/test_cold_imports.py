"""What a cold start imports (`make bench` times it): each function's handler module and the API,
imported in a fresh interpreter with the environment Lambda gives, load only what their first
call needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import FUNCTION_ENV

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(p.name for p in (REPO / "functions").iterdir() if (p / "app.py").is_file())
_IMPORTED = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler", {path!r})
module = importlib.util.module_from_spec(spec)
sys.path.insert(0, {folder!r})
spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""


def imported_at_cold_start(function: str) -> set[str]:
    folder = REPO / "functions" / function
    env = {**os.environ, **FUNCTION_ENV,
           "PYTHONPATH": os.pathsep.join([str(REPO / "layers"), str(folder)])}
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTED.format(path=str(folder / "app.py"), folder=str(folder))],
        env=env, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_imports_boto3(function: str) -> None:
    # Clients come from botocore (`yiwang.platform.clients`, `chalicelib.aws` on first use).
    assert "boto3" not in imported_at_cold_start(function)


def test_the_api_imports_only_the_domain_every_request_needs() -> None:
    # Modules only: a subpackage's `__init__` comes with any module of it and holds nothing.
    domain = {m for m in imported_at_cold_start("api")
              if m.startswith("yiwang.") and m.count(".") > 1}
    # What every request needs: the caller (tokens, access), the access policy that refuses a
    # role before the view runs (policy), errors, settings, and the X-Ray patch with the
    # logger's redaction (observability, identity). See `chalicelib.lazy`.
    assert domain == {"yiwang.people.access", "yiwang.people.policy", "yiwang.people.tokens",
                      "yiwang.platform.config",
                      "yiwang.platform.errors", "yiwang.platform.identity",
                      "yiwang.platform.observability"}


def test_steps_import_neither_the_catalogue_nor_the_webhooks_they_do_not_use() -> None:
    for function in ("attachment_check", "delivery_dispatch", "complaint_await"):
        modules = imported_at_cold_start(function)
        assert {"yiwang.catalogue.items", "yiwang.table.idempotency"}.isdisjoint(modules), function
    assert "yiwang.platform.signatures" not in imported_at_cold_start("delivery_dispatch")


def test_the_api_names_the_spreadsheet_type_of_the_statistics() -> None:
    from chalicelib.routes import stats as route
    from yiwang.stats import aggregates

    assert route.XLSX_TYPE == aggregates.XLSX


def test_the_sweep_names_each_rule_as_its_step_does() -> None:
    from yiwang.applications import commitments, tasks
    from yiwang.complaints import steps
    from yiwang.fulfilment import payments
    from yiwang.supervision import rules

    assert set(rules.rules(sfn=None)) == {
        tasks.AUTO_ACCEPT, payments.EXPIRE_PAYMENT, steps.DEEM_ACCEPTED,
        commitments.EXPIRE_COMMITMENT}
    for module, function in rules.RULES.values():
        assert callable(getattr(__import__(module, fromlist=[function]), function))
