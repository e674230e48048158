"""Acquisition functions (log expected improvement, upper confidence bound, probability of improvement)
and the optimizer that finds their maximum over the points a trial can take.

All three are written for minimization of the GP's (warped) targets and return values to maximize,
with analytic input gradients for L-BFGS-B.

Expected improvement is computed in log form, following Ament et al. (2023, "Unexpected improvements to
expected improvement for Bayesian optimization"): EI = sigma h(z) with h(z) = phi(z) + z Phi(z), and
log h(z) is evaluated through log(erfcx) for z <= -1 (and its asymptote log phi(z) - 2 log|z| in the far
tail), so it stays finite, and its gradient informative, where plain EI underflows to zero, which is
most of the cube once a study has converged.

The optimizer: a scrambled Sobol sweep plus points perturbed around the best observations, the best few
as starts of a local search that alternates L-BFGS-B over the numeric columns (categoricals held exactly
one-hot) with a coordinate search that tries every other choice of each categorical and few-valued
numeric param, until neither improves. Relaxing a one-hot vector and rounding it afterwards would judge
points no trial can have; this way every point compared is a real one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from suggest_api.suggesters.gaussian_process import GaussianProcess
from suggest_api.suggesters.warping import CubeGeometry

Array = npt.NDArray[np.float64]

_LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
_LOG_PI_HALF_HALF = 0.5 * math.log(math.pi / 2.0)
#: Below this z, |z| erfcx(|z| / sqrt 2) sqrt(pi / 2) rounds to 1 and log h takes its asymptote.
_TAIL_Z = -1.0 / math.sqrt(np.finfo(np.float64).eps)


def log1mexp(x: Array) -> Array:
    """log(1 - exp(x)) for x < 0, accurate near 0 and far below it (Maechler 2012)."""
    with np.errstate(divide="ignore"):  # np.where evaluates both branches; each is used where it is exact
        return np.where(x > -math.log(2.0), np.log(-np.expm1(np.minimum(x, -1e-300))), np.log1p(-np.exp(x)))


def log_h(z: Array) -> Array:
    """log(phi(z) + z Phi(z)), finite for every finite z."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu * zu - _LOG_2PI_HALF) + zu * special.ndtr(zu))
    tail = z <= _TAIL_Z
    zt = z[tail]
    out[tail] = -0.5 * zt * zt - _LOG_2PI_HALF - 2.0 * np.log(-zt)
    middle = ~upper & ~tail
    zm = z[middle]
    inner = np.log(special.erfcx(-zm / math.sqrt(2.0)) * -zm) + _LOG_PI_HALF_HALF
    out[middle] = -0.5 * zm * zm - _LOG_2PI_HALF + log1mexp(inner)
    return out


def log_h_slope(z: Array, log_h_z: Array) -> Array:
    """d log h / dz = Phi(z) / h(z), computed in log space."""
    return np.asarray(np.exp(special.log_ndtr(z) - log_h_z), dtype=np.float64)


class Acquisition(Protocol):
    """Values to maximize at points (m, d), and their gradients (m, d) when asked."""

    def __call__(self, points: Array, *, gradient: bool = False) -> tuple[Array, Array | None]: ...


@dataclass(frozen=True)
class LogExpectedImprovement:
    """log E[max(best - f(x), 0)]: the default, well-behaved even where improvement is very unlikely."""

    model: GaussianProcess
    best: float

    def __call__(self, points: Array, *, gradient: bool = False) -> tuple[Array, Array | None]:
        post = self.model.predict(points, gradient=gradient)
        z = (self.best - post.mean) / post.std
        lh = log_h(z)
        value = np.log(post.std) + lh
        if not gradient:
            return value, None
        assert post.mean_grad is not None and post.std_grad is not None
        dz = (-post.mean_grad - z[:, None] * post.std_grad) / post.std[:, None]
        grad = post.std_grad / post.std[:, None] + log_h_slope(z, lh)[:, None] * dz
        return value, grad


@dataclass(frozen=True)
class UpperConfidenceBound:
    """-(mean - sqrt(beta) std): optimism in proportion to uncertainty (a lower bound, for minimizing)."""

    model: GaussianProcess
    beta: float

    def __call__(self, points: Array, *, gradient: bool = False) -> tuple[Array, Array | None]:
        post = self.model.predict(points, gradient=gradient)
        root = math.sqrt(self.beta)
        value = -post.mean + root * post.std
        if not gradient:
            return value, None
        assert post.mean_grad is not None and post.std_grad is not None
        return value, -post.mean_grad + root * post.std_grad


@dataclass(frozen=True)
class LogProbabilityOfImprovement:
    """log P(f(x) < best): greedy, for callers who want a sure small step over a likely large one."""

    model: GaussianProcess
    best: float

    def __call__(self, points: Array, *, gradient: bool = False) -> tuple[Array, Array | None]:
        post = self.model.predict(points, gradient=gradient)
        z = (self.best - post.mean) / post.std
        value = special.log_ndtr(z)
        if not gradient:
            return value, None
        assert post.mean_grad is not None and post.std_grad is not None
        dz = (-post.mean_grad - z[:, None] * post.std_grad) / post.std[:, None]
        slope = np.exp(-0.5 * z * z - _LOG_2PI_HALF - value)
        return value, slope[:, None] * dz


#: Local-search rounds (L-BFGS-B then coordinate moves) per start.
_ROUNDS = 4
_LBFGS_MAXITER = 60
#: Improvements smaller than this (in acquisition units) end a local search.
_TOLERANCE = 1e-9


def _climb(acquisition: Acquisition, points: Array, free: npt.NDArray[np.bool_]) -> Array:
    """L-BFGS-B over the `free` columns of each row of `points`, the other columns held fixed.

    The rows are independent, so their values are summed and climbed in one L-BFGS-B run (as BoTorch does
    with its batch of starts): one vectorized posterior call per step instead of one per start and step.
    """
    fixed = points.copy()

    def negative(z: Array) -> tuple[float, Array]:
        trial = fixed.copy()
        trial[free] = z
        with np.errstate(all="ignore"):
            values, grad = acquisition(trial, gradient=True)
        assert grad is not None
        if not np.all(np.isfinite(values)) or not np.all(np.isfinite(grad)):
            return 1e30, np.zeros_like(z)
        return -float(values.sum()), -grad[free]

    result = optimize.minimize(negative, points[free], jac=True, method="L-BFGS-B",
                               bounds=[(0.0, 1.0)] * int(free.sum()), options={"maxiter": _LBFGS_MAXITER})
    fixed[free] = np.clip(result.x, 0.0, 1.0)
    return fixed


def _evaluate(acquisition: Acquisition, points: Array) -> Array:
    with np.errstate(all="ignore"):
        values, _ = acquisition(points)
    return np.where(np.isfinite(values), values, -np.inf)


def local_search(acquisition: Acquisition, geometry: CubeGeometry, starts: Array, *,
                 deadline: float | None = None) -> tuple[Array, Array]:
    """From projected starts, alternate gradient steps on numeric columns and discrete coordinate moves,
    each start until neither improves it, or no round begins past `deadline` (a `time.monotonic()` value)."""
    points = starts.copy()
    values = _evaluate(acquisition, points)
    searching = np.ones(len(points), dtype=bool)
    for _ in range(_ROUNDS):
        if deadline is not None and time.monotonic() >= deadline:
            break
        improved = np.zeros(len(points), dtype=bool)
        free = np.array([geometry.free_columns(p) for p in points]).reshape(points.shape)
        rows = np.flatnonzero(searching & free.any(axis=1))
        if len(rows):
            moved = geometry.project(_climb(acquisition, points[rows], free[rows]))
            moved_values = _evaluate(acquisition, moved)
            better = moved_values > values[rows] + _TOLERANCE
            points[rows[better]], values[rows[better]] = moved[better], moved_values[better]
            improved[rows[better]] = True
        for i in np.flatnonzero(searching):
            moves = geometry.discrete_moves(points[i])
            if len(moves):
                move_values = _evaluate(acquisition, moves)
                best = int(np.argmax(move_values))
                if move_values[best] > values[i] + _TOLERANCE:
                    points[i], values[i], improved[i] = moves[best], move_values[best], True
        searching = improved
        if not searching.any():
            break
    return points, values


def maximize(acquisition: Acquisition, geometry: CubeGeometry, candidates: Array, *,
             starts: int, deadline: float | None = None) -> tuple[Array, Array]:
    """Points ranked by acquisition value, best first: the local optima reached from the best `starts`
    candidates, then the candidates themselves (fallbacks when better points turn out to be taken).

    Past `deadline` the local search stops, so the ranking is the sweep's, with the optima reached so far.
    """
    projected = geometry.project(candidates)
    values = _evaluate(acquisition, projected)
    order = np.argsort(-values, kind="stable")
    chosen: list[int] = []
    seen: set[bytes] = set()
    for i in order:
        key = projected[i].tobytes()
        if key not in seen:
            seen.add(key)
            chosen.append(int(i))
            if len(chosen) == starts:
                break
    optima, optimum_values = local_search(acquisition, geometry, projected[chosen], deadline=deadline)
    points = np.vstack([optima, projected])
    scores = np.concatenate([optimum_values, values])
    ranking = np.argsort(-scores, kind="stable")
    return points[ranking], scores[ranking]
