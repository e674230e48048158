"""Value objects shared by suggesters, storage and the API: no Flask, no SQL here."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from suggest_api.space import SearchSpace


class TrialState(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PRUNED = "pruned"

    @property
    def finished(self) -> bool:
        return self is not TrialState.RUNNING


#: The `fail_reason` of a running trial failed by the reaper because its heartbeats stopped.
STALE_REASON = "stale"


class Goal(enum.StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


@dataclass(frozen=True)
class Objective:
    """One number a study optimizes: the metric's name and which way is better."""

    name: str
    goal: Goal


class ConstraintOp(enum.StrEnum):
    AT_MOST = "<="
    AT_LEAST = ">="


@dataclass(frozen=True)
class Constraint:
    """An outcome constraint: a trial is feasible when its metric `name` satisfies `op bound`."""

    name: str
    op: ConstraintOp
    bound: float

    def violation(self, value: float) -> float:
        """How far `value` is outside the bound (0 when it satisfies it), in the metric's units."""
        excess = value - self.bound if self.op is ConstraintOp.AT_MOST else self.bound - value
        return max(excess, 0.0)


@dataclass(frozen=True, kw_only=True)
class Report:
    """An intermediate value and what the study's pruner answered to it (None: the study has no pruner)."""

    step: int
    value: float
    #: The trial's best value up to and including this step, by the study's goal.
    best: float | None = None
    prune: bool | None = None
    reason: str | None = None
    #: The highest successive-halving rung this report filled (None: it filled none).
    rung: int | None = None


@dataclass(frozen=True, kw_only=True)
class Trial:
    number: int
    state: TrialState
    params: Mapping[str, Any]
    value: float | None = None
    created_at: datetime
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    #: While running: when the trial fails as stale unless renewed (the database's clock, naive UTC).
    lease_expires_at: datetime | None = None
    fail_reason: str | None = None
    client_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    #: Where the params came from: "suggester", "queue" (enqueued by a user) or "import".
    source: str = "suggester"
    intermediate: tuple[Report, ...] = ()
    #: Every objective and constraint metric as told, by name; None for a study with one objective and no
    #: constraints (its result is `value`). In a multi-objective study `value` stays None.
    values: Mapping[str, float] | None = None
    #: Whether the told metrics satisfy every constraint; None when the study has no constraints (or no result).
    feasible: bool | None = None


@dataclass(frozen=True, kw_only=True)
class PluginRef:
    """A suggester or pruner as a study names it: registry name plus validated options."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TrialCounts:
    running: int = 0
    completed: int = 0
    failed: int = 0
    pruned: int = 0

    @property
    def total(self) -> int:
        return self.running + self.completed + self.failed + self.pruned


@dataclass(frozen=True, kw_only=True)
class ParetoSummary:
    """A study's current front: its size and, for 2-3 objectives, its hypervolume against `reference_point`."""

    size: int
    hypervolume: float | None
    #: In each objective's own units; given at creation, or derived from the front when `reference_point_derived`.
    reference_point: tuple[float, ...] | None
    reference_point_derived: bool


@dataclass(frozen=True, kw_only=True)
class Study:
    """A study as stored: its definition plus what the API shows about its progress."""

    name: str
    space: SearchSpace
    #: The first (for most studies the only) objective; `objectives` lists them all.
    objective_name: str
    goal: Goal
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    #: Given at creation for the hypervolume of a multi-objective study, in each objective's units.
    reference_point: tuple[float, ...] | None = None
    suggester: PluginRef
    pruner: PluginRef | None
    seed: int
    heartbeat_timeout: float
    created_at: datetime
    metadata: Mapping[str, Any] | None = None
    trial_counts: TrialCounts = TrialCounts()
    #: The newest time a trial of the study was created, finished or heartbeat; None without trials.
    last_activity_at: datetime | None = None
    queued: int = 0
    best_trial: Trial | None = None
    #: The Pareto front's summary; None for a study with one objective.
    pareto: ParetoSummary | None = None

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1
