"""Which params matter for one of a study's metrics: its completed trials read in one read transaction,
the forest and grey relational analysis (suggest_api.importance) run after it, outside the transaction.

Fitting a forest takes most of a second for thousands of trials, and a dashboard asks every few seconds, so
each worker remembers its last answers (`ImportanceCache`, on the Runtime) keyed by the study and a digest
of exactly the trials used: an answer is reused only while no trial was added to them.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from suggest_api.accounts import Principal
from suggest_api.config import Limits
from suggest_api.domain import ConstraintOp, Goal, Trial, TrialState
from suggest_api.errors import InvalidInput
from suggest_api.importance.analysis import Importance, assess
from suggest_api.service import lookup
from suggest_api.service.transactions import Transactions
from suggest_api.space import SearchSpace
from suggest_api.storage import trials
from suggest_api.storage.studies import SpaceCache


@dataclass(frozen=True)
class StudyImportance:
    """The answer: which metric, which way is better for it, and the importance of every param."""

    objective: str
    goal: Goal
    importance: Importance


@dataclass(frozen=True)
class _Inputs:
    """What the read found: the metric, the space and the trials to use (trial order), and their identity."""

    key: Hashable
    metric: str
    goal: Goal
    space: SearchSpace
    used: list[Trial]
    values: list[float]


class ImportanceCache:
    """A worker's last answers, least recently used dropped first; safe to share between its threads."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, Importance] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: Hashable) -> Importance | None:
        with self._lock:
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
            return found

    def put(self, key: Hashable, answer: Importance) -> None:
        with self._lock:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)


def importance(transactions: Transactions, who: Principal, name: str, objective: str | None, *, limits: Limits,
               spaces: SpaceCache, cache: ImportanceCache) -> StudyImportance:
    """Importance of each param for `objective` (default: the study's first objective), or a constraint metric."""
    found = transactions.read(lambda s: _inputs(s, who, name, objective, limits, spaces), budgeted=True)
    answer = cache.get(found.key)
    if answer is None:
        answer = assess(found.space, [t.params for t in found.used], found.values)
        cache.put(found.key, answer)
    return StudyImportance(found.metric, found.goal, answer)


def _inputs(session: Session, who: Principal, name: str, objective: str | None, limits: Limits,
            spaces: SpaceCache) -> _Inputs:
    study = lookup.study_ref(session, who.team_id, name)
    goals = {o.name: o.goal for o in study.objective_list}
    for constraint in study.constraint_list:
        goals.setdefault(constraint.name,
                         Goal.MINIMIZE if constraint.op is ConstraintOp.AT_MOST else Goal.MAXIMIZE)
    metric = study.objective_list[0].name if objective is None else objective
    if metric not in goals:
        known = ", ".join(repr(m) for m in goals)
        raise InvalidInput(f"study {name!r} has no metric {metric!r}; its objectives and constraint metrics are "
                           f"{known}", errors={"objective": [f"not a metric of this study; one of {known}"]})
    scored = [(t, v) for t in trials.history(session, study.id) if t.state is TrialState.COMPLETED
              for v in [_metric(t, metric)] if v is not None]
    newest = scored[-limits.max_importance_trials:] if limits.max_importance_trials > 0 else []
    used, values = [t for t, _ in newest], [v for _, v in newest]
    return _Inputs(_key(study.id, study.created_at, metric, used, values), metric, goals[metric],
                   spaces.of(session, study), used, values)


def _metric(trial: Trial, metric: str) -> float | None:
    """The trial's finite value of the metric, or None: `values[metric]`, or `value` in a plain study."""
    value = trial.values.get(metric) if trial.values is not None else trial.value
    return float(value) if value is not None and math.isfinite(value) else None


def _key(study_id: int, created_at: datetime, metric: str, used: list[Trial], values: list[float]) -> Hashable:
    """The study's identity (an id may be reused after a delete), the metric, and a digest of the trials used.

    A told result never changes, so the numbers and values used identify the answer exactly.
    """
    digest = hashlib.sha256()
    for trial, value in zip(used, values, strict=True):
        digest.update(f"{trial.number}:{value!r};".encode())
    return (study_id, created_at, metric, digest.hexdigest())
