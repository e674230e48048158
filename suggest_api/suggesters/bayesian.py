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
from scipy.stats import qmc

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
from suggest_api.suggesters.gaussian_process import GaussianProcess, fit_hyperparameters
from suggest_api.suggesters.sobol import sobol_points
from suggest_api.suggesters.warping import CubeGeometry, OutputWarp

Array = npt.NDArray[np.float64]

#: The widest cube a study may ask the GP to model: an ask at 1,000 columns took 1.3 s on a 2-core machine
#: (at 2,000: 3.5 s), and a GP learns little from a few hundred trials in that many dimensions anyway.
MAX_MODEL_COLUMNS = 1000
#: Candidates of the acquisition sweep: Sobol points, plus this many perturbations of each best point.
_SWEEP = 2048
_PERTURBED_PER_POINT = 64
_PERTURBED_CENTRES = 5
_PERTURBATION_SCALES = (0.005, 0.02, 0.08)
#: Local searches from the best candidates.
_STARTS = 8
#: Running trials beyond this many (the most recent are kept) are not modelled as pending.
_MAX_PENDING = 128
#: Hyperparameters are fitted on at most this many of the modelled points (chosen as the history cap
#: chooses): the fit costs O(n^3) per step, and a hundred points pin length scales down well.
_FIT_POINTS = 100
#: Tries at a random point before accepting a repeat, when every ranked candidate is taken.
_FALLBACK_TRIES = 256


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


def _key(point: Array) -> bytes:
    return np.asarray(point, dtype=np.float64).tobytes()


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
        taken.add(_key(point))
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
                 np.array(failed).reshape(-1, d), np.array(pending[-_MAX_PENDING:]).reshape(-1, d),
                 frozenset(taken))


def _kept_rows(values: Array, total: int, cap: int) -> npt.NDArray[np.intp]:
    """Rows (of `total`, the first len(values) of which have values) kept under the history cap: the best
    cap // 2 by value, then an even subsample, in trial order, of the others."""
    if total <= cap:
        return np.arange(total)
    best = np.argsort(values, kind="stable")[: cap // 2]
    rest = np.setdiff1d(np.arange(total), best)
    picks = rest[np.linspace(0, len(rest) - 1, cap - len(best)).round().astype(np.intp)]
    return np.sort(np.concatenate([best, picks]))


class BayesianSuggester:
    """GP-based suggestions after a Sobol initial design; see the module docstring for the algorithm."""

    needs_history = True
    costly = True

    def __init__(self, *, n_initial: int = 10, acquisition: str = "ei", pending: str = "kriging_believer",
                 ucb_beta: float = 2.0, max_history: int = 300) -> None:
        self.n_initial = n_initial
        self.acquisition = acquisition
        self.pending = pending
        self.ucb_beta = ucb_beta
        self.max_history = max_history

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
        data = _collect(space, request.history, request.goal)
        taken = set(data.taken)
        out: list[dict[str, Any]] = []
        planner: _Planner | None = None
        for j in range(request.count):
            n_observed = len(data.values)
            initial = request.made + j < self.n_initial and n_observed < self.n_initial
            if initial or n_observed < 2:
                point = self._initial_point(request, j, taken)
            else:
                if planner is None:
                    planner = _Planner(self, request, data)
                point = planner.next_point(taken)
            taken.add(_key(point))
            out.append(space.decode(point))
        return out

    def _initial_point(self, request: SuggestRequest, j: int, taken: set[bytes]) -> Array:
        space = request.space
        point = space.encode(space.decode(sobol_points(space, request.seed, request.made + j, 1)[0]))
        if _key(point) in taken:
            point = _fresh_point(space, request.rngs[j], taken, point)
        return point


def _fresh_point(space: SearchSpace, rng: np.random.Generator, taken: set[bytes], default: Array) -> Array:
    """A uniformly random point no trial has, or `default` when none turns up (a small, used-up space)."""
    for _ in range(_FALLBACK_TRIES):
        point = space.encode(space.decode(rng.random(space.dimension)))
        if _key(point) not in taken:
            return point
    return default


class _Planner:
    """The fitted model of one ask, conditioned on pending points, choosing the batch point by point."""

    def __init__(self, options: BayesianSuggester, request: SuggestRequest, data: _Data) -> None:
        self.options = options
        self.space = request.space
        self.rng = request.rng
        self.deadline = request.deadline
        self.geometry = CubeGeometry(self.space)
        points = np.vstack([data.observed, data.failed])
        order = _kept_rows(data.values, len(points), options.max_history)
        warp = OutputWarp(data.values)
        scores = warp(data.values)
        worst = float(scores.max())
        targets = np.concatenate([scores, np.full(len(data.failed), worst)])
        self.best = float(scores.min())
        self.observed_scores = scores
        kept_observed = int(np.searchsorted(order, len(data.values)))  # observed rows first, failed after
        fit_rows = order[_kept_rows(targets[order[:kept_observed]], len(order), _FIT_POINTS)]
        hyper = fit_hyperparameters(points[fit_rows], targets[fit_rows], deadline=self.deadline)
        self.model = GaussianProcess(points[order], targets[order], hyper)
        self._add_pending(data.pending)
        best_rows = np.argsort(scores, kind="stable")[:_PERTURBED_CENTRES]
        self.candidates = self._candidates(data.observed[best_rows])

    def _fantasies(self, points: Array) -> Array:
        """Fake values for pending points, per the `pending` option."""
        policy = self.options.pending
        if policy == "kriging_believer":
            return self.model.predict(points).mean if len(points) else np.empty(0)
        scores = self.observed_scores
        lie = {"constant_liar_min": scores.min(), "constant_liar_mean": scores.mean(),
               "constant_liar_max": scores.max()}[policy]
        return np.full(len(points), float(lie))

    def _candidates(self, centres: Array) -> Array:
        d = self.space.dimension
        sweep = qmc.Sobol(d=d, scramble=True, seed=self.rng).random(_SWEEP)
        numeric = self.geometry.numeric_columns
        around = []
        for centre in centres:
            scales = np.resize(np.array(_PERTURBATION_SCALES), _PERTURBED_PER_POINT)[:, None]
            noise = self.rng.standard_normal((_PERTURBED_PER_POINT, d)) * scales * numeric
            around.append(centre + noise)
        return np.vstack([sweep, *around])

    def _acquisition(self) -> Acquisition:
        if self.options.acquisition == "ucb":
            return UpperConfidenceBound(self.model, self.options.ucb_beta)
        if self.options.acquisition == "pi":
            return LogProbabilityOfImprovement(self.model, self.best)
        return LogExpectedImprovement(self.model, self.best)

    def next_point(self, taken: set[bytes]) -> Array:
        """The best untaken point; then conditions the model on it as a pending point."""
        ranked, _ = maximize(self._acquisition(), self.geometry, self.candidates, starts=_STARTS,
                             deadline=self.deadline)
        chosen: Array | None = None
        for u in ranked:
            point = self.space.encode(self.space.decode(u))
            if _key(point) not in taken:
                chosen = point
                break
        if chosen is None:
            fallback = self.space.encode(self.space.decode(ranked[0]))
            chosen = _fresh_point(self.space, self.rng, taken, fallback)
        self._add_pending(chosen[None, :])
        return chosen

    def _add_pending(self, points: Array) -> None:
        """Condition on fantasies at `points`; a fantasy below the incumbent becomes the incumbent, as if
        observed, or a believed improvement would draw every later point of the batch right next to it."""
        if len(points) == 0:
            return
        fantasies = self._fantasies(points)
        self.model = self.model.condition(points, fantasies)
        self.best = min(self.best, float(fantasies.min()))
