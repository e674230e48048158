"""The bayesian suggester's model for a study with several objectives or with outcome constraints.

One GP per objective and one per constraint metric, each fitted as the single-objective GP is (warping,
history cap, priors, restarts: model_support.fit_outcome), on the trials that told that metric:

- Data: completed trials with every objective (smaller is better, by `outcomes.signed`), feasible or not:
  an infeasible trial still says what its objectives are. Constraint metrics are oriented so that feasible
  means "at most the bound" (a ">=" metric and its bound are negated) and each bound is mapped through its
  GP's warp, which is monotone, so P(metric <= bound) is P(score <= warped bound). With one objective, a
  pruned trial gives its objective as bayesian.py says and no constraint metrics. Failed trials are as bad
  as the worst observed value for each objective GP and say nothing to the constraint GPs.
- Acquisition, on top of which log P(feasible) of the constraint GPs is added (a product of probabilities):
  one objective: log EI (or PI, UCB) below the best feasible trial; 2-3 objectives (`multi_objective` auto
  or ehvi): exact log EHVI over the front of the feasible completed trials, with the reference point
  `derived_reference` of that front in score units; 4 objectives or `parego`: ParEGO. While no trial is
  feasible, the probability of feasibility alone is maximized: there is no incumbent to improve on yet.
  UCB is not a log probability: log P(feasible) added to it acts as a barrier in standardized units.
- Pending points (running trials, earlier points of the batch): every GP gets its fantasy there (the
  `pending` option); a pending point whose fantasized constraint scores are all within the bounds joins
  the incumbent or the front as if observed, so the batch spreads instead of stacking on one believed gain.

ParEGO fits one GP to the scalarized values of each point's weight vector (Knowles 2006), rather than
scalarizing the per-objective GPs: the Chebyshev max of normal posteriors is not normal, so its EI would have
to be sampled, and one GP costs less than four. Objectives are normalized after each one's own warp (so
one outlier does not flatten the rest). The first point of an ask fits the hyperparameters; later points
of a batch reuse them with their own targets, which keeps a batch of 8 at one fit instead of 8.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from suggest_api.domain import STALE_REASON, Constraint, ConstraintOp, Objective, Trial, TrialState
from suggest_api.errors import InvalidParams
from suggest_api.multiobjective.dominance import pareto_mask
from suggest_api.multiobjective.hypervolume import derived_reference
from suggest_api.multiobjective.outcomes import metric_values, signed, violation
from suggest_api.space import SearchSpace
from suggest_api.suggesters.acquisition import (
    Acquisition,
    LogExpectedImprovement,
    LogProbabilityOfImprovement,
    UpperConfidenceBound,
    maximize,
)
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.gaussian_process import GaussianProcess, Hyperparameters
from suggest_api.suggesters.model_support import (
    MAX_PENDING,
    PERTURBED_CENTRES,
    STARTS,
    candidate_points,
    fantasies,
    first_untaken,
    fit_outcome,
    point_key,
)
from suggest_api.suggesters.pareto_acquisition import (
    LogExpectedHypervolumeImprovement,
    Sum,
    chebyshev,
    simplex_weights,
)
from suggest_api.suggesters.warping import CubeGeometry, OutputWarp

Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

#: The most objectives exact EHVI serves: its boxes grow as (front size)^(objectives - 1).
MAX_EHVI_OBJECTIVES = 3


class PlannerOptions(Protocol):
    """The suggester's options this planner reads."""

    acquisition: str
    pending: str
    ucb_beta: float
    max_history: int
    multi_objective: str


@dataclass(frozen=True)
class OutcomeData:
    """The history as the models see it (rows of `observed` line up with every per-row array)."""

    observed: Array            # (n, d) completed trials with every objective; pruned ones with reports
    objectives: Array          # (n, m) to minimize
    metrics: Array             # (n, c) constraint metrics, feasible when <= bounds; NaN where not told
    bounds: Array              # (c,)
    feasible: Mask             # (n,) completed and within every constraint
    violation: Array           # (n,) summed violation (outcomes.violation; inf for a pruned row)
    failed: Array              # (f, d) failed trials and pruned ones without reports
    pending: Array             # (p, d) running trials
    taken: frozenset[bytes]    # encodings of every trial's params (stale ones excepted)


def _orientation(constraint: Constraint) -> float:
    return -1.0 if constraint.op is ConstraintOp.AT_LEAST else 1.0


def _metric(trial: Trial, constraint: Constraint) -> float:
    value = (trial.values or {}).get(constraint.name)
    return _orientation(constraint) * float(value) if value is not None else math.nan


def collect_outcomes(space: SearchSpace, history: Sequence[Trial], objectives: Sequence[Objective],
                     constraints: Sequence[Constraint]) -> OutcomeData:
    """Rows for every completed trial with a full result (and, with one objective, pruned ones)."""
    single = len(objectives) == 1
    results = [metric_values(t, objectives) for t in history if t.state is TrialState.COMPLETED]
    firsts = [signed(r, objectives)[0] for r in results if r is not None]
    median = statistics.median_low(firsts) if firsts else math.inf
    observed: list[Array] = []
    rows: list[list[float]] = []
    metrics: list[list[float]] = []
    violations: list[float] = []
    failed: list[Array] = []
    pending: list[Array] = []
    taken: set[bytes] = set()
    for trial in history:
        if trial.state is TrialState.FAILED and trial.fail_reason == STALE_REASON:
            continue
        try:
            point = space.encode(trial.params)
        except InvalidParams:
            continue
        taken.add(point_key(point))
        result = metric_values(trial, objectives) if trial.state is TrialState.COMPLETED else None
        if trial.state is TrialState.RUNNING:
            pending.append(point)
        elif result is not None:
            observed.append(point)
            rows.append(signed(result, objectives))
            metrics.append([_metric(trial, c) for c in constraints])
            violations.append(violation(trial.values, constraints))
        elif trial.state is TrialState.PRUNED and trial.intermediate and single:
            last = signed([trial.intermediate[-1].value], objectives)[0]
            observed.append(point)
            rows.append([max(last, median) if math.isfinite(median) else last])
            metrics.append([math.nan] * len(constraints))
            violations.append(math.inf)
        else:
            failed.append(point)
    d, m, c = space.dimension, len(objectives), len(constraints)
    spent = np.array(violations, dtype=np.float64)
    return OutcomeData(np.array(observed).reshape(-1, d), np.array(rows, dtype=np.float64).reshape(-1, m),
                       np.array(metrics, dtype=np.float64).reshape(len(observed), c),
                       np.array([_orientation(k) * k.bound for k in constraints], dtype=np.float64),
                       spent == 0.0, spent, np.array(failed).reshape(-1, d),
                       np.array(pending[-MAX_PENDING:]).reshape(-1, d), frozenset(taken))


class _Outcome:
    """One GP and the observed scores its constant liar draws on; `bound` in score units for a constraint."""

    def __init__(self, model: GaussianProcess, scores: Array, bound: float = math.inf) -> None:
        self.model = model
        self.scores = scores
        self.bound = bound

    def add_pending(self, points: Array, policy: str) -> Array:
        fake = fantasies(self.model, self.scores, points, policy)
        self.model = self.model.condition(points, fake)
        return fake


def _normalized_scores(objectives: Array) -> Array:
    """Each objective warped on its own (outliers squeezed), then scaled to [0, 1] over the rows."""
    columns = []
    for column in objectives.T:
        scores = OutputWarp(column)(column)
        low, spread = float(scores.min()), float(np.ptp(scores))
        columns.append((scores - low) / spread if spread > 0 else np.zeros_like(scores))
    return np.column_stack(columns)


class OutcomePlanner:
    """The fitted models of one ask, conditioned on pending points, choosing the batch point by point."""

    def __init__(self, options: PlannerOptions, request: SuggestRequest, data: OutcomeData) -> None:
        self.options = options
        self.space = request.space
        self.rng = request.rng
        self.deadline = request.deadline
        self.geometry = CubeGeometry(self.space)
        self.data = data
        m = data.objectives.shape[1]
        self.parego = m > 1 and (options.multi_objective == "parego" or m > MAX_EHVI_OBJECTIVES)
        self.constraints = [self._fit_constraint(k) for k in range(len(data.bounds))
                            if np.isfinite(data.metrics[:, k]).sum() >= 2]
        self.objectives: list[_Outcome] = []
        if self.parego:
            self.normalized = _normalized_scores(data.objectives)
            self.parego_hyper: Hyperparameters | None = None
            self.believed = np.empty((0, 1))  # unused: ParEGO's incumbent is per point
        else:
            for column in data.objectives.T:
                fitted = fit_outcome(data.observed, column, data.failed, cap=options.max_history,
                                     deadline=self.deadline)
                self.objectives.append(_Outcome(fitted.model, fitted.scores))
            #: Score vectors of the feasible results, observed or believed: the incumbent or the front.
            self.believed = np.column_stack([o.scores for o in self.objectives])[data.feasible]
        self.reference: Array | None = None
        self.pending_points = np.empty((0, self.space.dimension))
        self.pending_feasible = np.empty(0, dtype=bool)
        self._add_pending(data.pending)
        self.candidates = candidate_points(self.geometry, self.rng, data.observed[self._centres()])

    def _fit_constraint(self, k: int) -> _Outcome:
        known = np.isfinite(self.data.metrics[:, k])
        values = self.data.metrics[known, k]
        fitted = fit_outcome(self.data.observed[known], values, np.empty((0, self.space.dimension)),
                             cap=self.options.max_history, deadline=self.deadline)
        bound = float(fitted.warp(np.array([self.data.bounds[k]]))[0])
        return _Outcome(fitted.model, fitted.scores, bound)

    def _centres(self) -> npt.NDArray[np.intp]:
        """Rows to perturb in the sweep: the best feasible ones (spread along the front), else the least
        violating ones."""
        data = self.data
        feasible = np.flatnonzero(data.feasible)
        if len(feasible) == 0:
            return np.argsort(data.violation, kind="stable")[:PERTURBED_CENTRES]
        if data.objectives.shape[1] == 1:
            order = np.argsort(data.objectives[feasible, 0], kind="stable")
            return feasible[order[:PERTURBED_CENTRES]]
        front = feasible[pareto_mask(data.objectives[feasible])]
        front = front[np.argsort(data.objectives[front, 0], kind="stable")]
        picks = np.linspace(0, len(front) - 1, min(len(front), PERTURBED_CENTRES)).round().astype(np.intp)
        return np.asarray(front[np.unique(picks)], dtype=np.intp)

    def _feasibility(self) -> list[Acquisition]:
        return [LogProbabilityOfImprovement(c.model, c.bound) for c in self.constraints]

    def _single(self, model: GaussianProcess, best: float) -> Acquisition:
        if self.options.acquisition == "ucb":
            return UpperConfidenceBound(model, self.options.ucb_beta)
        if self.options.acquisition == "pi":
            return LogProbabilityOfImprovement(model, best)
        return LogExpectedImprovement(model, best)

    def _acquisition(self) -> Acquisition:
        feasibility = self._feasibility()
        if self.parego:
            base = self._parego()
        elif len(self.believed) == 0:
            base = None
        elif self.believed.shape[1] == 1:
            base = self._single(self.objectives[0].model, float(self.believed.min()))
        else:
            front = self.believed[pareto_mask(self.believed)]
            if self.reference is None:
                self.reference = derived_reference(front)
            base = LogExpectedHypervolumeImprovement([o.model for o in self.objectives], front, self.reference)
        if base is None:
            if feasibility:
                return Sum(tuple(feasibility))
            # Constraints none of which has two told values yet: improve on the results, feasible or not.
            if self.parego:
                fallback = self._parego(feasible_only=False)
                assert fallback is not None
                return fallback
            return self._single(self.objectives[0].model, float(self.objectives[0].scores.min()))
        return Sum((base, *feasibility)) if feasibility else base

    def _parego(self, *, feasible_only: bool = True) -> Acquisition | None:
        """This point's scalarized GP (a fresh weight vector) and its acquisition below the best feasible
        scalarized value, observed or believed at a pending point; None while nothing is feasible."""
        data = self.data
        weights = simplex_weights(self.rng, data.objectives.shape[1])
        fitted = fit_outcome(data.observed, chebyshev(self.normalized, weights), data.failed,
                             cap=self.options.max_history, deadline=self.deadline, hyper=self.parego_hyper)
        self.parego_hyper = fitted.model.hyper
        outcome = _Outcome(fitted.model, fitted.scores)
        everything = np.ones(len(data.feasible), dtype=bool)
        incumbents = [fitted.scores[data.feasible if feasible_only else everything]]
        if len(self.pending_points):
            fake = outcome.add_pending(self.pending_points, self.options.pending)
            incumbents.append(fake[self.pending_feasible] if feasible_only else fake)
        best = np.concatenate(incumbents)
        if len(best) == 0:
            return None
        return self._single(outcome.model, float(best.min()))

    def next_point(self, taken: set[bytes]) -> Array:
        """The best untaken point; then conditions the models on it as a pending point."""
        ranked, _ = maximize(self._acquisition(), self.geometry, self.candidates, starts=STARTS,
                             deadline=self.deadline)
        chosen = first_untaken(self.space, ranked, self.rng, taken)
        self._add_pending(chosen[None, :])
        return chosen

    def _add_pending(self, points: Array) -> None:
        """Fantasies at `points` for every GP; those believed feasible join the incumbent or the front."""
        if len(points) == 0:
            return
        policy = self.options.pending
        feasible = np.ones(len(points), dtype=bool)
        for constraint in self.constraints:
            feasible &= constraint.add_pending(points, policy) <= constraint.bound
        self.pending_points = np.vstack([self.pending_points, points])
        self.pending_feasible = np.concatenate([self.pending_feasible, feasible])
        if self.objectives:
            fake = np.column_stack([o.add_pending(points, policy) for o in self.objectives])
            self.believed = np.vstack([self.believed, fake[feasible]])
