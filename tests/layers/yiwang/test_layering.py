"""The domain package is a one-way stack: a module imports from its own subpackage and from
the levels below it, never from beside or above (imports inside functions and under
`TYPE_CHECKING` included). A new subpackage must be given its level here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "layers" / "yiwang"

LEVELS: list[set[str]] = [
    {"platform"},
    {"table"},
    {"regions"},
    {"people", "calendar", "catalogue"},
    {"deadlines", "performance"},
    {"applications"},
    {"fulfilment", "complaints", "ratings"},
    {"themes"},  # 一件事一次办: makes applications, joins their payments and pickups
    {"views", "supervision", "stats", "messaging"},
]
LEVEL = {package: level for level, packages in enumerate(LEVELS) for package in packages}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def subpackage(dotted: str) -> str | None:
    """`yiwang.applications.tasks` → `applications`; `None` for names outside the package."""
    parts = dotted.split(".")
    return parts[1] if parts[0] == "yiwang" and len(parts) > 1 else None


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every `yiwang` import in the module, wherever it stands."""
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "yiwang":
                names += [(node.lineno, f"yiwang.{alias.name}") for alias in node.names]
            else:
                names.append((node.lineno, node.module))
    return [(line, name) for line, name in names if name.split(".")[0] == "yiwang"]


def test_every_module_sits_in_a_subpackage_with_a_level() -> None:
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], "modules belong in a subpackage of yiwang"
    folders = {p.parent.name for p in modules() if p.parent != PACKAGE}
    assert folders <= set(LEVEL), f"give these subpackages a level: {folders - set(LEVEL)}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_stack(path: Path) -> None:
    if path.parent == PACKAGE:
        return
    own = path.parent.name
    wrong = []
    for line, name in imported(path):
        target = subpackage(name)
        if target is None or target == own:
            continue
        if target not in LEVEL or LEVEL[target] >= LEVEL[own]:
            wrong.append(f"line {line}: {own} (level {LEVEL[own]}) imports {name} "
                         f"(level {LEVEL.get(target, '?')})")
    assert wrong == []


def test_the_rule_sees_a_wrong_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from yiwang.stats import aggregates\n")
    assert imported(module) == [(2, "yiwang.stats")]
