"""`make package`: Chalice's API template merged with the rest is one cfn-lint-clean template;
the code ships compiled for Lambda's Python when one is at hand."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

from infra.localcloud import packaging
from infra.localcloud.server import REPO_ROOT
from infra.package import build, compile_zip, lambda_python, lint


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


@pytest.fixture
def python312() -> str:
    """Lambda's Python, to compile with (`LAMBDA_PYTHON`, or `python3.12` on the PATH)."""
    python = lambda_python()
    if python is None:
        pytest.skip("no Python 3.12 to compile Lambda's bytecode with (set LAMBDA_PYTHON)")
    return python


def _header(python: str) -> bytes:
    """What a 3.12 unchecked-hash .pyc starts with: the magic number, then flags 0b01."""
    magic = subprocess.run([python, "-c", "import importlib.util, sys; "
                            "sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
                           capture_output=True, text=True, check=True).stdout
    return bytes.fromhex(magic) + (0b01).to_bytes(4, "little")


def test_the_layer_ships_compiled_for_lambdas_python(tmp_path: Path, python312: str) -> None:
    built = packaging.build_layer(REPO_ROOT / "layers", platform_packages=False,
                                  bytecode=python312)
    archive = zipfile.ZipFile(io.BytesIO(packaging.zip_folder(built, "cpython-312")))
    names = set(archive.namelist())
    sources = {name for name in names if name.endswith(".py")}
    assert "python/yiwang/records.py" in sources
    for source in sources:  # every module, with its bytecode next to it
        folder, _, module = source.rpartition("/")
        compiled = f"{folder}/__pycache__/{module[:-3]}.cpython-312.pyc"
        assert compiled in names, compiled
        assert archive.read(compiled)[:8] == _header(python312)
    assert all(".cpython-312." in name for name in names if name.endswith(".pyc"))
    # Lambda's Python runs the bytecode without reading the source: a module whose source
    # was replaced after compiling still imports as compiled.
    archive.extractall(tmp_path)
    (tmp_path / "python/yiwang/errors.py").write_text("raise SystemExit('source read')\n")
    subprocess.run([python312, "-c", "from yiwang.platform.errors import DomainError"], check=True,
                   env={"PYTHONPATH": str(tmp_path / "python"), "PYTHONDONTWRITEBYTECODE": "1"})
    # Zipped as before (local cloud, or no Python 3.12): no bytecode at all.
    plain = zipfile.ZipFile(io.BytesIO(packaging.zip_folder(built))).namelist()
    assert not [name for name in plain if name.endswith(".pyc")]


def test_the_api_deployment_zip_gets_its_bytecode(tmp_path: Path, python312: str) -> None:
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "import chalicelib.routes\n")
        archive.writestr("chalicelib/__init__.py", "")
        archive.writestr("chalicelib/routes/__init__.py", "ROUTES = 1\n")
    compile_zip(path, python312)
    names = zipfile.ZipFile(path).namelist()
    assert sorted(name for name in names if name.endswith(".pyc")) == [
        "__pycache__/app.cpython-312.pyc", "chalicelib/__pycache__/__init__.cpython-312.pyc",
        "chalicelib/routes/__pycache__/__init__.cpython-312.pyc"]
    assert zipfile.ZipFile(path).read("__pycache__/app.cpython-312.pyc")[:8] == _header(
        python312)


def test_make_package_builds_into_a_folder_relative_to_where_it_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # `make package` passes `--out build`
    path = build(Path("build"), "dev")
    assert path.is_file()
    assert path.resolve().parent == tmp_path.resolve() / "build"
