"""A study's Pareto front: the completed, feasible trials no other such trial dominates, and its summary.

Works on each trial's number and told results only (not whole trials), so a study summary can compute its
front from a narrow read of a long study.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from suggest_api.domain import Objective, ParetoSummary
from suggest_api.multiobjective.dominance import pareto_mask
from suggest_api.multiobjective.hypervolume import derived_reference, hypervolume
from suggest_api.multiobjective.outcomes import sign, told_values

#: Hypervolume is computed for fronts of 2 and 3 objectives: in 4 its cost grows fast and its meaning is hard to read.
MAX_HYPERVOLUME_OBJECTIVES = 3


@dataclass(frozen=True)
class Result:
    """A completed, feasible trial's number and its results as stored."""

    number: int
    value: float | None
    values: Mapping[str, float] | None


@dataclass(frozen=True)
class Front:
    """The front's trial numbers (ascending) and their objective vectors, smaller is better in every column."""

    numbers: list[int]
    signed: np.ndarray


def front(results: Sequence[Result], objectives: Sequence[Objective]) -> Front:
    """The non-dominated results: for one objective, every result with the best value."""
    numbers: list[int] = []
    rows: list[list[float]] = []
    signs = [sign(o.goal) for o in objectives]
    for result in results:
        vector = told_values(result.value, result.values, objectives)
        if vector is not None:
            numbers.append(result.number)
            rows.append([v * s for v, s in zip(vector, signs, strict=True)])
    if not rows:
        return Front([], np.empty((0, len(objectives))))
    points = np.asarray(rows, dtype=float)
    mask = pareto_mask(points)
    kept = sorted(zip((n for n, keep in zip(numbers, mask, strict=True) if keep), points[mask], strict=True),
                  key=lambda pair: pair[0])
    return Front([n for n, _ in kept], np.asarray([p for _, p in kept], dtype=float).reshape(-1, len(objectives)))


def summary(found: Front, objectives: Sequence[Objective], reference_point: Sequence[float] | None) -> ParetoSummary:
    """The front's size and hypervolume; the reference point is the study's, or derived from the front."""
    signs = np.array([sign(o.goal) for o in objectives])
    if reference_point is not None:
        signed_reference = np.asarray(reference_point, dtype=float) * signs
    elif len(found.numbers):
        signed_reference = derived_reference(found.signed)
    else:
        return ParetoSummary(size=0, hypervolume=None, reference_point=None,
                             reference_point_derived=True)
    volume = None
    if len(found.numbers) and 2 <= len(objectives) <= MAX_HYPERVOLUME_OBJECTIVES:
        volume = float(hypervolume(found.signed, signed_reference))
    return ParetoSummary(size=len(found.numbers), hypervolume=volume,
                         reference_point=tuple(float(x) for x in signed_reference * signs),
                         reference_point_derived=reference_point is None)
