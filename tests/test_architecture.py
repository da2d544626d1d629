"""The layers of docs/architecture.md hold: no app imports one above it, not even inside a
function, and at most ten imports written inside functions cross apps, each saying why.

The layer list is read from pyproject.toml's import-linter contract (`make lint` runs
lint-imports on it too), so the documented order, the linter and this test are one list.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_INNER_CROSS_APP = 10


@dataclass(frozen=True)
class Import:
    path: str
    line: int
    source_app: str
    target_app: str
    inside_function: bool
    commented: bool


def layers() -> list[set[str]]:
    """Lowest first; apps in one layer (api | configfile) are independent siblings."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [{name.strip() for name in layer.split("|")} for layer in reversed(contract["layers"])]


def imports(root: Path, apps: set[str]) -> list[Import]:
    found = []
    for app in sorted(apps):
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" in path.parts or path.name.startswith("test_"):
                continue
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            found += _imports_in(ast.parse(text), app, str(path.relative_to(root)), lines, apps)
    return found


def _imports_in(tree: ast.AST, app: str, path: str, lines: list[str], apps: set[str]) -> list[Import]:
    found: list[Import] = []

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            targets = []
            if isinstance(child, ast.Import):
                targets = [alias.name.split(".")[0] for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                targets = [child.module.split(".")[0]]
            for target in targets:
                if target in apps and target != app:
                    here = lines[child.lineno - 1]
                    above = lines[child.lineno - 2].strip() if child.lineno > 1 else ""
                    commented = "#" in here.split("import", 1)[-1] or above.startswith("#")
                    found.append(Import(path, child.lineno, app, target, inside, commented))
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def violations(found: list[Import], order: list[set[str]]) -> list[str]:
    rank = {app: index for index, layer in enumerate(order) for app in layer}
    return [f"{i.path}:{i.line}: {i.source_app} imports {i.target_app}, which is {'above it' if rank[i.target_app] > rank[i.source_app] else 'its sibling'}"
            for i in found if rank[i.target_app] >= rank[i.source_app]]


def test_no_app_imports_a_layer_above_it():
    order = layers()
    found = imports(ROOT, set().union(*order))
    assert violations(found, order) == []


def test_few_imports_inside_functions_cross_apps_and_each_says_why():
    order = layers()
    inner = [i for i in imports(ROOT, set().union(*order)) if i.inside_function]
    assert len(inner) <= MAX_INNER_CROSS_APP, "\n".join(f"{i.path}:{i.line} -> {i.target_app}" for i in inner)
    assert [f"{i.path}:{i.line}" for i in inner if not i.commented] == []


def test_the_check_catches_an_upward_import_even_inside_a_function(tmp_path):
    (tmp_path / "monitors").mkdir()
    (tmp_path / "monitors" / "services.py").write_text("def f():\n    from alerting.models import Alert\n")
    (tmp_path / "alerting").mkdir()
    (tmp_path / "alerting" / "models.py").write_text("from monitors.services import f\n")
    order = [{"monitors"}, {"alerting"}]
    found = imports(tmp_path, {"monitors", "alerting"})
    assert violations(found, order) == ["monitors/services.py:2: monitors imports alerting, which is above it"]
    assert [i.inside_function for i in found if i.source_app == "monitors"] == [True]


def test_every_app_is_in_a_layer():
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")} | {"lib"}
    assert apps <= set().union(*layers())
