"""Sessions on a test's database from the test's own process: to make teams and keys as the CLI makes
them, or to read what a server stored, with no server in between."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from suggest_api.storage.database import make_engine, make_sessions


@contextmanager
def sessions_on(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on `database_url`; the engine is disposed of afterwards."""
    engine = make_engine(database_url)
    try:
        yield make_sessions(engine)
    finally:
        engine.dispose()
