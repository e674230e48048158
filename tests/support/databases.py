"""Sessions on a test's database from the test's own process: to make teams and keys as the CLI makes
them, or to read what a server stored, with no server in between."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from suggest_api.storage.database import make_engine, make_sessions, normalize_url


@contextmanager
def sessions_on(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on `database_url`; the engine is disposed of afterwards."""
    engine = make_engine(database_url)
    try:
        yield make_sessions(engine)
    finally:
        engine.dispose()


@contextmanager
def scratch_postgres(base_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on `base_url`'s server (its user must be allowed to create one), dropped
    afterwards whatever happened; its URL, for psycopg 3. Runs and modules then never see each other's data."""
    base = make_url(normalize_url(base_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
