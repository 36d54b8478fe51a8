"""The deployable template and state machine definitions pass their linters, and every
function has a sample event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from infra.asl_lint import problems, substitutions_by_file
from infra.localcloud.packaging import TEMPLATE_PATH, load_template
from infra.localcloud.server import REPO_ROOT

FUNCTIONS = sorted(p for p in (REPO_ROOT / "functions").iterdir() if (p / "app.py").is_file())
MACHINES = sorted((REPO_ROOT / "state_machines").glob("*.asl.json"))


def test_template_is_cfn_lint_clean() -> None:
    # The command line's defaults: errors and warnings, in the region the stack deploys to.
    matches = lint(TEMPLATE_PATH.read_text(), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_state_machine_definition_is_valid(path: Path) -> None:
    assert problems(path, substitutions_by_file(load_template())) == []


def test_asl_lint_catches_a_bad_state_type_and_a_hard_coded_arn(tmp_path: Path) -> None:
    bad = tmp_path / "bad.asl.json"
    bad.write_text(json.dumps({"StartAt": "X", "States": {"X": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "Next": "Y"}, "Y": {"Type": "Tusk", "End": True}}}))
    found = "\n".join(problems(bad, {bad.resolve(): set()}))
    assert "not valid ASL" in found
    assert "hard-codes arn:aws:lambda:us-east-1:123456789012:" in found


@pytest.mark.parametrize("folder", FUNCTIONS, ids=lambda p: p.name)
def test_every_function_has_a_sample_event(folder: Path) -> None:
    samples = list((REPO_ROOT / "events").glob(f"{folder.name}*.json"))
    assert samples, f"events/ has no sample event for functions/{folder.name}"
    for sample in samples:
        json.loads(sample.read_text())


def test_every_step_function_is_deployed_by_the_template() -> None:
    code_uris = {
        (TEMPLATE_PATH.parent / r["Properties"]["CodeUri"]).resolve()
        for r in load_template()["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    steps = {f.resolve() for f in FUNCTIONS if f.name != "api"}  # the API is merged by Chalice
    assert steps <= code_uris
