"""What one worker process builds once and keeps: settings, the database, and every per-worker cache.

`create_app` starts a Runtime after gunicorn forks (never at import), so no worker shares a pool or a
helper process with another. Nothing here is a module global: a second Runtime in the same process
(tests build many apps) has caches of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from suggest_api.config import Settings
from suggest_api.service.asks import Asks
from suggest_api.service.importance import ImportanceCache
from suggest_api.service.model_fits import ModelFits
from suggest_api.service.study_locks import StudyLocks
from suggest_api.service.transactions import Transactions
from suggest_api.storage.database import make_engine, make_sessions, study_lock_file
from suggest_api.storage.migrate import head_revision
from suggest_api.storage.studies import SpaceCache


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    #: The migration head this code needs (readiness compares the database's with it).
    head_revision: str | None
    transactions: Transactions
    #: Each study's parsed space, by the study's identity.
    spaces: SpaceCache
    #: The ask path: fit slots and helper processes, SQLite's study locks, which studies are costly.
    asks: Asks
    #: Set on SIGTERM: readiness answers 503 while in-flight requests finish.
    shutting_down: bool = False
    #: The last importance answers, by study and the trials they were computed from.
    importance: ImportanceCache = field(default_factory=ImportanceCache)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url, settings)
        sessions = make_sessions(engine)
        transactions = Transactions(sessions, read_budget_s=settings.limits.max_read_ms / 1000)
        spaces = SpaceCache()
        sqlite = engine.dialect.name == "sqlite"
        asks = Asks(transactions, limits=settings.limits, spaces=spaces,
                    fits=ModelFits(settings.max_model_fits, settings.model_fit_budget),
                    study_locks=StudyLocks(study_lock_file(engine), settings.lock_timeout) if sqlite else None)
        return cls(settings, engine, sessions, head_revision(), transactions, spaces, asks)

    def close(self) -> None:
        """Release the database pool (tests and in-process callers; a worker just exits)."""
        self.engine.dispose()
