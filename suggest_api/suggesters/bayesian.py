"""Gaussian-process Bayesian optimization: a Sobol initial design, then a GP model and an acquisition.

Per ask, from the stored history alone (no state between calls, same history and seed -> same points):

1. Initial design: while this suggester has made fewer than `n_initial` trials (and the study holds fewer
   than `n_initial` results), or fewer than 2 trials have values to fit, trial j of an ask is point
   `made + j` of the study's scrambled Sobol sequence.
2. Data: completed trials give their value (negated when maximizing). A pruned trial gives its last
   intermediate value, but never better than the median completed value: it was stopped because it looked
   worse than its peers. A failed trial, and a pruned one without reports, is taken as a point where the
   objective is as bad as the worst value observed: the GP learns to avoid the region instead of
   forgetting it (and re-suggesting it). Trials reaped as stale say nothing about their params (the worker
   vanished) and are ignored. Values are warped (standardize, Yeo-Johnson, standardize; see warping.py).
3. History cap: above `max_history` finished trials the model keeps the best half of the cap by value plus
   an even subsample, in trial order, of the rest: the optimum stays sharp while the rest of the cube keeps
   coverage, and the O(n^3) fit stays bounded as a study grows.
4. Model: the GP of gaussian_process.py. Its hyperparameters are fitted by MAP on at most 100 of the kept
   points (chosen the same way: best half plus an even subsample), then it is conditioned on all of them.
5. Pending points: running trials (the 128 most recent), and the earlier points of the same batch, are
   added as fantasy observations (hyperparameters kept): `kriging_believer` uses the GP's mean there,
   `constant_liar_*` the min / mean / max observed value. A fantasy better than the incumbent becomes the
   incumbent, as if observed. The posterior variance collapses around them and the improvement believed
   there is already claimed, so parallel workers and batch asks get distinct, informative points.
6. Acquisition (log EI by default; UCB or log PI) maximized by acquisition.py; the best point whose decoded
   params do not repeat an existing trial (or an earlier point of the batch) is suggested; when every
   ranked candidate is taken, a random untaken point, and a repeat only in a used-up discrete space.

A study with several objectives or with outcome constraints gets one GP per objective and per constraint
metric, each fitted as above, and EHVI / ParEGO / EI times the probability of feasibility: outcome_planner.py.

Past the request's `deadline` the optional work stops: the fit keeps its first L-BFGS-B start (so a late ask
still gets a model-based point), and the acquisition keeps the sweep's ranking without further local search.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
import numpy as np
import numpy.typing as npt
from marshmallow import fields, validate

from suggest_api.config import Limits
from suggest_api.domain import STALE_REASON, Goal, Trial, TrialState
from suggest_api.errors import InvalidInput, InvalidParams
from suggest_api.space import SearchSpace
from suggest_api.suggesters.acquisition import (
    Acquisition,
    LogExpectedImprovement,
    LogProbabilityOfImprovement,
    UpperConfidenceBound,
    maximize,
)
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.model_support import (
    MAX_PENDING,
    PERTURBED_CENTRES,
    STARTS,
    candidate_points,
    fantasies,
    first_untaken,
    fit_outcome,
    fresh_point,
    point_key,
)
from suggest_api.suggesters.outcome_planner import OutcomeData, OutcomePlanner, collect_outcomes
from suggest_api.suggesters.sobol import sobol_points
from suggest_api.suggesters.warping import CubeGeometry

Array = npt.NDArray[np.float64]

#: The widest cube a study may ask the GP to model: an ask at 1,000 columns took 1.3 s on a 2-core machine
#: (at 2,000: 3.5 s), and a GP learns little from a few hundred trials in that many dimensions anyway.
MAX_MODEL_COLUMNS = 1000


class BayesianOptions(ma.Schema):
    n_initial = fields.Integer(load_default=10, validate=validate.Range(1, 1000), metadata={
        "description": "Trials drawn from the study's Sobol sequence before the model is used."})
    acquisition = fields.String(load_default="ei", validate=validate.OneOf(["ei", "ucb", "pi"]), metadata={
        "description": "Expected improvement (computed in log form), upper confidence bound, "
                       "or probability of improvement."})
    pending = fields.String(load_default="kriging_believer", validate=validate.OneOf(
        ["kriging_believer", "constant_liar_min", "constant_liar_mean", "constant_liar_max"]), metadata={
        "description": "How running trials (and the earlier points of a batch) are accounted for: as "
                       "observations at the model's mean there, or at the min / mean / max value observed."})
    ucb_beta = fields.Float(load_default=2.0, validate=validate.Range(0.0, 100.0), metadata={
        "description": "Exploration weight of UCB: mean - sqrt(beta) * std on standardized values."})
    max_history = fields.Integer(load_default=300, validate=validate.Range(20, 2000), metadata={
        "description": "Finished trials the model keeps at most: the best half of this number by value "
                       "plus an even subsample of the rest, so an ask stays fast as the study grows (its "
                       "cost grows with the cube of this number)."})
    # No load_default: a study that never names it keeps the options it had, and gets "auto".
    multi_objective = fields.String(load_default="auto", validate=validate.OneOf(["auto", "ehvi", "parego"]), metadata={
        "description": "With several objectives: expected hypervolume improvement (2 or 3 objectives, "
                       "exact), ParEGO (a random Chebyshev scalarization per point, then `acquisition`), or "
                       "auto (the default: EHVI up to 3 objectives, ParEGO with 4)."})


@dataclass(frozen=True)
class _Data:
    """The history as the model sees it: encoded points and values to minimize."""

    observed: Array            # (n, d) completed and pruned-with-reports trials
    values: Array              # (n,) their values, to minimize
    failed: Array              # (f, d) failed trials and pruned ones without reports
    pending: Array             # (p, d) running trials
    taken: frozenset[bytes]    # encodings of every trial's params (stale ones excepted)


def _encode_or_none(space: SearchSpace, trial: Trial) -> Array | None:
    """The trial's encoding, or None when its params no longer fit the space (they never reach the model)."""
    try:
        return space.encode(trial.params)
    except InvalidParams:
        return None


def _collect(space: SearchSpace, history: Sequence[Trial], goal: Goal) -> _Data:
    sign = -1.0 if goal is Goal.MAXIMIZE else 1.0
    completed = [t for t in history if t.state is TrialState.COMPLETED and t.value is not None]
    completed_values = [sign * float(t.value) for t in completed if t.value is not None]
    median = statistics.median_low(completed_values) if completed_values else math.inf  # no overflow
    observed: list[Array] = []
    values: list[float] = []
    failed: list[Array] = []
    pending: list[Array] = []
    taken: set[bytes] = set()
    for trial in history:
        if trial.state is TrialState.FAILED and trial.fail_reason == STALE_REASON:
            continue
        point = _encode_or_none(space, trial)
        if point is None:
            continue
        taken.add(point_key(point))
        if trial.state is TrialState.RUNNING:
            pending.append(point)
        elif trial.state is TrialState.COMPLETED and trial.value is not None:
            observed.append(point)
            values.append(sign * float(trial.value))
        elif trial.state is TrialState.PRUNED and trial.intermediate:
            last = sign * float(trial.intermediate[-1].value)
            observed.append(point)
            values.append(max(last, median) if math.isfinite(median) else last)
        else:
            failed.append(point)
    d = space.dimension
    return _Data(np.array(observed).reshape(-1, d), np.array(values, dtype=np.float64),
                 np.array(failed).reshape(-1, d), np.array(pending[-MAX_PENDING:]).reshape(-1, d),
                 frozenset(taken))


class BayesianSuggester:
    """GP-based suggestions after a Sobol initial design; see the module docstring for the algorithm."""

    needs_history = True
    costly = True

    def __init__(self, *, n_initial: int = 10, acquisition: str = "ei", pending: str = "kriging_believer",
                 ucb_beta: float = 2.0, max_history: int = 300, multi_objective: str = "auto") -> None:
        self.n_initial = n_initial
        self.acquisition = acquisition
        self.pending = pending
        self.ucb_beta = ucb_beta
        self.max_history = max_history
        self.multi_objective = multi_objective

    def check(self, space: SearchSpace, limits: Limits) -> None:
        """Refuse a cube too wide to model: every choice of a categorical is a column of the GP's input."""
        if space.dimension > MAX_MODEL_COLUMNS:
            message = (f"the bayesian suggester models at most {MAX_MODEL_COLUMNS:,} unit-cube columns (one per "
                       f"numeric param, one per choice of each categorical); this space has {space.dimension:,}. "
                       "Use fewer categorical choices (or an int param for ordered ones), or the genetic or "
                       "random suggester")
            raise InvalidInput(message, errors={"space": [message]})

    def suggest(self, request: SuggestRequest) -> list[dict[str, Any]]:
        space = request.space
        data: _Data | OutcomeData
        if request.multi_objective or request.constraints:
            data = collect_outcomes(space, request.history, request.objective_list, request.constraints)
        else:
            data = _collect(space, request.history, request.goal)
        taken = set(data.taken)
        out: list[dict[str, Any]] = []
        planner: _Planner | OutcomePlanner | None = None
        for j in range(request.count):
            n_observed = len(data.observed)
            initial = request.made + j < self.n_initial and n_observed < self.n_initial
            if initial or n_observed < 2:
                point = self._initial_point(request, j, taken)
            else:
                if planner is None:
                    planner = (OutcomePlanner(self, request, data) if isinstance(data, OutcomeData)
                               else _Planner(self, request, data))
                point = planner.next_point(taken)
            taken.add(point_key(point))
            out.append(space.decode(point))
        return out

    def _initial_point(self, request: SuggestRequest, j: int, taken: set[bytes]) -> Array:
        space = request.space
        point = space.encode(space.decode(sobol_points(space, request.seed, request.made + j, 1)[0]))
        if point_key(point) in taken:
            point = fresh_point(space, request.rngs[j], taken, point)
        return point


class _Planner:
    """The fitted model of one ask, conditioned on pending points, choosing the batch point by point."""

    def __init__(self, options: BayesianSuggester, request: SuggestRequest, data: _Data) -> None:
        self.options = options
        self.space = request.space
        self.rng = request.rng
        self.deadline = request.deadline
        self.geometry = CubeGeometry(self.space)
        fitted = fit_outcome(data.observed, data.values, data.failed, cap=options.max_history,
                             deadline=self.deadline)
        self.model = fitted.model
        self.best = float(fitted.scores.min())
        self.observed_scores = fitted.scores
        self._add_pending(data.pending)
        best_rows = np.argsort(fitted.scores, kind="stable")[:PERTURBED_CENTRES]
        self.candidates = candidate_points(self.geometry, self.rng, data.observed[best_rows])

    def _acquisition(self) -> Acquisition:
        if self.options.acquisition == "ucb":
            return UpperConfidenceBound(self.model, self.options.ucb_beta)
        if self.options.acquisition == "pi":
            return LogProbabilityOfImprovement(self.model, self.best)
        return LogExpectedImprovement(self.model, self.best)

    def next_point(self, taken: set[bytes]) -> Array:
        """The best untaken point; then conditions the model on it as a pending point."""
        ranked, _ = maximize(self._acquisition(), self.geometry, self.candidates, starts=STARTS,
                             deadline=self.deadline)
        chosen = first_untaken(self.space, ranked, self.rng, taken)
        self._add_pending(chosen[None, :])
        return chosen

    def _add_pending(self, points: Array) -> None:
        """Condition on fantasies at `points`; a fantasy below the incumbent becomes the incumbent, as if
        observed, or a believed improvement would draw every later point of the batch right next to it."""
        if len(points) == 0:
            return
        fake = fantasies(self.model, self.observed_scores, points, self.options.pending)
        self.model = self.model.condition(points, fake)
        self.best = min(self.best, float(fake.min()))
