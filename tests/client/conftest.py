"""One real `suggest-api serve` per backend for the whole module: client tests only need a service,
not an empty one, so each test works in studies of its own (`study_name`) and the servers start once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from suggest_client import Client
from tests.conftest import BACKENDS
from tests.support.servers import Server, start_server


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp(f"server-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir / 'suggest.db'}"
    else:
        database_url = request.getfixturevalue("postgres_database")
    started: list[Server] = []
    try:
        yield start_server(database_url, workdir, started, workers=2)
    finally:
        hung = [s.base_url for s in started if not s.stop()]
    if hung:
        pytest.fail(f"servers ignored SIGTERM and were killed: {hung}")


@pytest.fixture
def api(server: Server) -> Iterator[Client]:
    with Client(server.base_url, retries=2, timeout=60.0) as client:
        yield client


@pytest.fixture
def study_name() -> str:
    return f"client-{uuid.uuid4().hex[:10]}"
