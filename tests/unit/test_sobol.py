"""The study's Sobol sequence: one coordinate per param, stratified choices, any prefix the same."""

from __future__ import annotations

from collections import Counter

import numpy as np

from suggest_api.space import SearchSpace
from suggest_api.suggesters.sobol import sobol_points
from tests.support.spaces import TRAINING_SPACE


def test_a_window_of_the_sequence_is_the_same_slice_of_a_longer_run() -> None:
    whole = sobol_points(TRAINING_SPACE, 11, 0, 40)
    assert np.array_equal(sobol_points(TRAINING_SPACE, 11, 17, 9), whole[17:26])
    assert not np.array_equal(sobol_points(TRAINING_SPACE, 12, 0, 40), whole)


def test_categoricals_are_exact_one_hots_with_evenly_stratified_choices() -> None:
    space = SearchSpace.from_json({"params": [
        {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
        {"name": "c", "type": "categorical", "choices": ["a", "b", "c", "d"]}]})
    points = sobol_points(space, 3, 0, 64)
    one_hot = points[:, space.slices()["c"]]
    assert set(np.unique(one_hot)) == {0.0, 1.0} and np.all(one_hot.sum(axis=1) == 1.0)
    counts = Counter(space.decode(p)["c"] for p in points)
    assert counts == {"a": 16, "b": 16, "c": 16, "d": 16}  # a power-of-two prefix is perfectly balanced


def test_a_space_of_25_thousand_one_hot_columns_needs_only_25_sobol_dimensions() -> None:
    space = SearchSpace.from_json({"params": [
        {"name": f"c{i}", "type": "categorical", "choices": [f"v{j}" for j in range(1000)]} for i in range(25)]})
    points = sobol_points(space, 1, 5, 3)
    assert points.shape == (3, 25_000)
    for point in points:
        assert space.check_params(space.decode(point)) == {}
