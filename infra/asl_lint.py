"""Validate the state machine definitions in `state_machines/`.

For each file: it is JSON; it parses with the ASL interpreter that runs it locally (moto's,
LocalStack's); every `${Name}` in it is a substitution the template gives the machine that
uses it; and it hard-codes no ARN that names an account (those come from substitutions).
Usage: `python -m infra.asl_lint state_machines/*.asl.json`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from infra.localcloud.packaging import TEMPLATE_PATH, load_template

_ACCOUNT_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:")
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def substitutions_by_file(template: dict) -> dict[Path, set[str]]:
    """The substitution names the template gives each definition file it deploys."""
    found: dict[Path, set[str]] = {}
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            path = (TEMPLATE_PATH.parent / props["DefinitionUri"]).resolve()
            found[path] = set(props.get("DefinitionSubstitutions", {}))
    return found


def problems(path: Path, substitutions: dict[Path, set[str]]) -> list[str]:
    """Everything wrong with one definition file (empty when it is fine)."""
    text = path.read_text(encoding="utf-8")
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return [f"{path}: not JSON: {error}"]
    found = []
    try:
        AmazonStateLanguageParser.parse(text)
    except Exception as error:  # noqa: BLE001 - the parser raises many kinds
        found.append(f"{path}: not valid ASL: {error}")
    given = substitutions.get(path.resolve())
    if given is None:
        found.append(f"{path}: no state machine in {TEMPLATE_PATH.name} deploys this file")
    else:
        for name in sorted(set(_SUBSTITUTION.findall(text)) - given):
            found.append(f"{path}: uses ${{{name}}}, which the template does not substitute")
    for arn in sorted(set(_ACCOUNT_ARN.findall(text))):
        found.append(f"{path}: hard-codes {arn}... (use a definition substitution)")
    return found


def main(paths: list[str]) -> int:
    substitutions = substitutions_by_file(load_template())
    errors = [p for path in paths for p in problems(Path(path), substitutions)]
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(paths)} state machine definition(s) checked, {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
