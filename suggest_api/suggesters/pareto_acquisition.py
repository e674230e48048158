"""Acquisitions for several objectives and for outcome constraints, on independent GPs of warped scores.

Expected hypervolume improvement (EHVI). With the region that the current front does not dominate (below
the reference point) cut into disjoint axis-aligned boxes, the improvement of an outcome y is
HVI(y) = sum over boxes of prod_j (u_j - max(l_j, y_j))_+, and when the objectives' posteriors are
independent normals its expectation factors box by box into one-dimensional terms,
E[(u - max(l, y))_+] = g(u) - g(l) with g(a) = E[(a - y)_+] = sigma h((a - mu) / sigma), h the EI function
(Yang et al. 2019, "Efficient computation of expected hypervolume improvement using box decomposition
algorithms"; Emmerich et al. 2011). So EHVI is exact, not sampled, for any number of objectives. The
decomposition used here grids every objective but the last at the front's coordinates and bounds the last
by the best front point dominating the cell's corner, neighbouring cells with the same bound joined: k + 1
boxes for 2 objectives (k front points), at most (k + 1)^2 for 3 (about 260 for a 41-point front), too
many for 4, where ParEGO is used. Every term is kept in log space (log h as in acquisition.py,
log(g(u) - g(l)) via log1mexp, a log-sum-exp over boxes), so far from the front the value is a very
negative number with an informative gradient rather than an underflowed zero.

Probability of feasibility: a constraint GP's log P(c(x) <= bound) is log PI with the bound as the
incumbent, and several are summed (their GPs are independent): added to a log-scale acquisition it
multiplies the improvement by the probability that the point is feasible (Gardner et al. 2014, Gelbart et
al. 2014).

ParEGO (Knowles 2006): the augmented Chebyshev scalarization max_i(w_i f_i) + rho sum_i(w_i f_i) of
objectives normalized to [0, 1], with w drawn uniformly from the simplex per suggested point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from suggest_api.suggesters.acquisition import Acquisition, log1mexp, log_h
from suggest_api.suggesters.gaussian_process import GaussianProcess

Array = npt.NDArray[np.float64]

_LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
#: Knowles's weight of the linear term of the augmented Chebyshev scalarization: enough to prefer, among
#: points with equal worst weighted objective, the one better in the others (no weakly dominated optima).
PAREGO_RHO = 0.05
#: Candidates times boxes evaluated at once: bounds the memory of the (rows, boxes) log-term arrays.
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Sum:
    """Acquisitions added: log-scale values added are probabilities multiplied (EI times P(feasible))."""

    parts: tuple[Acquisition, ...]

    def __call__(self, points: Array, *, gradient: bool = False) -> tuple[Array, Array | None]:
        value = np.zeros(len(points))
        grad = np.zeros(points.shape) if gradient else None
        for part in self.parts:
            v, g = part(points, gradient=gradient)
            value = value + v
            if grad is not None:
                assert g is not None
                grad = grad + g
        return value, grad


@dataclass(frozen=True)
class Boxes:
    """Disjoint boxes covering the region below `reference` that no front point dominates: per objective,
    the intervals [lower, upper) of its axis; per box, which interval of each axis it spans."""

    lower: tuple[Array, ...]
    upper: tuple[Array, ...]
    index: npt.NDArray[np.intp]  # (boxes, objectives)


def non_dominated_boxes(front: Array, reference: Array) -> Boxes:
    """The box decomposition of the non-dominated region (minimization) of `front` below `reference`.

    Every objective but the last is cut at the front's coordinates (from -inf to the reference); in a cell
    of that grid, the points dominating its lower corner in those objectives are exactly those dominating
    any of its points there, so the cell is non-dominated below the smallest last objective among them (the
    reference's when none does). Points not strictly better than the reference bound nothing inside it.
    """
    reference = np.asarray(reference, dtype=np.float64)
    m = len(reference)
    points = np.asarray(front, dtype=np.float64).reshape(-1, m)
    points = np.unique(points[np.all(points < reference, axis=1)], axis=0)
    lower: list[Array] = []
    upper: list[Array] = []
    for axis in range(m - 1):
        cuts = np.unique(points[:, axis])
        lower.append(np.concatenate([[-np.inf], cuts]))
        upper.append(np.concatenate([cuts, [reference[axis]]]))
    grid = np.meshgrid(*[np.arange(len(lo)) for lo in lower], indexing="ij")
    cells = np.stack([g.ravel() for g in grid], axis=1).reshape(-1, m - 1).astype(np.intp)
    corners = np.stack([lower[a][cells[:, a]] for a in range(m - 1)], axis=1).reshape(-1, m - 1)
    dominating = np.all(points[None, :, : m - 1] <= corners[:, None, :], axis=2)
    last = np.where(dominating, points[None, :, m - 1], reference[m - 1]).min(axis=1, initial=reference[m - 1])
    cells, last = _merge_runs(cells, last, lower, upper)
    tops, last_index = np.unique(last, return_inverse=True)
    lower.append(np.full(len(tops), -np.inf))
    upper.append(tops)
    index = np.column_stack([cells, last_index.reshape(-1)]).astype(np.intp)
    return Boxes(tuple(lower), tuple(upper), index)


def _merge_runs(cells: npt.NDArray[np.intp], last: Array, lower: list[Array],
                upper: list[Array]) -> tuple[npt.NDArray[np.intp], Array]:
    """Join neighbouring cells along the last gridded axis that share their other intervals and their
    bound (in place of `lower` and `upper` of that axis): fewer boxes, the same region. Along that axis the
    bound only falls (more points dominate a higher corner), so equal bounds come in runs."""
    keys = np.column_stack([cells[:, :-1], last])
    new_run = np.ones(len(cells), dtype=bool)
    new_run[1:] = np.any(keys[1:] != keys[:-1], axis=1)
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], len(cells)) - 1
    spans = np.column_stack([lower[-1][cells[starts, -1]], upper[-1][cells[ends, -1]]])
    pairs, span_index = np.unique(spans, axis=0, return_inverse=True)
    lower[-1], upper[-1] = pairs[:, 0], pairs[:, 1]
    merged = cells[starts].copy()
    merged[:, -1] = span_index.reshape(-1)
    return merged, last[starts]


@dataclass(frozen=True)
class _Terms:
    """log(g(upper) - g(lower)) per candidate and interval, and its derivatives in the posterior's mean
    and standard deviation (dg/dmu = -Phi(z), dg/dsigma = phi(z))."""

    log: Array
    d_mean: Array | None
    d_std: Array | None


def _interval_terms(lower: Array, upper: Array, mean: Array, std: Array, gradient: bool) -> _Terms:
    zu = (upper[None, :] - mean[:, None]) / std[:, None]
    zl = (lower[None, :] - mean[:, None]) / std[:, None]
    lhu, lhl = log_h(zu), log_h(zl)
    log_f = np.log(std)[:, None] + lhu + log1mexp(lhl - lhu)
    if not gradient:
        return _Terms(log_f, None, None)
    d_mean = np.exp(special.log_ndtr(zl) - log_f) - np.exp(special.log_ndtr(zu) - log_f)
    d_std = np.exp(-0.5 * zu * zu - _LOG_2PI_HALF - log_f) - np.exp(-0.5 * zl * zl - _LOG_2PI_HALF - log_f)
    return _Terms(log_f, d_mean, d_std)


class LogExpectedHypervolumeImprovement:
    """log EHVI over the box decomposition of the front (all in the objective GPs' score units)."""

    def __init__(self, models: Sequence[GaussianProcess], front: Array, reference: Array) -> None:
        self.models = tuple(models)
        self.boxes = non_dominated_boxes(front, reference)
        index = self.boxes.index
        #: Per objective, which box spans which interval: sums box weights into interval weights.
        self._membership = [np.eye(len(up))[index[:, a]] for a, up in enumerate(self.boxes.upper)]

    def __call__(self, points: Array, *, gradient: bool = False) -> tuple[Array, Array | None]:
        posts = [model.predict(points, gradient=gradient) for model in self.models]
        n, boxes = len(points), len(self.boxes.index)
        value = np.empty(n)
        grad = np.zeros(points.shape) if gradient else None
        step = max(1, _CHUNK_ELEMENTS // boxes)
        for start in range(0, n, step):
            rows = slice(start, min(n, start + step))
            terms = [_interval_terms(self.boxes.lower[a], self.boxes.upper[a], post.mean[rows], post.std[rows],
                                     gradient) for a, post in enumerate(posts)]
            total = terms[0].log[:, self.boxes.index[:, 0]]
            for a in range(1, len(terms)):
                total = total + terms[a].log[:, self.boxes.index[:, a]]
            top = total.max(axis=1)
            scaled = np.exp(total - top[:, None])
            mass = scaled.sum(axis=1)
            value[rows] = top + np.log(mass)
            if grad is None:
                continue
            weights = scaled / mass[:, None]
            for a, (t, post) in enumerate(zip(terms, posts, strict=True)):
                assert t.d_mean is not None and t.d_std is not None
                assert post.mean_grad is not None and post.std_grad is not None
                share = weights @ self._membership[a]
                d_mean = (share * t.d_mean).sum(axis=1)
                d_std = (share * t.d_std).sum(axis=1)
                grad[rows] += d_mean[:, None] * post.mean_grad[rows] + d_std[:, None] * post.std_grad[rows]
        return value, grad


def simplex_weights(rng: np.random.Generator, objectives: int) -> Array:
    """A weight vector drawn uniformly from the simplex (ParEGO draws one per suggested point)."""
    return np.asarray(rng.dirichlet(np.ones(objectives)), dtype=np.float64)


def chebyshev(normalized: Array, weights: Array) -> Array:
    """Knowles's augmented Chebyshev scalarization of rows of objectives normalized to [0, 1]."""
    weighted = normalized * weights
    return np.asarray(weighted.max(axis=1) + PAREGO_RHO * weighted.sum(axis=1), dtype=np.float64)
