"""Turn `infra/template.yaml` (SAM) into the plain CloudFormation that moto and AWS receive.

What `sam package` and the `AWS::Serverless-2016-10-31` transform would do, with the libraries
that do it: code folders are zipped and uploaded under `source/<folder>/<sha256>.zip` (the local
runtime reads the folder back from that key), state machine definitions are read from
`state_machines/`, and aws-sam-translator expands the serverless resources.

Definition substitutions are written into the definition as `Fn::Join` parts: the template
stays equivalent on AWS, and moto, which ignores `DefinitionSubstitutions`, deploys the same
definition with the real ARNs in it.

Zips carry no bytecode caches, except the layer built for AWS when it is given Lambda's Python
(`bytecode=`): then it ships compiled for that Python (`compile_bytecode`), since Lambda cannot
write caches and would otherwise compile every module of the layer at every cold start.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from infra.localcloud.server import REPO_ROOT, SOURCE_PREFIX

TEMPLATE_PATH = REPO_ROOT / "infra" / "template.yaml"
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_SKIPPED_PARTS = {"__pycache__", ".chalice", "tests"}
_SKIP = shutil.ignore_patterns(*_SKIPPED_PARTS, "*.pyc")

Upload = Callable[[str, bytes], None]
"""Stores bytes under a key in the deployment bucket."""


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """Read the SAM template (YAML with CloudFormation's short-form tags)."""
    return yaml_parse(path.read_text(encoding="utf-8"))


def zip_folder(folder: Path, bytecode_tag: str | None = None) -> bytes:
    """A reproducible zip of a folder: sorted names, fixed timestamps, no caches, except the
    bytecode of `bytecode_tag` (`cpython-312`) when it is given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(_files(folder, bytecode_tag)):
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _files(folder: Path, bytecode_tag: str | None = None) -> Iterator[Path]:
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if not path.is_file():
            continue
        if bytecode_tag and path.suffix == ".pyc" and parts[-2:-1] == ("__pycache__",):
            if f".{bytecode_tag}." in path.name and not set(parts[:-2]) & _SKIPPED_PARTS:
                yield path
        elif not set(parts) & _SKIPPED_PARTS and path.suffix != ".pyc":
            yield path


def compile_bytecode(folder: Path, python: str) -> None:
    """Compile every module under `folder` with `python` (Lambda's: 3.12) into `__pycache__`
    as unchecked-hash bytecode (PEP 552), which the interpreter uses without comparing it with
    the source: a deployment package never changes, and a zip's fixed timestamps would make
    timestamp-checked caches look stale."""
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0",
                    "--invalidation-mode", "unchecked-hash", str(folder)], check=True)


def cache_tag(python: str) -> str:
    """The bytecode cache tag of an interpreter (`cpython-312`): the `__pycache__` files it
    reads are `<module>.<tag>.pyc`."""
    return subprocess.run([python, "-c", "import sys; print(sys.implementation.cache_tag)"],
                          check=True, capture_output=True, text=True).stdout.strip()


def build_layer(folder: Path, platform_packages: bool, bytecode: str | None = None) -> Path:
    """Lay a layer out as Lambda wants it (`python/...`), with its requirements when asked,
    compiled by the `bytecode` interpreter when one is given (see `compile_bytecode`)."""
    build = Path(tempfile.mkdtemp(prefix="yiwang-layer-")) / "python"
    shutil.copytree(folder, build, ignore=_SKIP)
    requirements = folder / "requirements.txt"
    if platform_packages and requirements.is_file():
        shutil.copytree(platform_wheels(requirements), build, dirs_exist_ok=True)
    if bytecode:
        compile_bytecode(build, bytecode)
    return build.parent


LAYER_PACKAGES_CACHE = REPO_ROOT / ".local" / "layer-packages"


def platform_wheels(requirements: Path) -> Path:
    """The requirements installed for Lambda's platform (manylinux x86_64, CPython 3.12), in a
    folder kept per content of the requirements file: pip resolves and unpacks them once, not
    at every deploy."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    target = LAYER_PACKAGES_CACHE / digest
    if not target.is_dir():
        partial = Path(tempfile.mkdtemp(prefix="layer-packages-", dir=_made(LAYER_PACKAGES_CACHE)))
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(requirements),
             "--target", str(partial), "--platform", "manylinux2014_x86_64",
             "--implementation", "cp", "--python-version", "3.12", "--only-binary=:all:"],
            check=True,
        )
        try:
            partial.rename(target)  # whole or not at all, even with two deploys at once
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
    return target


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload_code(path: Path, upload: Upload, source: Path | None = None,
                bytecode_tag: str | None = None) -> str:
    """Upload a folder (zipped) or a ready zip; return its key.

    Code from a repository folder is keyed `source/<folder>/<sha256>.zip`, which is how the
    local runtime finds the folder again; anything else (Chalice's deployment.zip) goes under
    `artifacts/`.
    """
    body = path.read_bytes() if path.is_file() else zip_folder(path, bytecode_tag)
    origin = (source or path).resolve()
    digest = hashlib.sha256(body).hexdigest()
    if origin.is_relative_to(REPO_ROOT) and path.is_dir():
        key = f"{SOURCE_PREFIX}{origin.relative_to(REPO_ROOT).as_posix()}/{digest}.zip"
    else:
        key = f"artifacts/{origin.stem}/{digest}.zip"
    upload(key, body)
    return key


def package(
    template: dict[str, Any],
    bucket: str,
    upload: Upload,
    *,
    template_dir: Path = TEMPLATE_PATH.parent,
    layer_packages: bool = False,
    bytecode: str | None = None,
) -> dict[str, Any]:
    """Replace local code and definition paths with uploaded objects and inline definitions;
    with `bytecode` (Lambda's Python), the layer ships compiled."""
    packaged = copy.deepcopy(template)
    for resource in packaged.get("Resources", {}).values():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function" and _is_local(props.get("CodeUri")):
            folder = (template_dir / props["CodeUri"]).resolve()
            props["CodeUri"] = f"s3://{bucket}/{upload_code(folder, upload)}"
        elif kind == "AWS::Serverless::LayerVersion" and _is_local(props.get("ContentUri")):
            folder = (template_dir / props["ContentUri"]).resolve()
            built = build_layer(folder, layer_packages, bytecode)
            tag = cache_tag(bytecode) if bytecode else None
            key = upload_code(built, upload, source=folder, bytecode_tag=tag)
            props["ContentUri"] = f"s3://{bucket}/{key}"
            resource.pop("Metadata", None)
        elif kind == "AWS::Serverless::StateMachine" and _is_local(props.get("DefinitionUri")):
            path = (template_dir / props.pop("DefinitionUri")).resolve()
            props["Definition"] = json.loads(path.read_text(encoding="utf-8"))
    return packaged


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


def translate(
    packaged: dict[str, Any],
    parameters: dict[str, Any],
    policies: ManagedPolicyLoader,
    region: str,
) -> dict[str, Any]:
    """Expand the SAM resources into plain CloudFormation and inline the substitutions."""
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    template = translator.translate(
        copy.deepcopy(packaged), parameter_values=dict(parameters),
        get_managed_policy_map=policies.load,
    )
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::StepFunctions::StateMachine":
            _inline_substitutions(resource["Properties"])
    return template


def _inline_substitutions(props: dict[str, Any]) -> None:
    substitutions = props.pop("DefinitionSubstitutions", None) or {}
    definition = props.get("DefinitionString")
    if isinstance(definition, dict) and "Fn::Join" in definition:
        separator, lines = definition["Fn::Join"]
        definition = separator.join(lines)
    if not isinstance(definition, str):
        return
    parts: list[Any] = []
    for index, piece in enumerate(_SUBSTITUTION.split(definition)):
        if index % 2 == 0:
            parts.append(piece)
        elif piece in substitutions:
            parts.append(substitutions[piece])
        else:
            raise ValueError(f"definition uses ${{{piece}}}, which has no substitution")
    props["DefinitionString"] = {"Fn::Join": ["", [p for p in parts if p != ""]]}
