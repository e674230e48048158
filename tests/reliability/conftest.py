"""Fixtures for the reliability scenarios, and the figures table printed at the end of the run.

Every scenario records what it measured (requests sent, errors by status, trials lost, duplicates,
recovery seconds, ...) through the `figures` fixture *before* it asserts, so a failing run still
shows its numbers. The table is printed in pytest's terminal summary and written as JSON to
`$SUGGEST_RELIABILITY_REPORT`, or to `reliability-report.json` under pytest's base temp directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES_URL
from tests.reliability.support import Figures, create_database, drop_database

FIGURES = pytest.StashKey[dict[str, dict[str, Any]]]()
BASETEMP = pytest.StashKey[Path]()
#: Columns of the terminal table, in order; every other figure goes into the JSON report only.
COLUMNS = ("requests", "errors", "lost", "duplicates", "recovery_s")


@pytest.fixture
def figures(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Figures:
    request.config.stash[BASETEMP] = tmp_path_factory.getbasetemp()
    return Figures(request.config.stash.setdefault(FIGURES, {}))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    store = config.stash.get(FIGURES, {})
    if not store:
        return
    terminalreporter.section("reliability figures")
    rows = [["scenario", *COLUMNS]]
    for scenario, values in store.items():
        rows.append([scenario, *(_cell(values.get(column)) for column in COLUMNS)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        terminalreporter.write_line("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    for scenario, values in store.items():
        extra = {k: v for k, v in values.items() if k not in COLUMNS}
        if extra:
            terminalreporter.write_line(f"{scenario}: " + json.dumps(extra, sort_keys=True, default=str))
    named = os.environ.get("SUGGEST_RELIABILITY_REPORT")
    path = Path(named) if named else config.stash[BASETEMP] / "reliability-report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(store, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    terminalreporter.write_line(f"reliability figures written to {path}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True) if value else "{}"
    return str(value)


@pytest.fixture
def scratch_postgres() -> Iterator[Callable[[str], str]]:
    """Make fresh, empty PostgreSQL databases (`suggest-api serve` migrates them); all dropped afterwards."""
    created: list[str] = []

    def create(purpose: str) -> str:
        name, url = create_database(POSTGRES_URL, purpose)
        created.append(name)
        return url

    try:
        yield create
    finally:
        for name in created:
            drop_database(POSTGRES_URL, name)
