"""Run Alembic migrations to head, safely when several processes start at once.

PostgreSQL: a transaction-scoped advisory lock serializes concurrent upgraders. SQLite: an exclusive
file lock beside the database file does the same for processes on one machine (the only place an
embedded database can be shared).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

ADVISORY_LOCK_ID = 0x5117_E57A  # any fixed 64-bit number: "suggest api"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("suggest_api.storage") / "migrations"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    config = alembic_config()
    with _exclusive(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def upgrade_url(url: str) -> str:
    """Bring the database at `url` to head through an engine of its own, disposed after; returns `url`, for
    tests, benchmarks and tools that hand it on to a server."""
    from suggest_api.storage.database import make_engine

    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


@contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
