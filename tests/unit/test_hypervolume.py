"""The exact hypervolume against computations written out here: inclusion–exclusion over the union of the
points' boxes, and a count of unit cells for integer points; plus cases worked by hand."""

from __future__ import annotations

import math
from itertools import combinations, product

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suggest_api.multiobjective.hypervolume import derived_reference, hypervolume

Array = npt.NDArray[np.float64]


def inclusion_exclusion(points: Array, reference: Array) -> float:
    """|union of boxes [p, reference]| = sum over non-empty subsets S of (-1)^(|S|+1) |intersection of S|,
    where the intersection of boxes is the box from the subset's componentwise maximum."""
    inside = [p for p in points if all(p < reference)]
    total = 0.0
    for size in range(1, len(inside) + 1):
        for subset in combinations(inside, size):
            corner = np.max(subset, axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.maximum(reference - corner, 0.0)))
    return total


def cell_count(points: Array, reference: Array) -> int:
    """For integer points and reference: how many unit cells some point dominates."""
    ranges = [range(int(low), int(high)) for low, high in zip(points.min(axis=0), reference, strict=True)]
    return sum(1 for cell in product(*ranges) if any(all(p <= np.asarray(cell)) for p in points))


@st.composite
def cases(draw: st.DrawFn, dimensions: int, max_size: int = 7) -> tuple[Array, Array]:
    """Points on a coarse grid (duplicates and ties), some beyond the reference in some objective."""
    n = draw(st.integers(0, max_size))
    coordinates = draw(st.lists(st.integers(0, 6), min_size=n * dimensions, max_size=n * dimensions))
    reference = np.asarray(draw(st.lists(st.integers(1, 6), min_size=dimensions, max_size=dimensions)), float)
    return np.asarray(coordinates, dtype=float).reshape(n, dimensions), reference


@settings(max_examples=150, deadline=None)
@given(case=st.one_of(cases(2), cases(3)), scale=st.sampled_from([1.0, 0.37, 250.0]))
def test_hypervolume_is_the_volume_of_the_union_of_boxes(case: tuple[Array, Array], scale: float) -> None:
    points, reference = case
    expected = inclusion_exclusion(points * scale, reference * scale)
    assert hypervolume(points * scale, reference * scale) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(case=st.one_of(cases(2, max_size=12), cases(3, max_size=10)))
def test_hypervolume_counts_the_dominated_unit_cells(case: tuple[Array, Array]) -> None:
    points, reference = case
    inside = points[np.all(points < reference, axis=1)]
    expected = cell_count(inside, reference) if len(inside) else 0
    assert hypervolume(points, reference) == expected


def test_hypervolume_by_hand() -> None:
    # Boxes 3×2 and 1×3.5 overlapping in 1×2.
    assert hypervolume([[1.0, 2.0], [3.0, 0.5]], [4.0, 4.0]) == 7.5
    assert hypervolume([[1.0, 2.0], [3.0, 0.5], [1.0, 2.0], [3.5, 3.5]], [4.0, 4.0]) == 7.5  # copy, dominated
    assert hypervolume([[0.0, 0.0, 0.0]], [1.0, 2.0, 3.0]) == 6.0
    # Two 3-d boxes: 2·2·2 + 1·1·4 − overlap 1·1·2.
    assert hypervolume([[0.0, 0.0, 1.0], [1.0, 1.0, -1.0]], [2.0, 2.0, 3.0]) == 10.0
    assert hypervolume([[0.5], [2.0]], [1.0]) == 0.5  # one objective: a length
    assert hypervolume([[-1.0, 1.0, 2.0, 0.0]], [0.0, 2.0, 3.0, 1.0]) == 1.0  # four objectives


def test_points_not_strictly_inside_the_reference_add_nothing() -> None:
    assert hypervolume([[5.0, 1.0]], [4.0, 4.0]) == 0.0  # beyond it in one objective
    assert hypervolume([[4.0, 1.0]], [4.0, 4.0]) == 0.0  # on its boundary
    assert hypervolume([[5.0, 1.0], [1.0, 3.0]], [4.0, 4.0]) == 3.0  # only the inside one counts
    assert hypervolume(np.zeros((0, 2)), [1.0, 1.0]) == 0.0
    assert hypervolume([], [1.0, 1.0]) == 0.0


def test_the_derived_reference_is_the_nadir_plus_a_tenth_of_the_range() -> None:
    points = np.array([[1.0, 8.0, 5.0], [3.0, 2.0, 5.0], [2.0, 4.0, 5.0]])
    assert derived_reference(points) == pytest.approx([3.2, 8.6, 6.0])  # range 0: plus 1
    assert derived_reference(np.array([[-2.0, 0.0]])).tolist() == [-1.0, 1.0]
    assert hypervolume(points, derived_reference(points)) > 0.0  # every front point adds volume
    huge = np.array([[-1.7e308], [1.7e308]])
    assert math.isinf(derived_reference(huge)[0]) or derived_reference(huge)[0] >= 1.7e308
    with pytest.raises(ValueError):
        derived_reference(np.zeros((0, 2)))
