"""Fixtures for end-to-end tests: a factory that starts servers and always stops them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.support import Server, StartServer, start_server


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[StartServer]:
    """Start `suggest-api serve` processes; teardown stops every one, whether the test passed or not."""
    started: list[Server] = []

    def start(database_url: str, *, workers: int = 2, port_in_env: bool = False) -> Server:
        return start_server(database_url, tmp_path, started, workers=workers, port_in_env=port_in_env)

    try:
        yield start
    finally:
        hung = [server.base_url for server in started if not server.stop()]
    if hung:
        pytest.fail(f"servers ignored SIGTERM and were killed: {hung}")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """One keep-alive session for the test's own (single-threaded) calls."""
    with requests.Session() as session:
        yield session
