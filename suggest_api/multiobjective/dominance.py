"""Pareto dominance for minimization: non-dominated fronts, NSGA-II crowding and constraint-domination.

Every function takes an n×m matrix of objective values, smaller is better (`outcomes.objective_matrix`
gives one), and returns one number per row, so callers index trials by row. All of it is deterministic:
ties are broken by row order, never at random.
"""

from __future__ import annotations

import moocore  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Ranks = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]


def _matrix(points: npt.ArrayLike) -> Array:
    """The points as a float matrix (a 1-d input is one objective per row)."""
    matrix = np.asarray(points, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix.reshape(-1, 1)
    if matrix.ndim != 2:
        raise ValueError("points must be an n×m matrix")
    if np.isnan(matrix).any():
        raise ValueError("points must not be NaN")
    return matrix


def nondominated_ranks(points: npt.ArrayLike) -> Ranks:
    """The front of each point: 0 for the non-dominated ones, 1 for those dominated only by front 0, and so
    on. Equal points share a front; with one objective the fronts are the distinct values, ascending."""
    matrix = _matrix(points)
    if len(matrix) == 0:
        return np.zeros(0, dtype=np.intp)
    if matrix.shape[1] == 0:  # no objective: nothing tells points apart
        return np.zeros(len(matrix), dtype=np.intp)
    return np.asarray(moocore.pareto_rank(matrix), dtype=np.intp)


def pareto_mask(points: npt.ArrayLike) -> Mask:
    """True for the points no other point dominates (the first front; equal points are all kept)."""
    return np.asarray(nondominated_ranks(points) == 0, dtype=np.bool_)


def crowding_distance(points: npt.ArrayLike, ranks: npt.ArrayLike | None = None) -> Array:
    """NSGA-II crowding distance of each point within its front (`ranks`, by default its non-dominated
    front): per objective, the gap between its two neighbours in that front over the front's range, summed.

    Each objective's smallest and largest point of a front get infinity, so a front's extremes survive any
    cut; a front of one or two points is all infinite. An objective constant over the front adds nothing
    to interior points. Sorting is stable, so among equal values the earlier row is the extreme.
    """
    matrix = _matrix(points)
    groups = nondominated_ranks(matrix) if ranks is None else np.asarray(ranks, dtype=np.intp)
    if groups.shape != (len(matrix),):
        raise ValueError("ranks must have one entry per point")
    # Halved so that differences of values near the float limit cannot overflow; the ratios are unchanged.
    half = matrix * 0.5
    distance = np.zeros(len(matrix), dtype=float)
    for rank in np.unique(groups):
        members = np.flatnonzero(groups == rank)
        distance[members] = _front_crowding(half[members])
    return distance


def _front_crowding(front: Array) -> Array:
    size, objectives = front.shape
    distance = np.zeros(size, dtype=float)
    if size <= 2:
        distance[:] = np.inf
        return distance
    for j in range(objectives):
        order = np.argsort(front[:, j], kind="stable")
        column = front[order, j]
        distance[order[0]] = distance[order[-1]] = np.inf
        spread = column[-1] - column[0]
        if spread > 0.0 and np.isfinite(spread):
            distance[order[1:-1]] += (column[2:] - column[:-2]) / spread
    return distance


def constrained_ranks(points: npt.ArrayLike, violations: npt.ArrayLike) -> Ranks:
    """Deb's constraint-domination as ranks: the feasible points (violation 0) by their non-dominated
    fronts among themselves, then every infeasible point, whatever its objectives, by increasing violation,
    one rank per distinct violation (a missing metric, NaN or infinite, ranks last)."""
    matrix = _matrix(points)
    violation = np.asarray(violations, dtype=float).reshape(-1)
    if violation.shape != (len(matrix),):
        raise ValueError("violations must have one entry per point")
    violation = np.where(np.isnan(violation), np.inf, violation)
    feasible = violation <= 0.0
    ranks = np.zeros(len(matrix), dtype=np.intp)
    feasible_ranks = nondominated_ranks(matrix[feasible])
    ranks[feasible] = feasible_ranks
    fronts = int(feasible_ranks.max()) + 1 if feasible_ranks.size else 0
    infeasible = ~feasible
    if infeasible.any():
        levels = np.unique(violation[infeasible])  # sorted, distinct
        ranks[infeasible] = fronts + np.searchsorted(levels, violation[infeasible])
    return ranks


def crowded_order(points: npt.ArrayLike, ranks: npt.ArrayLike) -> Ranks:
    """Row indices best first by NSGA-II's crowded comparison: lower rank, then larger crowding distance
    (within the rank), then the earlier row. Its first k rows are NSGA-II's survivors of size k."""
    groups = np.asarray(ranks, dtype=np.intp)
    crowding = crowding_distance(points, groups)
    rows = np.arange(len(groups))
    return np.asarray(np.lexsort((rows, -crowding, groups)), dtype=np.intp)
