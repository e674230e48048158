"""The hypervolume a set of points dominates up to a reference point (minimization): the one number by which
a Pareto front's progress is followed and two searches are compared.

The exact value comes from `moocore` (its 2-d and 3-d algorithms are O(n log n)); this module only decides
which points count and what reference a study without one gets.
"""

from __future__ import annotations

import moocore  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

#: A derived reference lies this fraction of each objective's range beyond the worst value, so the points
#: at the front's ends still add volume.
REFERENCE_MARGIN = 0.1


def hypervolume(points: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """The volume of the region that some point dominates and that dominates `reference`.

    A point not strictly better than the reference in every objective adds nothing (it is dropped, so it
    cannot make the result negative); duplicates and dominated points add nothing either. No points: 0.
    """
    ref = np.asarray(reference, dtype=float).reshape(-1)
    matrix = np.asarray(points, dtype=float)
    if matrix.size == 0:
        return 0.0
    matrix = matrix.reshape(-1, len(ref))
    if np.isnan(ref).any():
        raise ValueError("the reference point must not be NaN")
    inside = matrix[np.all(matrix < ref, axis=1)]  # NaN rows compare False: dropped
    if len(inside) == 0:
        return 0.0
    if len(ref) == 1:
        return float(ref[0] - inside[:, 0].min())
    if not np.isfinite(ref).all() or not np.isfinite(inside).all():
        return float("inf")  # an unbounded side: only an infinite reference or point reaches here
    return float(moocore.hypervolume(inside, ref=ref))


def derived_reference(points: npt.ArrayLike) -> Array:
    """A reference point for a study that gave none: the points' worst value in each objective (the nadir)
    plus 10% of that objective's range, or plus 1 where every point has the same value."""
    matrix = np.asarray(points, dtype=float)
    if matrix.ndim != 2 or len(matrix) == 0:
        raise ValueError("a reference point is derived from at least one point (an n×m matrix)")
    worst = matrix.max(axis=0)
    # Each term scaled before subtracting, so values near the float limit do not overflow the range.
    margin = REFERENCE_MARGIN * worst - REFERENCE_MARGIN * matrix.min(axis=0)
    with np.errstate(over="ignore"):  # a nadir at the float limit gives an infinite reference, as it should
        return np.asarray(np.where(margin > 0.0, worst + margin, worst + 1.0), dtype=np.float64)
