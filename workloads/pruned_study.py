"""Run a study with a pruner through the service's own code (create, ask, report, tell on a SQLite file),
without HTTP.

`study_loop.run_study` has no intermediate reports; this loop adds them, so a benchmark of pruners measures
what a trainer talking to the service gets: the same pruner registry and option validation, the same stored
reports and rung entries, and the same decisions (with their reasons) a POST …/report answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from suggest_api.config import Limits, Settings
from suggest_api.domain import Goal, TrialState
from suggest_api.service.accounts import implicit_principal
from suggest_api.service.asks import AskRequest, create_trials
from suggest_api.service.studies import StudyDefinition, create_study
from suggest_api.service.transactions import Transactions
from suggest_api.service.trials import NewTrial, Reported, add_trials, report, tell
from suggest_api.storage.studies import SpaceCache

#: `report(step, value)`: the service's answer (prune and reason) to one intermediate value.
ReportFn = Callable[[int, float], Reported]


@dataclass(frozen=True)
class Evaluated:
    """How one trial ended: completed with its value, pruned (value: its last report, optional) or failed."""

    state: TrialState
    value: float | None = None
    metadata: Mapping[str, Any] | None = None


#: `evaluate(number, params, report)`: train trial `number`, calling `report` after each step, and say how it
#: ended. Pruning is the evaluator's to obey: when `report` answers prune, it stops and answers PRUNED.
Evaluate = Callable[[int, Mapping[str, Any], ReportFn], Evaluated]


@dataclass(frozen=True)
class TrialRecord:
    number: int
    params: dict[str, Any]
    state: TrialState
    value: float | None
    #: (step, value) of each report, in order: how much of its budget the trial used.
    reports: list[tuple[int, float]]
    metadata: dict[str, Any]
    #: The service's reason for pruning it (None: not pruned).
    prune_reason: str | None = None


@dataclass
class PrunedRun:
    trials: list[TrialRecord] = field(default_factory=list)
    #: Seconds inside the service's ask and report transactions (the suggester's and the pruner's cost).
    ask_seconds: float = 0.0
    report_seconds: float = 0.0


def run_pruned_study(sessions: sessionmaker[Session], *, name: str, space: Mapping[str, Any], evaluate: Evaluate,
                     suggester: str, pruner: Mapping[str, Any] | None, budget: int, seed: int,
                     goal: Goal = Goal.MAXIMIZE, suggester_options: Mapping[str, Any] | None = None,
                     queued: Sequence[Mapping[str, Any]] = ()) -> PrunedRun:
    """`budget` trials one after the other: ask one, evaluate it with reports, tell how it ended.

    `pruner` is a create body's `{"name", "options"}` (None: never prune). `queued` params are enqueued
    first, so the first asks hand them out in order (the same trials for every pruner compared on them).
    Every suggester and pruner runs in this thread (no model-fit helper process, no time budget), as in
    `study_loop.run_study`.
    """
    limits = Limits(max_count=1000)
    transactions, spaces = Transactions(sessions), SpaceCache()
    definition = StudyDefinition(
        name=name, space=space, objective_name="value", goal=goal, suggester_name=suggester,
        suggester_options=dict(suggester_options or {}), seed=seed,
        pruner_name=None if pruner is None else str(pruner["name"]),
        pruner_options={} if pruner is None else dict(pruner.get("options") or {}))
    who = implicit_principal(transactions, Settings(limits=limits))
    transactions.write(lambda s: create_study(s, who, definition, limits=limits, default_heartbeat_timeout=3600.0,
                                              spaces=spaces))
    if queued:
        items = [NewTrial(params=params) for params in queued]
        transactions.write(lambda s: add_trials(s, who, name, items, limits=limits, spaces=spaces))
    run = PrunedRun()

    def one_trial(number: int, params: Mapping[str, Any]) -> TrialRecord:
        reports: list[tuple[int, float]] = []
        reasons: list[str] = []

        def on_report(step: int, value: float) -> Reported:
            began = time.perf_counter()
            answer = transactions.write(partial(report, who=who, name=name, number=number, step=step,
                                                value=value, limits=limits))
            run.report_seconds += time.perf_counter() - began
            reports.append((step, value))
            if answer.prune and answer.reason is not None:
                reasons.append(answer.reason)
            return answer

        result = evaluate(number, params, on_report)
        transactions.write(partial(tell, who=who, name=name, number=number, value=result.value,
                                   state=result.state, metadata=None))
        return TrialRecord(number=number, params=dict(params), state=result.state, value=result.value,
                           reports=reports, metadata=dict(result.metadata or {}),
                           prune_reason=reasons[0] if reasons else None)

    while len(run.trials) < budget:
        started = time.perf_counter()
        asked = transactions.write(lambda s: create_trials(s, who, AskRequest(name), limits=limits, spaces=spaces))
        run.ask_seconds += time.perf_counter() - started
        run.trials += [one_trial(trial.number, trial.params) for trial in asked.trials]
    return run


def suggested_params(sessions: sessionmaker[Session], *, name: str, space: Mapping[str, Any], suggester: str,
                     count: int, seed: int) -> list[dict[str, Any]]:
    """The params `suggester` gives a new study's first `count` trials in one ask: a fixed sequence (for a
    history-free suggester such as random) that several runs can then be handed through `queued`."""
    limits = Limits(max_count=max(count, 1))
    transactions, spaces = Transactions(sessions), SpaceCache()
    definition = StudyDefinition(name=name, space=space, objective_name="value", goal=Goal.MAXIMIZE,
                                 suggester_name=suggester, seed=seed)
    who = implicit_principal(transactions, Settings(limits=limits))
    transactions.write(lambda s: create_study(s, who, definition, limits=limits, default_heartbeat_timeout=3600.0,
                                              spaces=spaces))
    asked = transactions.write(lambda s: create_trials(s, who, AskRequest(name, count=count), limits=limits,
                                                       spaces=spaces))
    return [dict(trial.params) for trial in asked.trials]
