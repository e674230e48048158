"""Run a study through the service's own code (create, ask, tell on a SQLite file), without HTTP.

The quality benchmark and the suggesters' regret tests both use it, so what they measure is what a
caller of the service gets: the same registry, option validation, history loading and trial storage.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from suggest_api.config import Limits, Settings
from suggest_api.domain import Goal, TrialState
from suggest_api.service.accounts import implicit_principal
from suggest_api.service.asks import AskRequest, create_trials
from suggest_api.service.studies import StudyDefinition, create_study
from suggest_api.service.transactions import Transactions
from suggest_api.service.trials import tell
from suggest_api.storage.database import make_engine, make_sessions
from suggest_api.storage.migrate import upgrade
from suggest_api.storage.studies import SpaceCache


@dataclass
class StudyRun:
    """What one run produced: every value in trial order and the seconds spent inside ask."""

    values: list[float] = field(default_factory=list)
    ask_seconds: float = 0.0


@contextmanager
def scratch_database() -> Iterator[sessionmaker[Session]]:
    """A migrated SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="suggest-bench-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        try:
            yield make_sessions(engine)
        finally:
            engine.dispose()


def run_study(sessions: sessionmaker[Session], *, name: str, space: Mapping[str, Any],
              objective: Callable[[Mapping[str, Any]], float], suggester: str,
              options: Mapping[str, Any] | None = None, budget: int, seed: int) -> StudyRun:
    """Minimize `objective` for `budget` trials: ask one, evaluate, tell its result. Every suggester runs in
    this thread (no model-fit helper process, no time budget)."""
    limits = Limits(max_count=1000)
    transactions, spaces = Transactions(sessions), SpaceCache()
    definition = StudyDefinition(name=name, space=space, objective_name="value", goal=Goal.MINIMIZE,
                                 suggester_name=suggester, suggester_options=dict(options or {}), seed=seed)
    who = implicit_principal(transactions, Settings(limits=limits))
    transactions.write(lambda s: create_study(s, who, definition, limits=limits, default_heartbeat_timeout=300.0,
                                              spaces=spaces))
    run = StudyRun()
    while len(run.values) < budget:
        started = time.perf_counter()
        asked = transactions.write(lambda s: create_trials(s, who, AskRequest(name), limits=limits, spaces=spaces))
        run.ask_seconds += time.perf_counter() - started
        for trial in asked.trials:
            value = float(objective(trial.params))
            transactions.write(partial(tell, who=who, name=name, number=trial.number, value=value,
                                       state=TrialState.COMPLETED, metadata=None))
            run.values.append(value)
    return run
