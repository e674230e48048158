"""Engine, sessions, the database's clock, and transactions that retry what is safe to retry.

The engine is created inside each worker (after gunicorn forks), never at import time: a pool
inherited across fork would share sockets between processes.

PostgreSQL connections carry statement and lock timeouts, TCP keepalives and a connect timeout, so
a slow query, a held lock or a vanished database ends in an error the API turns into 503, never in a
thread that waits forever. The pool pings a connection before lending it (a restarted database left
only dead ones behind) and is bounded: pool_size + max_overflow per worker, waiting pool_timeout.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
`BEGIN IMMEDIATE`: the write lock is taken up front, so concurrent writers queue on the busy
timeout instead of failing with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from suggest_api.config import Settings

T = TypeVar("T")
log = logging.getLogger("suggest_api")

WRITE_OPTION = "suggest_write"
#: SQLSTATEs after which PostgreSQL rolled the transaction back and running it again is the fix.
RETRYABLE_SQLSTATES = {"40001": "serialization failure", "40P01": "deadlock"}
MAX_ATTEMPTS = 4
CONNECT_TIMEOUT_S = 5
#: SQLite virtual-machine steps between two looks at a statement budget's clock (microseconds apart).
SQLITE_PROGRESS_STEPS = 10_000


def storable(text: str) -> bool:
    """Whether a name from a URL can be looked up: PostgreSQL refuses NUL in text, and no stored name has one."""
    return "\x00" not in text


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`) and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, settings: Settings | None = None) -> Engine:
    settings = settings or Settings()
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout_s=settings.lock_timeout)
    options = (f"-c statement_timeout={_ms(settings.statement_timeout)} -c lock_timeout={_ms(settings.lock_timeout)}"
               # a worker frozen inside a transaction must not hold its locks for ever
               f" -c idle_in_transaction_session_timeout={_ms(2 * settings.statement_timeout)}")
    connect_args = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": options,
        # which process holds a connection: pg_stat_activity shows the worker's pid
        "application_name": f"suggest-api:{os.getpid()}",
        # a peer that vanished without closing the socket is noticed within seconds, not hours
        "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
        "tcp_user_timeout": _ms(settings.statement_timeout),
    }
    return create_engine(url, pool_pre_ping=True, pool_size=settings.pool_size, max_overflow=settings.max_overflow,
                         pool_timeout=settings.pool_timeout, connect_args=connect_args)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _sqlite_engine(url: str, *, busy_timeout_s: float) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_ms(busy_timeout_s)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

    return engine


def study_lock_file(engine: Engine) -> str | None:
    """The file beside a SQLite database that holds its per-study locks (None for an in-memory one)."""
    path = engine.url.database
    return None if not path or path == ":memory:" or path.startswith("file:") else f"{path}-studylocks"


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(sessions: sessionmaker[Session], *, write: bool, budget_s: float | None = None) -> Iterator[Session]:
    """One transaction; `write=True` takes SQLite's write lock at BEGIN (no-op elsewhere); `budget_s` bounds
    its statements' time (`statement_budget`)."""
    with sessions() as session, session.begin():
        if write:
            session.connection(execution_options={WRITE_OPTION: True})
        if budget_s is None:
            yield session
        else:
            with statement_budget(session, budget_s):
                yield session


@contextmanager
def statement_budget(session: Session, seconds: float) -> Iterator[None]:
    """A statement of this transaction that runs past `seconds` fails as the database being busy (503 with
    Retry-After), so a read never holds a worker thread for long. PostgreSQL: a statement_timeout for this
    transaction alone (SET LOCAL). SQLite, which has none: the transaction's statements are interrupted
    once `seconds` have passed since it began."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {_ms(seconds)}")
        yield
        return
    raw = connection.connection.dbapi_connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_PROGRESS_STEPS)  # type: ignore[union-attr]
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)  # type: ignore[union-attr]


def retrying(work: Callable[[], T]) -> T:
    """Run `work` (one whole transaction) again after a deadlock or serialization failure.

    PostgreSQL has rolled the transaction back by then, so running it again is safe; a short random
    pause lets the other transaction finish. Bounded: the last failure propagates (and answers 503).
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return work()
        except DBAPIError as error:
            reason = RETRYABLE_SQLSTATES.get(getattr(error.orig, "sqlstate", None) or "")
            if reason is None or attempt == MAX_ATTEMPTS:
                raise
            log.info("transaction retried", extra={"reason": reason, "attempt": attempt})
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")


class utc_now(FunctionElement[datetime]):  # noqa: N801 (a SQL function, named like one)
    """The database's clock, as naive UTC: leases and timestamps never trust a worker's clock.

    PostgreSQL: the transaction's start time. SQLite: the clock of the machine holding the file
    (every worker of an embedded database runs there).
    """

    type = DateTime()
    inherit_cache = True


@compiles(utc_now, "postgresql")
def _utc_now_postgresql(_element: utc_now, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "(now() AT TIME ZONE 'UTC')"


@compiles(utc_now, "sqlite")
def _utc_now_sqlite(_element: utc_now, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


_NOW = select(utc_now())


def database_now(session: Session) -> datetime:
    """The database's current time (naive UTC)."""
    now: datetime = session.connection().execute(_NOW).scalar_one()
    return now
