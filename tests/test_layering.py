"""Imports point one way: pure domain <- storage <- service <- api <- app (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "suggest_api"
LAYERS = {  # a module may import only from its own layer or lower ones
    "config": 0, "errors": 0,
    "space": 1, "trials": 1, "teams": 1, "names": 1, "paging": 1, "plugins": 1,
    "suggesters": 2, "pruners": 2, "metrics": 2, "logs": 2,
    "storage": 3, "model_fits": 3,
    "service": 4, "access": 4,
    "api": 5, "app": 6, "cli": 7,
}
PURE = {"space", "trials", "teams", "names", "paging", "plugins", "suggesters", "pruners", "config", "errors"}


def test_every_module_has_a_layer() -> None:
    modules = {top_module(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert modules <= set(LAYERS), f"modules without a layer: {sorted(modules - set(LAYERS))}"


def top_module(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found.update(names)
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if top_module(p) in LAYERS)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_points_the_wrong_way(path: Path) -> None:
    own = top_module(path)
    for name in imports(path):
        if not name.startswith("suggest_api."):
            if own in PURE:
                assert name.split(".")[0] not in {"flask", "flask_smorest", "sqlalchemy", "alembic"}, \
                    f"{path.name} is pure domain but imports {name}"
            continue
        target = name.split(".")[1]
        if target in LAYERS:
            assert LAYERS[target] <= LAYERS[own], f"{path.relative_to(PACKAGE)} imports {name} (wrong way)"


def test_random_path_does_not_load_scikit_learn() -> None:
    import subprocess
    import sys

    code = "import sys, suggest_api.app, suggest_api.suggesters.registry; print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True
                          ).stdout.strip() == "False"
