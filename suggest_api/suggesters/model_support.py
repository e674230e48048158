"""What every model the bayesian suggester fits shares: one GP per outcome fitted the same way, the
candidate sweep the acquisition starts from, fantasies at pending points, and the untaken-point choice.

One place for these, so that a study with one objective, one with constraints and one with several
objectives fit each of their GPs alike (same warping, history cap, priors and restarts; see bayesian.py's
docstring for why each step is what it is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import qmc

from suggest_api.space import SearchSpace
from suggest_api.suggesters.gaussian_process import GaussianProcess, Hyperparameters, fit_hyperparameters
from suggest_api.suggesters.warping import CubeGeometry, OutputWarp

Array = npt.NDArray[np.float64]

#: Candidates of the acquisition sweep: Sobol points, plus this many perturbations of each best point.
SWEEP = 2048
PERTURBED_PER_POINT = 64
PERTURBED_CENTRES = 5
PERTURBATION_SCALES = (0.005, 0.02, 0.08)
#: Local searches from the best candidates.
STARTS = 8
#: Running trials beyond this many (the most recent are kept) are not modelled as pending.
MAX_PENDING = 128
#: Hyperparameters are fitted on at most this many of the modelled points (chosen as the history cap
#: chooses): the fit costs O(n^3) per step, and a hundred points pin length scales down well.
FIT_POINTS = 100
#: Tries at a random point before accepting a repeat, when every ranked candidate is taken.
FALLBACK_TRIES = 256


def point_key(point: Array) -> bytes:
    """A hashable identity of an encoded point (params that decode alike encode alike)."""
    return np.asarray(point, dtype=np.float64).tobytes()


def kept_rows(values: Array, total: int, cap: int) -> npt.NDArray[np.intp]:
    """Rows (of `total`, the first len(values) of which have values) kept under the history cap: the best
    cap // 2 by value, then an even subsample, in trial order, of the others."""
    if total <= cap:
        return np.arange(total)
    best = np.argsort(values, kind="stable")[: cap // 2]
    rest = np.setdiff1d(np.arange(total), best)
    picks = rest[np.linspace(0, len(rest) - 1, cap - len(best)).round().astype(np.intp)]
    return np.sort(np.concatenate([best, picks]))


@dataclass(frozen=True)
class FittedOutcome:
    """One outcome's GP on warped scores, the warp (to map bounds and values into score units) and the
    scores of the observed rows."""

    model: GaussianProcess
    warp: OutputWarp
    scores: Array


def fit_outcome(observed: Array, values: Array, failed: Array, *, cap: int, deadline: float | None,
                hyper: Hyperparameters | None = None) -> FittedOutcome:
    """The GP of one outcome to minimize: values warped, failed points as bad as the worst score, the
    history capped, hyperparameters fitted by MAP on at most FIT_POINTS of the kept rows (or `hyper` reused).
    """
    points = np.vstack([observed, failed])
    order = kept_rows(values, len(points), cap)
    warp = OutputWarp(values)
    scores = warp(values)
    worst = float(scores.max())
    targets = np.concatenate([scores, np.full(len(failed), worst)])
    if hyper is None:
        kept_observed = int(np.searchsorted(order, len(values)))  # observed rows first, failed after
        fit_rows = order[kept_rows(targets[order[:kept_observed]], len(order), FIT_POINTS)]
        hyper = fit_hyperparameters(points[fit_rows], targets[fit_rows], deadline=deadline)
    return FittedOutcome(GaussianProcess(points[order], targets[order], hyper), warp, scores)


def fantasies(model: GaussianProcess, scores: Array, points: Array, policy: str) -> Array:
    """Fake scores for pending points, per the `pending` option: the model's mean there (kriging believer)
    or the min / mean / max observed score (constant liar)."""
    if policy == "kriging_believer":
        return model.predict(points).mean if len(points) else np.empty(0)
    lie = {"constant_liar_min": scores.min(), "constant_liar_mean": scores.mean(),
           "constant_liar_max": scores.max()}[policy]
    return np.full(len(points), float(lie))


def candidate_points(geometry: CubeGeometry, rng: np.random.Generator, centres: Array) -> Array:
    """The acquisition sweep: scrambled Sobol points of the cube plus perturbations of each centre."""
    d = geometry.dimension
    sweep = qmc.Sobol(d=d, scramble=True, seed=rng).random(SWEEP)
    numeric = geometry.numeric_columns
    around = []
    for centre in centres:
        scales = np.resize(np.array(PERTURBATION_SCALES), PERTURBED_PER_POINT)[:, None]
        noise = rng.standard_normal((PERTURBED_PER_POINT, d)) * scales * numeric
        around.append(centre + noise)
    return np.vstack([sweep, *around])


def fresh_point(space: SearchSpace, rng: np.random.Generator, taken: set[bytes], default: Array) -> Array:
    """A uniformly random point no trial has, or `default` when none turns up (a small, used-up space)."""
    for _ in range(FALLBACK_TRIES):
        point = space.encode(space.decode(rng.random(space.dimension)))
        if point_key(point) not in taken:
            return point
    return default


def first_untaken(space: SearchSpace, ranked: Array, rng: np.random.Generator, taken: set[bytes]) -> Array:
    """The best-ranked point whose decoded params no trial has; when every ranked candidate is taken, a
    random untaken point, and a repeat only in a used-up discrete space."""
    for u in ranked:
        point = space.encode(space.decode(u))
        if point_key(point) not in taken:
            return point
    fallback = space.encode(space.decode(ranked[0]))
    return fresh_point(space, rng, taken, fallback)
