"""Imports point one way (STYLE.md): pure domain <- storage <- service <- api <- app <- server <- cli, and, inside
the space and service packages, from their building blocks up. Neither distribution has an import cycle,
and no test imports from benchmarks/.

Every import counts: at module level, inside functions, and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "suggest_api"
CLIENT = ROOT / "clients" / "python" / "suggest_client"

LAYERS = {  # a module may import only from its own layer or lower ones
    "config": 0, "errors": 0,
    "space": 1, "domain": 1, "accounts": 1, "names": 1, "paging": 1, "plugins": 1,
    "multiobjective": 2, "importance": 2, "suggesters": 2, "pruners": 2, "metrics": 2, "logs": 2,
    "storage": 3,
    "service": 4,
    "api": 5, "importers": 5, "ui": 5,
    "app": 6, "server": 7, "cli": 8,
}
PURE = {"space", "domain", "accounts", "names", "paging", "plugins", "multiobjective", "importance", "suggesters",
        "pruners", "config", "errors"}
#: Inside a package: its modules' own order (a module may import only its own rank or lower ones).
INNER_LAYERS: dict[str, dict[str, int]] = {
    "space": {"params": 0, "parse": 1, "search_space": 2, "schema": 2, "__init__": 3},
    "storage": {"models": 0, "database": 0, "migrate": 1, "rows": 1, "idempotency": 2, "studies": 2, "trials": 2,
                "reports": 2, "accounts": 2, "archive": 3, "__init__": 4},
    "multiobjective": {"outcomes": 0, "dominance": 0, "hypervolume": 1, "reference_points": 1, "front": 2,
                       "__init__": 3},
    "service": {"model_fits": 0, "study_locks": 0, "transactions": 0, "leases": 0, "outcomes": 0, "study_document": 0,
                "lookup": 1, "studies": 2, "trials": 2, "pareto": 2, "importance": 2, "accounts": 2, "asks": 2,
                "runtime": 3, "transfer": 3, "__init__": 4},
    "server": {"framing": 0, "worker": 1, "gunicorn_app": 2, "__init__": 3},
}
#: Modules that must not touch the database or HTTP: they take and return domain values.
NO_ROWS = ("service", "api", "app", "server", "cli")


def top_module(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it; `from X import name` counts `X.name` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def module_graph(root: Path) -> dict[str, set[str]]:
    """module -> the package's own modules it imports (a package's __init__ is the package's name)."""
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    return {name: {target for target in imports(path) if target in paths and target != name}
            for name, path in paths.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module that imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if top_module(p) in LAYERS)


def test_every_module_has_a_layer() -> None:
    modules = {top_module(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert modules <= set(LAYERS), f"modules without a layer: {sorted(modules - set(LAYERS))}"
    for package, order in INNER_LAYERS.items():
        folder = PACKAGE / package
        inner = {p.relative_to(folder).parts[0].removesuffix(".py") for p in folder.rglob("*.py")}
        unranked = inner - set(order) - {"migrations"}
        assert not unranked, f"{package}/ modules without a rank: {sorted(unranked)}"


def wrong_way(path: Path, imported: set[str]) -> Iterator[str]:
    """Each import of `path` that points up a layer (or up its package's inner order), as a message."""
    own = top_module(path)
    where = path.relative_to(PACKAGE)
    for name in sorted(imported):
        if not name.startswith("suggest_api."):
            if own in PURE and name.split(".")[0] in {"flask", "flask_smorest", "sqlalchemy", "alembic"}:
                yield f"{where} is pure domain but imports {name}"
            continue
        parts = name.split(".")
        target = parts[1]
        if target in LAYERS and LAYERS[target] > LAYERS[own]:
            yield f"{where} imports {name} (wrong way: {own} is below {target})"
        if own in NO_ROWS and name.startswith("suggest_api.storage.models"):
            yield f"{where} imports {name}: rows are built and read only in storage/"
        order = INNER_LAYERS.get(own)
        if order and target == own and len(parts) > 2 and len(where.parts) > 1:
            mine, theirs = where.parts[1].removesuffix(".py"), parts[2]
            if theirs in order and mine in order and order[theirs] > order[mine]:
                yield f"{where} imports {name} (wrong way inside {own}/: {mine} is below {theirs})"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_points_the_wrong_way(path: Path) -> None:
    assert list(wrong_way(path, imports(path))) == []


def test_a_wrong_way_import_is_caught() -> None:
    """The check itself: an import up a layer, up a package's order, or of rows above storage is refused."""
    assert list(wrong_way(PACKAGE / "storage" / "trials.py", {"suggest_api.service.asks"})) == [
        "storage/trials.py imports suggest_api.service.asks (wrong way: storage is below service)"]
    assert list(wrong_way(PACKAGE / "space" / "params.py", {"suggest_api.space.search_space"})) == [
        "space/params.py imports suggest_api.space.search_space (wrong way inside space/: params is below "
        "search_space)"]
    assert list(wrong_way(PACKAGE / "service" / "trials.py", {"suggest_api.storage.models"})) == [
        "service/trials.py imports suggest_api.storage.models: rows are built and read only in storage/"]
    assert list(wrong_way(PACKAGE / "domain.py", {"sqlalchemy"})) == ["domain.py is pure domain but imports sqlalchemy"]


@pytest.mark.parametrize("root", [PACKAGE, CLIENT], ids=["suggest_api", "suggest_client"])
def test_no_import_cycles(root: Path) -> None:
    graph = module_graph(root)
    assert len(graph) > 5  # the walk found the distribution's modules
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_client_imports_nothing_of_the_service() -> None:
    for path in CLIENT.rglob("*.py"):
        assert not [name for name in imports(path) if name.split(".")[0] == "suggest_api"], path


def test_tests_do_not_import_from_benchmarks() -> None:
    offenders = [f"{path.relative_to(ROOT)}: {name}" for path in (ROOT / "tests").rglob("*.py")
                 for name in imports(path) if name.split(".")[0] == "benchmarks"]
    assert offenders == []


def test_random_path_does_not_load_scikit_learn() -> None:
    code = "import sys, suggest_api.app, suggest_api.suggesters.registry; print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True
                          ).stdout.strip() == "False"
