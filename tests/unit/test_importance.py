"""Param importance (suggest_api.importance): the encoding, the forest's functional ANOVA checked against
variances computed by hand, grey relational analysis, and both ranking the params that matter first."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from suggest_api.errors import TooFewTrials
from suggest_api.importance.analysis import Importance, assess
from suggest_api.importance.encoding import INACTIVE, Domain, encode
from suggest_api.importance.forest import leaf_boxes, tree_variances
from suggest_api.importance.grey import grey_relational_grades
from suggest_api.space import SearchSpace, Value, sample_uniform

Params = dict[str, Value]

SIX = SearchSpace.from_json({"params": [
    {"name": "x1", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "x2", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "n3", "type": "int", "low": 1, "high": 64, "log": True},
    {"name": "x4", "type": "float", "low": -5.0, "high": 5.0},
    {"name": "c5", "type": "categorical", "choices": ["a", "b", "c"]},
    {"name": "x6", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
]})
CONDITIONAL = SearchSpace.from_json({"params": [
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 1.0, "when": {"optimizer": ["sgd"]}},
    {"name": "lr", "type": "float", "low": 1e-5, "high": 1e-1, "log": True},
]})


def trials_of(space: SearchSpace, count: int, objective: Callable[[Params], float], seed: int = 0,
              noise: float = 1e-3) -> tuple[list[Params], list[float]]:
    rng = np.random.default_rng(seed)
    params = [sample_uniform(space, rng) for _ in range(count)]
    return params, [objective(p) + noise * float(rng.standard_normal()) for p in params]


def by_name(result: Importance) -> dict[str, Any]:
    return {p.name: p for p in result.params}


def top(result: Importance, key: str, count: int = 2) -> set[str]:
    ranked = sorted(result.params, key=lambda p: -float(getattr(p, key)))
    return {p.name for p in ranked[:count]}


# --- encoding -------------------------------------------------------------------------------------

def test_numbers_go_through_the_space_transform_and_choices_to_their_cell_centres() -> None:
    space = SearchSpace.from_json({"params": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
        {"name": "layers", "type": "int", "low": 0, "high": 3},
        {"name": "width", "type": "int", "low": 16, "high": 64, "step": 16},
        {"name": "act", "type": "categorical", "choices": ["relu", "tanh", "gelu", "silu"]},
    ]})
    encoded = encode(space, [{"lr": 1e-2, "layers": 0, "width": 16, "act": "relu"},
                             {"lr": 1.0, "layers": 3, "width": 48, "act": "gelu"}])
    assert encoded.names == ("lr", "layers", "width", "act")
    np.testing.assert_allclose(encoded.columns, [[0.5, 0.125, 0.125, 0.125], [1.0, 0.875, 0.625, 0.625]])
    assert encoded.active.all()
    np.testing.assert_array_equal(encoded.domain.low, [0, 0, 0, 0])
    np.testing.assert_array_equal(encoded.domain.high, [1, 1, 1, 1])
    np.testing.assert_array_equal(encoded.domain.inactive_share, [0, 0, 0, 0])
    assert encoded.choices[0] is None and encoded.choices[3] is not None
    np.testing.assert_array_equal(encoded.choices[3], [0, 2])


def test_an_inactive_conditional_param_sits_in_its_reserved_part_of_the_domain() -> None:
    encoded = encode(CONDITIONAL, [{"optimizer": "sgd", "momentum": 0.9, "lr": 1e-3},
                                   {"optimizer": "adam", "lr": 1e-3}, {"optimizer": "adam", "lr": 1e-2},
                                   {"optimizer": "sgd", "momentum": 0.1, "lr": 1e-2}])
    momentum = encoded.names.index("momentum")
    domain = encoded.domain
    assert domain.low[momentum] == INACTIVE == -1.0 and domain.high[momentum] == 1.0
    assert domain.low[encoded.names.index("lr")] == 0.0  # only conditional params reserve a part
    np.testing.assert_allclose(encoded.columns[:, momentum], [0.9, INACTIVE, INACTIVE, 0.1])
    np.testing.assert_array_equal(encoded.active[:, momentum], [True, False, False, True])
    np.testing.assert_allclose(domain.inactive_share, [0, 0.5, 0])  # inactive in 2 of the 4 trials
    assert domain.parents == ((), (encoded.names.index("optimizer"),), ())


# --- the functional ANOVA of one tree, checked by hand --------------------------------------------

def grid(points: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Cell centres of a points x points grid of the unit square: every cell carries the same volume."""
    centres = (np.arange(points) + 0.5) / points
    return np.array([(a, b) for a in centres for b in centres])


def fitted_tree(x: np.ndarray[Any, np.dtype[np.float64]], y: np.ndarray[Any, np.dtype[np.float64]]) -> Any:
    return DecisionTreeRegressor(random_state=0).fit(x, y).tree_


UNIT = Domain.unit(2)


def test_a_step_in_one_param_is_all_that_params_variance() -> None:
    x = grid(8)
    total, main = tree_variances(fitted_tree(x, (x[:, 0] > 0.5).astype(float)), UNIT)
    assert total == pytest.approx(0.25)  # a fair coin of 0 and 1
    np.testing.assert_allclose(main, [0.25, 0.0], atol=1e-12)


def test_a_pure_interaction_has_no_main_effect() -> None:
    x = grid(8)
    xor = ((x[:, 0] > 0.5) != (x[:, 1] > 0.5)).astype(float)
    total, main = tree_variances(fitted_tree(x, xor), UNIT)
    assert total == pytest.approx(0.25)
    np.testing.assert_allclose(main, [0.0, 0.0], atol=1e-12)


def test_an_additive_function_splits_its_variance_by_the_terms() -> None:
    """y = 2a + b on a grid: var(2a) = 4 var(b), and the tree reproduces the grid exactly."""
    x = grid(16)
    total, main = tree_variances(fitted_tree(x, 2 * x[:, 0] + x[:, 1]), UNIT)
    centres = (np.arange(16) + 0.5) / 16
    assert main[0] == pytest.approx(4 * centres.var()) and main[1] == pytest.approx(centres.var())
    assert total == pytest.approx(main.sum())


def test_being_inactive_is_credited_to_the_parent_not_the_conditional_param() -> None:
    """A child active for choices a and c of its parent: one split on the child tells "parent is b", which the
    parent needs two splits for, so the tree splits on the child. The effect is still the parent's."""
    rng = np.random.default_rng(0)
    choice = rng.integers(0, 3, 600)
    parent = (choice + 0.5) / 3
    child = np.where(choice == 1, INACTIVE, rng.random(600))
    tree = fitted_tree(np.column_stack([parent, child]), (choice == 1).astype(float))
    assert tree.feature[0] == 1  # the root splits on the child
    domain = Domain(np.array([0.0, INACTIVE]), np.ones(2), np.array([0.0, 1 / 3]), ((), (0,)))
    total, main = tree_variances(tree, domain)
    assert total == pytest.approx(2 / 9)  # inactive with measure 1/3: a coin of 1/3 and 2/3
    np.testing.assert_allclose(main, [2 / 9, 0.0], atol=1e-12)


def test_leaf_boxes_tile_the_domain() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((300, 3)) * [1, 2, 1] - [0, 1, 0]
    tree = fitted_tree(x, rng.random(300))
    low, high = np.array([0.0, -1.0, 0.0]), np.array([1.0, 1.0, 1.0])
    lower, upper = leaf_boxes(tree.children_left, tree.children_right, tree.feature, tree.threshold, low, high)
    leaves = tree.children_left < 0
    assert ((lower >= low) & (upper <= high) & (lower <= upper)).all()
    assert np.prod(upper[leaves] - lower[leaves], axis=1).sum() == pytest.approx(np.prod(high - low))
    # Every training point falls in exactly one leaf box, the one the tree sends it to.
    inside = ((x[:, None, :] >= lower[leaves][None]) & (x[:, None, :] <= upper[leaves][None])).all(axis=2)
    assert (inside.sum(axis=1) >= 1).all()
    np.testing.assert_array_equal(np.flatnonzero(leaves)[inside.argmax(axis=1)], tree.apply(x.astype(np.float32)))


# --- the methods on functions with known important params ----------------------------------------

def six(p: Params) -> float:
    return 5 * float(p["x1"]) + 3 * float(p["x2"]) ** 2


def test_both_methods_rank_the_two_params_that_matter_first() -> None:
    result = assess(SIX, *trials_of(SIX, 400, six))
    assert top(result, "forest") == {"x1", "x2"}
    assert top(result, "grey_relational") == {"x1", "x2"}
    assert [p.name for p in result.params[:2]] == ["x1", "x2"]
    shares = by_name(result)
    # var(5 x1) = 25/12 and var(3 x2^2) = 9 (1/5 - 1/9) = 0.8 on the unit square: shares 0.72 and 0.28.
    assert shares["x1"].forest == pytest.approx(25 / 12 / (25 / 12 + 0.8), abs=0.05)
    assert shares["x2"].forest == pytest.approx(0.8 / (25 / 12 + 0.8), abs=0.05)
    assert result.explained_variance > 0.9


def test_a_categorical_that_matters_ranks_first_in_both() -> None:
    costs = {"a": 0.0, "b": 4.0, "c": 1.5}
    result = assess(SIX, *trials_of(SIX, 400, lambda p: costs[str(p["c5"])] + float(p["x4"]) / 5))
    assert [p.name for p in result.params[:2]] == ["c5", "x4"]
    assert top(result, "grey_relational") == {"c5", "x4"}


def test_a_decreasing_relation_is_as_strong_as_an_increasing_one() -> None:
    params, values = trials_of(SIX, 200, lambda p: float(p["x1"]), noise=0.0)
    encoded = encode(SIX, params)
    up = grey_relational_grades(encoded, np.array(values))
    down = grey_relational_grades(encoded, -np.array(values))
    np.testing.assert_allclose(up, down)
    assert up[0] == pytest.approx(1.0)  # x1 is the objective itself
    assert (up[1:] < 0.8).all()


def test_grey_relational_analysis_sees_monotone_relations_only() -> None:
    """A param whose best value is in the middle matters to the forest, hardly to grey relational analysis."""
    result = assess(SIX, *trials_of(SIX, 400, lambda p: (float(p["x1"]) - 0.5) ** 2 + float(p["x2"]) / 20))
    params = by_name(result)
    assert result.params[0].name == "x1" and params["x1"].forest > 0.8
    assert params["x2"].grey_relational > params["x1"].grey_relational


def test_a_conditional_param_that_matters_is_found_where_it_is_active() -> None:
    def loss(p: Params) -> float:
        return (3 * float(p["momentum"]) if "momentum" in p else 1.5) + math.log10(float(p["lr"])) / 20

    params, values = trials_of(CONDITIONAL, 300, loss)
    result = assess(CONDITIONAL, params, values)
    found = by_name(result)
    assert result.params[0].name == "momentum"
    assert found["momentum"].active_trials == sum("momentum" in p for p in params) < 300
    assert found["lr"].active_trials == found["optimizer"].active_trials == 300
    assert found["momentum"].grey_relational > found["lr"].grey_relational


def test_a_conditional_param_that_does_not_matter_is_not_credited_with_its_parents_effect() -> None:
    """momentum is inactive exactly when the optimizer is not sgd, and the optimizer matters: a tree may split on
    either to tell sgd apart, and the effect must go to the optimizer every time."""
    costs = {"sgd": 0.0, "adam": 3.0}
    params, values = trials_of(CONDITIONAL, 300, lambda p: costs[str(p["optimizer"])] - math.log10(float(p["lr"])))
    result = assess(CONDITIONAL, params, values)
    assert [p.name for p in result.params] == ["optimizer", "lr", "momentum"]
    # Not 0: a greedy split may group a few sgd trials of tiny momentum with adam, which the tree then predicts.
    assert by_name(result)["momentum"].forest < 0.05


def test_a_param_that_never_varies_gets_nothing() -> None:
    params, values = trials_of(SIX, 100, six)
    for p in params:
        p["x4"] = 1.0
    found = by_name(assess(SIX, params, values))
    assert found["x4"].forest == 0.0 and found["x4"].grey_relational == 0.0


# --- the answer's guarantees ----------------------------------------------------------------------

@pytest.mark.parametrize("count", [2, 3, 30, 500])
def test_shares_sum_to_one_and_grades_stay_in_the_unit_interval(count: int) -> None:
    result = assess(SIX, *trials_of(SIX, count, six, seed=count))
    assert result.trials_used == count and result.trees == 64 and result.distinguishing_coefficient == 0.5
    assert [p.name for p in result.params] == sorted(SIX.names, key=lambda n: (-by_name(result)[n].forest, n))
    assert sum(p.forest for p in result.params) == pytest.approx(1.0)
    assert all(0 <= p.forest <= 1 and 0 <= p.grey_relational <= 1 for p in result.params)
    assert 0 < result.explained_variance <= 1


def test_the_same_trials_give_the_same_numbers() -> None:
    params, values = trials_of(CONDITIONAL, 200, lambda p: float(p["lr"]) + float(p.get("momentum", 0.3)))
    first = assess(CONDITIONAL, params, values)
    again = assess(CONDITIONAL, [dict(p) for p in params], list(values))
    assert first == again


def test_ties_are_ordered_by_name() -> None:
    """Two trials that differ in no param: the forest cannot split, every share is 0, the order is by name."""
    same: Mapping[str, Value] = {"x1": 0.5, "x2": 0.5, "n3": 8, "x4": 0.0, "c5": "a", "x6": 0.01}
    result = assess(SIX, [same, same], [1.0, 2.0])
    assert [p.name for p in result.params] == sorted(SIX.names)
    assert all(p.forest == 0.0 for p in result.params) and result.explained_variance == 0.0


@pytest.mark.parametrize(("values", "have"), [([], 0), ([1.0], 1), ([2.5, 2.5, 2.5], 1)])
def test_too_few_trials_or_a_constant_objective_is_refused(values: list[float], have: int) -> None:
    params = [sample_uniform(SIX, np.random.default_rng(i)) for i in range(len(values))]
    with pytest.raises(TooFewTrials) as refused:
        assess(SIX, params, values)
    assert refused.value.extra == {"needed": 2, "have": have}
    assert refused.value.status == 409 and refused.value.type == "urn:suggest-api:problem:too-few-trials"
