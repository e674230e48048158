"""Fixtures for end-to-end tests (the `serve` fixture that starts servers is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """One keep-alive session for the test's own (single-threaded) calls."""
    with requests.Session() as session:
        yield session
