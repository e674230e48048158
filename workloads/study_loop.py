"""Run a study through the service's own code (create, ask, tell on a SQLite file), without HTTP.

The quality and multi-objective benchmarks and the suggesters' regret tests use it, so what they measure is
what a caller of the service gets: the same registry, option validation, history loading and trial storage.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from suggest_api.config import Limits, Settings
from suggest_api.domain import Constraint, Goal, Objective, TrialState
from suggest_api.service.accounts import implicit_principal
from suggest_api.service.asks import AskRequest, create_trials
from suggest_api.service.studies import StudyDefinition, create_study
from suggest_api.service.transactions import Transactions
from suggest_api.service.trials import NewTrial, add_trials, tell
from suggest_api.storage.database import make_engine, make_sessions
from suggest_api.storage.migrate import upgrade
from suggest_api.storage.studies import SpaceCache

#: What an objective function returns: one value (a plain single-objective study), every objective and
#: constraint metric by name (a study given `objectives` or `constraints`), or None (the trial failed).
Result = float | Mapping[str, float] | None


@dataclass
class StudyRun:
    """What one run produced, in trial order, and the seconds spent inside ask."""

    #: Single objective, no constraints: the value of each trial.
    values: list[float] = field(default_factory=list)
    #: With `objectives` or `constraints`: the metrics told for each trial (None: told failed).
    results: list[dict[str, float] | None] = field(default_factory=list)
    ask_seconds: float = 0.0
    #: Each ask's seconds (the whole transaction), one entry per ask.
    ask_times: list[float] = field(default_factory=list)


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
              objective: Callable[[Mapping[str, Any]], Result], suggester: str,
              options: Mapping[str, Any] | None = None, budget: int, seed: int,
              objectives: Sequence[Objective] | None = None, constraints: Sequence[Constraint] = (),
              reference_point: Sequence[float] | None = None,
              history: Sequence[tuple[Mapping[str, Any], Result]] = ()) -> StudyRun:
    """Optimize `objective` for `budget` trials: ask one, evaluate, tell its result. Every suggester runs in
    this thread (no model-fit helper process, no time budget).

    Without `objectives` or `constraints` the study minimizes one objective named "value" and `objective`
    returns a float, as before; with them it returns every metric by name, told as `values`. `history`
    (params and result) is imported as finished trials before the first ask, so an ask can be timed
    against a study of a given size.
    """
    limits = Limits(max_count=1000, max_import=1000)
    transactions, spaces = Transactions(sessions), SpaceCache()
    told_values = objectives is not None or bool(constraints)
    if objectives is None:
        definition = StudyDefinition(name=name, space=space, objective_name="value", goal=Goal.MINIMIZE,
                                     constraints=tuple(constraints), suggester_name=suggester,
                                     suggester_options=dict(options or {}), seed=seed)
    else:
        definition = StudyDefinition(name=name, space=space, objectives=tuple(objectives),
                                     constraints=tuple(constraints),
                                     reference_point=tuple(reference_point) if reference_point is not None else None,
                                     suggester_name=suggester, suggester_options=dict(options or {}), seed=seed)
    who = implicit_principal(transactions, Settings(limits=limits))
    transactions.write(lambda s: create_study(s, who, definition, limits=limits, default_heartbeat_timeout=300.0,
                                              spaces=spaces))
    items = [_new_trial(params, result) for params, result in history]
    for start in range(0, len(items), limits.max_import):
        transactions.write(partial(add_trials, who=who, name=name, items=items[start:start + limits.max_import],
                                   limits=limits, spaces=spaces))
    run = StudyRun()
    while len(run.ask_times) < budget:
        started = time.perf_counter()
        asked = transactions.write(lambda s: create_trials(s, who, AskRequest(name), limits=limits, spaces=spaces))
        run.ask_times.append(time.perf_counter() - started)
        run.ask_seconds += run.ask_times[-1]
        for trial in asked.trials:
            result = objective(trial.params)
            if result is None:
                transactions.write(partial(tell, who=who, name=name, number=trial.number, value=None,
                                           state=TrialState.FAILED, metadata=None))
                run.results.append(None)
            elif told_values:
                if not isinstance(result, Mapping):
                    raise TypeError(f"a study with objectives or constraints needs every metric by name, "
                                    f"not {result!r}")
                metrics = {k: float(v) for k, v in result.items()}
                transactions.write(partial(tell, who=who, name=name, number=trial.number, value=None,
                                           values=metrics, state=TrialState.COMPLETED, metadata=None))
                run.results.append(metrics)
            else:
                if isinstance(result, Mapping):
                    raise TypeError("a single-objective study without constraints takes one value per trial")
                value = float(result)
                transactions.write(partial(tell, who=who, name=name, number=trial.number, value=value,
                                           state=TrialState.COMPLETED, metadata=None))
                run.values.append(value)
    return run


def _new_trial(params: Mapping[str, Any], result: Result) -> NewTrial:
    """An imported finished trial: completed with its value or values, or failed."""
    if result is None:
        return NewTrial(params=params, state=TrialState.FAILED)
    if isinstance(result, Mapping):
        return NewTrial(params=params, values={k: float(v) for k, v in result.items()}, state=TrialState.COMPLETED)
    return NewTrial(params=params, value=float(result), state=TrialState.COMPLETED)
