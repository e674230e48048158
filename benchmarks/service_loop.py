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
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from suggest_api import service
from suggest_api.access import implicit_principal
from suggest_api.config import Limits, Settings
from suggest_api.storage.database import make_engine, make_sessions, transaction
from suggest_api.storage.migrate import upgrade
from suggest_api.trials import Goal, TrialState


@dataclass
class StudyRun:
    """What one run produced: every value in trial order and the seconds spent inside ask."""

    values: list[float] = field(default_factory=list)
    ask_seconds: float = 0.0

    def best_so_far(self) -> list[float]:
        best, out = float("inf"), []
        for v in self.values:
            best = min(best, v)
            out.append(best)
        return out


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
              options: Mapping[str, Any] | None = None, budget: int, seed: int, batch: int = 1,
              limits: Limits | None = None) -> StudyRun:
    """Minimize `objective` for `budget` trials: ask `batch` at a time, evaluate, tell each result."""
    limits = limits or Limits(max_count=1000)
    definition = service.StudyDefinition(name=name, space=space, objective_name="value", goal=Goal.MINIMIZE,
                                         suggester_name=suggester, suggester_options=dict(options or {}), seed=seed)
    who = implicit_principal(sessions, Settings(limits=limits))
    with transaction(sessions, write=True) as session:
        service.create_study(session, who, definition, limits, 300.0)
    run = StudyRun()
    while len(run.values) < budget:
        started = time.perf_counter()
        with transaction(sessions, write=True) as session:
            asked = service.ask(session, who, name, min(batch, budget - len(run.values)), None, limits)
        run.ask_seconds += time.perf_counter() - started
        for trial in asked.trials:
            value = float(objective(trial.params))
            with transaction(sessions, write=True) as session:
                service.tell(session, who, name, trial.number, value=value, state=TrialState.COMPLETED, metadata=None)
            run.values.append(value)
    return run
