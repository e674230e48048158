"""Fixtures: every database-backed test runs on SQLite and on a real PostgreSQL.

PostgreSQL: one fresh database per test session (created beside SUGGEST_TEST_POSTGRES_URL's,
dropped at the end), migrated once, its tables emptied before each test. `serve` starts real
`suggest-api serve` processes (tests/support/servers.py) and always stops them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import flask
import pytest
from sqlalchemy import text

from suggest_api.app import create_app
from suggest_api.config import Settings
from suggest_api.storage.database import make_engine
from suggest_api.storage.migrate import upgrade
from suggest_api.storage.models import Base
from tests.support.databases import scratch_postgres
from tests.support.servers import Server, StartServer, start_server
from tests.support.teams import TeamKeys, make_team_with_keys

POSTGRES_URL = os.environ.get("SUGGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of our own for this test session, so runs never see each other's data."""
    with scratch_postgres(POSTGRES_URL, "suggest_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'suggest.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    postgres: str = request.getfixturevalue("postgres_database")
    engine = make_engine(postgres)
    with engine.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[flask.Flask]:
    app = create_app(settings)
    yield app
    app.extensions["suggest_api"].engine.dispose()


@pytest.fixture
def client(app: flask.Flask) -> flask.testing.FlaskClient:
    return app.test_client()


@pytest.fixture
def secured_app(database_url: str) -> Iterator[flask.Flask]:
    """The app as deployed for many teams: SUGGEST_AUTH=required."""
    app = create_app(Settings(database_url=database_url, auth="required"))
    yield app
    app.extensions["suggest_api"].engine.dispose()


@pytest.fixture
def alpha(secured_app: flask.Flask) -> TeamKeys:
    """Team "alpha", with an admin, a member and a read key."""
    return make_team_with_keys(secured_app.extensions["suggest_api"].sessions, "alpha")


@pytest.fixture
def beta(secured_app: flask.Flask) -> TeamKeys:
    """Team "beta", the other tenant: it must never see or touch alpha's studies."""
    return make_team_with_keys(secured_app.extensions["suggest_api"].sessions, "beta")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[StartServer]:
    """Start `suggest-api serve` processes; teardown stops every one, whether the test passed or not."""
    started: list[Server] = []

    def start(database_url: str, *, workers: int = 2, port_in_env: bool = False, threads: int | None = None,
              env: Mapping[str, str] | None = None) -> Server:
        return start_server(database_url, tmp_path, started, workers=workers, port_in_env=port_in_env,
                            threads=threads, env=env)

    try:
        yield start
    finally:
        hung = [server.base_url for server in started if not server.stop()]
    if hung:
        pytest.fail(f"servers ignored SIGTERM and were killed: {hung}")
