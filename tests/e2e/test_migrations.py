"""Every replica runs `suggest-api migrate` (or `serve`) at start-up, so several run at the same moment."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from suggest_api.storage.database import make_engine
from suggest_api.storage.migrate import head_revision
from suggest_api.storage.models import Base
from tests.support.servers import SUGGEST_API, server_environment

MIGRATORS = 4


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that no migration has touched: a new SQLite file, or a brand-new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    server = make_url(request.getfixturevalue("postgres_database"))
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"suggest_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_concurrent_migrate_processes_all_succeed_once(empty_database_url: str, tmp_path: Path) -> None:
    """4 `suggest-api migrate` started together all exit 0 and leave exactly one head revision."""
    env = server_environment(tmp_path)
    processes = [subprocess.Popen([SUGGEST_API, "migrate", "--database-url", empty_database_url], cwd=tmp_path,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(MIGRATORS)]
    outcomes = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=120)
            outcomes.append((process.returncode, stdout, stderr))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()

    assert [code for code, _, _ in outcomes] == [0] * MIGRATORS, outcomes
    assert all("latest schema" in stdout for _, stdout, _ in outcomes), outcomes
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert versions == [head_revision()]
    assert set(Base.metadata.tables) <= tables
