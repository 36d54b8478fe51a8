"""`make package`: Chalice's API template merged with the rest is one cfn-lint-clean template."""

from __future__ import annotations

from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

from infra.package import build, lint


def test_package_merges_the_api_with_the_template_and_lints_clean(tmp_path: Path) -> None:
    path = build(tmp_path, "dev")
    lint(path)  # raises if cfn-lint finds anything
    resources = yaml_parse(path.read_text())["Resources"]
    api = resources["APIHandler"]["Properties"]
    assert api["Runtime"] == "python3.12"
    assert resources["Bearer"]["Properties"]["Runtime"] == "python3.12"
    assert api["Environment"]["Variables"]["LIFECYCLE_STATE_MACHINE_ARN"] == {
        "Ref": "ApplicationLifecycle"}
    assert api["Environment"]["Variables"]["COMPLAINT_STATE_MACHINE_ARN"] == {
        "Ref": "ComplaintLifecycle"}
    assert Path(api["CodeUri"]).name == "deployment.zip"
    assert {"Table", "AttachmentsBucket", "ApplicationLifecycle", "PreReviewFunction",
            "TimeoutCheckFunction", "RestAPI", "DomainLayer"} <= set(resources)
    statements = resources["DefaultRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"]
    assert not any(s["Action"] == "*" or s.get("Resource") == "*" and "dynamodb" in str(
        s["Action"]) for s in statements)
