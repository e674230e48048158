"""NSGA-III's survival (Deb & Jain 2014): spread the survivors over reference directions instead of by
crowding, which keeps working with three and more objectives, where nearly every point is non-dominated
and crowding distances stop telling points apart.

The directions are a Das–Dennis simplex lattice. Objectives are normalized by the ideal point and the
intercepts of the hyperplane through the extreme points, each point is associated with its nearest
direction, and the last front is cut by picking, for the least-served directions first, their closest
(or a random) associated point. Given the same inputs and generator state, the result is always the same.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import numpy.typing as npt

from suggest_api.multiobjective.dominance import pareto_mask

Array = npt.NDArray[np.float64]
Indices = npt.NDArray[np.intp]

#: Divisions of each simplex edge by the number of objectives when a study chooses none: 13, 28 and 35
#: directions for 2, 3 and 4 objectives, the size of the populations studies typically use.
DEFAULT_DIVISIONS = {1: 1, 2: 12, 3: 6, 4: 4}
#: For more objectives than the table has: the most divisions whose lattice has at most this many points.
MAX_DEFAULT_DIRECTIONS = 200
#: Weight of the other objectives in the achievement function that finds each axis' extreme point.
ASF_EPSILON = 1e-6
#: Intercepts smaller than this (a degenerate hyperplane) are replaced by the front's worst values.
MIN_INTERCEPT = 1e-10
#: Rows per block when measuring distances to every direction, to bound the memory of one block.
BLOCK = 1024


def lattice_size(objectives: int, divisions: int) -> int:
    """How many directions `das_dennis(objectives, divisions)` has: C(divisions + m - 1, m - 1)."""
    return math.comb(divisions + objectives - 1, objectives - 1)


def default_divisions(objectives: int) -> int:
    """The divisions used when a study sets none, from the number of objectives alone."""
    if objectives < 1:
        raise ValueError("at least one objective")
    if objectives in DEFAULT_DIVISIONS:
        return DEFAULT_DIVISIONS[objectives]
    divisions = 1
    while lattice_size(objectives, divisions + 1) <= MAX_DEFAULT_DIRECTIONS:
        divisions += 1
    return divisions


def das_dennis(objectives: int, divisions: int) -> Array:
    """Every point of the unit simplex whose coordinates are multiples of 1/divisions, in lexicographic
    order of the coordinates (largest first coordinate first): the reference directions."""
    if objectives < 1 or divisions < 1:
        raise ValueError("at least one objective and one division")
    rows = []
    # Stars and bars: choosing m - 1 bar positions among divisions + m - 1 slots gives each composition once.
    for bars in combinations(range(divisions + objectives - 1), objectives - 1):
        edges = (-1, *bars, divisions + objectives - 1)
        rows.append([edges[k + 1] - edges[k] - 1 for k in range(objectives)])
    lattice = np.asarray(rows, dtype=float).reshape(-1, objectives) / divisions
    order = np.lexsort(tuple(-lattice[:, j] for j in reversed(range(objectives))))
    return np.asarray(lattice[order], dtype=np.float64)


def normalize(points: npt.ArrayLike) -> Array:
    """The points translated by their ideal point and divided by the intercepts of the hyperplane through
    the extreme point of each axis; where that plane is degenerate, by the first front's worst values."""
    matrix = np.asarray(points, dtype=float)
    if len(matrix) == 0:
        return matrix.reshape(0, matrix.shape[-1] if matrix.ndim == 2 else 0)
    # Each objective's own scale first, so that huge values cannot overflow the arithmetic below; the
    # normalization is the same on any positive scale of an objective (up to the ASF's small weight).
    scale = np.abs(matrix).max(axis=0)
    scale = np.where((scale > 0.0) & np.isfinite(scale), scale, 1.0)
    translated = matrix / scale
    translated = translated - translated.min(axis=0)
    objectives = matrix.shape[1]
    weights = np.full((objectives, objectives), ASF_EPSILON) + np.eye(objectives) * (1.0 - ASF_EPSILON)
    asf = np.max(translated[None, :, :] / weights[:, None, :], axis=2)  # (axis, point)
    extremes = translated[np.argmin(asf, axis=1)]
    intercepts = _intercepts(extremes)
    if intercepts is None:
        intercepts = translated[pareto_mask(translated)].max(axis=0)
        intercepts = np.where(intercepts > MIN_INTERCEPT, intercepts, translated.max(axis=0))
        intercepts = np.where(intercepts > MIN_INTERCEPT, intercepts, 1.0)
    return np.asarray(translated / intercepts, dtype=np.float64)


def _intercepts(extremes: Array) -> Array | None:
    """Where the hyperplane through the m extreme points crosses each axis; None when it is degenerate."""
    try:
        plane = np.linalg.solve(extremes, np.ones(len(extremes)))
    except np.linalg.LinAlgError:
        return None
    with np.errstate(divide="ignore", over="ignore"):
        intercepts = 1.0 / plane
    if not np.isfinite(intercepts).all() or (intercepts <= MIN_INTERCEPT).any():
        return None
    return np.asarray(intercepts, dtype=np.float64)


def associate(normalized: npt.ArrayLike, directions: npt.ArrayLike) -> tuple[Indices, Array]:
    """For each point, its nearest reference line (the lower index on a tie) and its perpendicular distance."""
    points = np.asarray(normalized, dtype=float)
    units = np.asarray(directions, dtype=float)
    units = units / np.linalg.norm(units, axis=1, keepdims=True)
    nearest = np.zeros(len(points), dtype=np.intp)
    distance = np.zeros(len(points), dtype=float)
    for start in range(0, len(points), BLOCK):
        block = points[start:start + BLOCK]
        along = block @ units.T
        squared = np.maximum(np.sum(block**2, axis=1, keepdims=True) - along**2, 0.0)
        best = np.argmin(squared, axis=1)
        nearest[start:start + BLOCK] = best
        # Measured again from the projection: the difference of squares above loses half the digits.
        foot = along[np.arange(len(block)), best][:, None] * units[best]
        distance[start:start + BLOCK] = np.linalg.norm(block - foot, axis=1)
    return nearest, distance


def nsga3_select(points: npt.ArrayLike, ranks: npt.ArrayLike, count: int, directions: npt.ArrayLike,
                 rng: np.random.Generator) -> Indices:
    """NSGA-III's survivors: `count` distinct row indices (all rows when there are fewer).

    Whole fronts by increasing rank while they fit; the front that does not fit is cut by niching: the
    direction with the fewest survivors (a random one among equals) takes its nearest associated point of
    that front when it has none yet, else a random one; a direction with no candidate left drops out.
    The survivors come best rank first, the niching picks in the order they were made.
    """
    matrix = np.asarray(points, dtype=float)
    groups = np.asarray(ranks, dtype=np.intp)
    if groups.shape != (len(matrix),):
        raise ValueError("ranks must have one entry per point")
    by_rank: Indices = np.asarray(np.argsort(groups, kind="stable"), dtype=np.intp)
    if count <= 0:
        return np.zeros(0, dtype=np.intp)
    if count >= len(matrix):
        return by_rank
    last = groups[by_rank[count - 1]]  # the rank of the front the count ends in
    # Both prefixes of `by_rank`: the whole fronts before the last one, and those plus the last one.
    kept: Indices = by_rank[groups[by_rank] < last]
    pool: Indices = by_rank[groups[by_rank] <= last]
    if len(pool) == count:
        return pool
    nearest, distance = associate(normalize(matrix[pool]), directions)
    niche = np.bincount(nearest[:len(kept)], minlength=len(np.atleast_2d(directions)))
    # Candidates of the last front per direction, nearest first (ties: earlier row).
    candidates: dict[int, list[int]] = {}
    for k in sorted(range(len(kept), len(pool)), key=lambda k: (distance[k], pool[k])):
        candidates.setdefault(int(nearest[k]), []).append(k)
    picks: list[int] = []
    while len(kept) + len(picks) < count:
        open_directions = np.array(sorted(candidates), dtype=np.intp)
        fewest = open_directions[niche[open_directions] == niche[open_directions].min()]
        direction = int(fewest[int(rng.integers(len(fewest)))])
        members = candidates[direction]
        k = members.pop(0 if niche[direction] == 0 else int(rng.integers(len(members))))
        if not members:
            del candidates[direction]
        niche[direction] += 1
        picks.append(int(pool[k]))
    return np.concatenate([kept, np.asarray(picks, dtype=np.intp)]).astype(np.intp)
