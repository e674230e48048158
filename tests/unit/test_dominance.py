"""Pareto dominance, crowding, constraint-domination and NSGA-III niching against definitions written out
directly (O(n²) dominance, per-front neighbour gaps), on random point sets with ties and duplicates."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suggest_api.multiobjective.dominance import (
    constrained_ranks,
    crowded_order,
    crowding_distance,
    nondominated_ranks,
    pareto_mask,
)
from suggest_api.multiobjective.reference_points import (
    associate,
    das_dennis,
    default_divisions,
    lattice_size,
    normalize,
    nsga3_select,
)

Array = npt.NDArray[np.float64]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def brute_ranks(points: Array) -> list[int]:
    """Peel fronts: a point is in the current front when no remaining point dominates it."""
    remaining = set(range(len(points)))
    ranks = [-1] * len(points)
    front = 0
    while remaining:
        current = {i for i in remaining if not any(dominates(points[j], points[i]) for j in remaining)}
        for i in current:
            ranks[i] = front
        remaining -= current
        front += 1
    return ranks


@st.composite
def point_sets(draw: st.DrawFn, max_size: int = 30, min_objectives: int = 1) -> Array:
    """Small integer coordinates, so ties and exact duplicates are frequent."""
    m = draw(st.integers(min_objectives, 4))
    n = draw(st.integers(0, max_size))
    values = draw(st.lists(st.integers(0, 5), min_size=n * m, max_size=n * m))
    return np.asarray(values, dtype=float).reshape(n, m)


@settings(max_examples=150, deadline=None)
@given(points=point_sets())
def test_ranks_and_the_pareto_mask_match_the_definition(points: Array) -> None:
    expected = brute_ranks(points)
    assert nondominated_ranks(points).tolist() == expected
    assert pareto_mask(points).tolist() == [r == 0 for r in expected]


def test_ranks_by_hand_for_the_edge_cases() -> None:
    assert nondominated_ranks(np.zeros((0, 2))).tolist() == []
    assert nondominated_ranks([[3.0, 4.0]]).tolist() == [0]
    assert nondominated_ranks([[2.0], [1.0], [2.0], [5.0]]).tolist() == [1, 0, 1, 2]  # one objective: values
    assert nondominated_ranks([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0], [1.0, 2.0]]).tolist() == [0, 0, 0, 1]
    assert pareto_mask([[1.0, 1.0], [1.0, 1.0]]).tolist() == [True, True]  # duplicates both kept
    with pytest.raises(ValueError):
        nondominated_ranks([[math.nan, 1.0]])


@st.composite
def distinct_point_sets(draw: st.DrawFn) -> Array:
    """Every column a permutation of distinct values, so each point's neighbours are unambiguous."""
    m = draw(st.integers(2, 4))
    n = draw(st.integers(0, 25))
    columns = [np.asarray(draw(st.permutations(range(n))), dtype=float) * draw(st.floats(0.1, 100.0))
               for _ in range(m)]
    return np.column_stack(columns) if n else np.zeros((0, m))


def direct_crowding(front: Array) -> list[float]:
    """For each point and objective: the gap between the next smaller and the next larger value of the
    front over the front's range; infinite when it has no neighbour on one side."""
    result = []
    for point in front:
        total = 0.0
        for j, value in enumerate(point):
            below = [v for v in front[:, j] if v < value]
            above = [v for v in front[:, j] if v > value]
            if not below or not above:
                total = math.inf
                break
            total += (min(above) - max(below)) / (front[:, j].max() - front[:, j].min())
        result.append(total)
    return result


@settings(max_examples=100, deadline=None)
@given(points=distinct_point_sets())
def test_crowding_distance_is_the_neighbour_gap_within_each_front(points: Array) -> None:
    distance = crowding_distance(points)
    ranks = brute_ranks(points)
    for front in set(ranks):
        rows = [i for i, r in enumerate(ranks) if r == front]
        assert distance[rows] == pytest.approx(direct_crowding(points[rows]))


def test_crowding_distance_by_hand() -> None:
    front = np.array([[0.0, 4.0], [1.0, 2.0], [3.0, 1.0], [4.0, 0.0]])
    # (3 - 0) / 4 + (4 - 1) / 4 and (4 - 1) / 4 + (2 - 0) / 4
    assert crowding_distance(front).tolist() == [math.inf, 1.5, 1.25, math.inf]
    assert crowding_distance(front[:2]).tolist() == [math.inf, math.inf]
    assert crowding_distance(np.zeros((0, 2))).tolist() == []
    # Given ranks group the points whatever their dominance: here all four are one group.
    assert crowding_distance(front, ranks=[0, 0, 0, 0]).tolist() == [math.inf, 1.5, 1.25, math.inf]
    # Values at the float limit: still finite gaps, no overflow warning (warnings are errors here).
    huge = np.array([[-1.7e308, 1.7e308], [0.0, 0.0], [1.7e308, -1.7e308]])
    assert crowding_distance(huge).tolist() == [math.inf, 2.0, math.inf]


def test_the_crowded_order_is_rank_then_larger_crowding_then_row() -> None:
    points = np.array([[0.0, 4.0], [1.0, 2.0], [3.0, 1.0], [4.0, 0.0], [5.0, 5.0], [6.0, 6.0]])
    assert crowded_order(points, nondominated_ranks(points)).tolist() == [0, 3, 1, 2, 4, 5]


@settings(max_examples=150, deadline=None)
@given(points=point_sets(), data=st.data())
def test_constrained_ranks_put_every_feasible_point_before_any_infeasible_one(points: Array,
                                                                            data: st.DataObject) -> None:
    n = len(points)
    violation = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5, math.inf]),
                                              min_size=n, max_size=n)), dtype=float)
    ranks = constrained_ranks(points, violation)
    feasible = violation == 0.0
    if feasible.any() and (~feasible).any():
        assert ranks[feasible].max() < ranks[~feasible].min()
    assert ranks[feasible].tolist() == brute_ranks(points[feasible])
    for i in np.flatnonzero(~feasible):
        for j in np.flatnonzero(~feasible):
            assert (ranks[i] < ranks[j]) == (violation[i] < violation[j])
    if n:  # ranks are consecutive from 0: one per front, then one per distinct violation
        assert sorted(set(ranks.tolist())) == list(range(int(ranks.max()) + 1))


def test_constrained_ranks_by_hand() -> None:
    points = [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [-9.0, -9.0], [-9.0, -9.0], [0.0, 0.0]]
    assert constrained_ranks(points, [0, 0, 0, 0.5, math.nan, 0.2]).tolist() == [0, 0, 1, 3, 4, 2]
    assert constrained_ranks([[1.0], [0.0]], [1.0, 1.0]).tolist() == [0, 0]  # no feasible point at all
    assert constrained_ranks(np.zeros((0, 3)), []).tolist() == []


def test_das_dennis_is_the_simplex_lattice() -> None:
    for m, p in [(1, 3), (2, 1), (2, 12), (3, 6), (4, 4), (5, 3)]:
        lattice = das_dennis(m, p)
        assert lattice.shape == (lattice_size(m, p), m) == (math.comb(p + m - 1, m - 1), m)
        assert np.allclose(lattice.sum(axis=1), 1.0)
        assert np.allclose(lattice * p, np.round(lattice * p)) and (lattice >= 0).all()
        assert len({tuple(row) for row in lattice}) == len(lattice)
    assert das_dennis(2, 2).tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert [lattice_size(m, default_divisions(m)) for m in (2, 3, 4)] == [13, 28, 35]
    assert lattice_size(6, default_divisions(6)) <= 200
    with pytest.raises(ValueError):
        das_dennis(3, 0)


def test_normalization_maps_the_extreme_points_to_the_unit_vectors() -> None:
    """A plane front with intercepts 2, 5 and 10 above the ideal point (1, 1, 1)."""
    rng = np.random.default_rng(0)
    weights = rng.dirichlet([1.0, 1.0, 1.0], size=20)
    front = np.vstack([np.eye(3), weights]) * [2.0, 5.0, 10.0] + 1.0
    normalized = normalize(front)
    assert normalized[:3] == pytest.approx(np.eye(3))
    assert normalized.sum(axis=1) == pytest.approx(np.ones(23))
    # A degenerate front (every point on one line): the worst values of the front are used instead.
    line = np.array([[0.0, 4.0, 1.0], [1.0, 3.0, 1.0], [2.0, 2.0, 1.0]])
    assert normalize(line).tolist() == [[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]


def test_nsga3_covers_every_reference_direction_of_a_known_front() -> None:
    """A plane front holding each direction of the lattice and random points between them: asked for as
    many survivors as directions, niching takes exactly one point per direction, the one on it."""
    directions = das_dennis(3, 4)
    rng = np.random.default_rng(1)
    between = rng.dirichlet([1.0, 1.0, 1.0], size=40)
    points = np.vstack([between, directions]) * [1.0, 3.0, 7.0]
    ranks = np.zeros(len(points), dtype=np.intp)
    chosen = nsga3_select(points, ranks, len(directions), directions, np.random.default_rng(5))
    assert sorted(chosen.tolist()) == list(range(40, 40 + len(directions)))
    nearest, distance = associate(normalize(points)[chosen], directions)
    assert sorted(nearest.tolist()) == list(range(len(directions)))
    assert distance == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(points=point_sets(max_size=40, min_objectives=2), data=st.data())
def test_nsga3_returns_the_asked_count_of_distinct_points_front_by_front(points: Array,
                                                                       data: st.DataObject) -> None:
    count = data.draw(st.integers(0, len(points) + 2))
    seed = data.draw(st.integers(0, 2**32))
    ranks = nondominated_ranks(points)
    directions = das_dennis(points.shape[1], default_divisions(points.shape[1]))
    chosen = nsga3_select(points, ranks, count, directions, np.random.default_rng(seed))
    assert len(chosen) == min(count, len(points)) == len(set(chosen.tolist()))
    if len(chosen):
        worst = ranks[chosen].max()
        assert set(np.flatnonzero(ranks < worst).tolist()) <= set(chosen.tolist())  # whole fronts first
    again = nsga3_select(points, ranks, count, directions, np.random.default_rng(seed))
    assert again.tolist() == chosen.tolist()


def test_nsga3_spreads_a_front_larger_than_the_population() -> None:
    """Ten survivors from 200 points of a 3-objective front: ten different directions are served, while
    the ten best by any single objective would crowd into one corner."""
    rng = np.random.default_rng(2)
    points = rng.dirichlet([1.0, 1.0, 1.0], size=200)
    directions = das_dennis(3, default_divisions(3))
    chosen = nsga3_select(points, np.zeros(200, dtype=np.intp), 10, directions, np.random.default_rng(0))
    nearest, _ = associate(normalize(points), directions)
    assert len(set(nearest[chosen].tolist())) == 10
