"""The multi-objective benchmark's problems: their known Pareto-optimal points evaluate to the known fronts, the
constraint separates what it should, and the fixed reference points and optimal hypervolumes fit each other."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from suggest_api.domain import Goal
from suggest_api.space import SearchSpace
from workloads.multi_objective_problems import (
    PROBLEMS,
    ZDT3_SEGMENTS,
    c2_violation,
    dtlz2_objectives,
    n_params,
)


def zdt_point(x1: float, rest: float = 0.0) -> dict[str, float]:
    return {"x1": x1, **{f"x{i}": rest for i in range(2, 11)}}


def dtlz_point(x1: float, x2: float, rest: float = 0.5) -> dict[str, float]:
    return {"x1": x1, "x2": x2, **{f"x{i}": rest for i in range(3, 8)}}


def evaluate(name: str, params: dict[str, float]) -> dict[str, float]:
    result = PROBLEMS[name].evaluate(params)
    assert result is not None
    return result


@pytest.mark.parametrize(("name", "dimension", "objectives", "constraints"), [
    ("zdt1", 10, 2, 0), ("zdt2", 10, 2, 0), ("zdt3", 10, 2, 0), ("dtlz2", 7, 3, 0), ("c2dtlz2", 7, 3, 1)])
def test_dimensions_and_reference_points(name: str, dimension: int, objectives: int, constraints: int) -> None:
    problem = PROBLEMS[name]
    assert SearchSpace.from_json(problem.space).dimension == problem.dimension == dimension
    assert len(problem.objectives) == len(problem.reference_point) == objectives
    assert len(problem.constraints) == constraints
    result = evaluate(name, {p["name"]: 0.3 for p in problem.space["params"]})
    assert set(result) == {o.name for o in problem.objectives} | {c.name for c in problem.constraints}


@pytest.mark.parametrize(("name", "front"), [
    ("zdt1", lambda t: 1 - math.sqrt(t)),
    ("zdt2", lambda t: 1 - t**2),
    ("zdt3", lambda t: 1 - math.sqrt(t) - t * math.sin(10 * math.pi * t)),
])
def test_zdt_pareto_optimal_points_lie_on_the_known_front(name: str, front: Callable[[float], float]) -> None:
    for t in np.linspace(0.0, 1.0, 11):
        result = evaluate(name, zdt_point(float(t)))
        assert result["f1"] == pytest.approx(t)
        assert result["f2"] == pytest.approx(front(float(t)), abs=1e-12)
        # Away from x2..xn = 0 the same f1 costs a larger f2: the point is dominated.
        assert evaluate(name, zdt_point(float(t), rest=0.2))["f2"] > result["f2"]


def test_zdt3_front_segments_are_not_dominated_by_each_other() -> None:
    ends = [evaluate("zdt3", zdt_point(high)) for _, high in ZDT3_SEGMENTS]
    f2 = [e["f2"] for e in ends]
    assert f2 == sorted(f2, reverse=True)  # each segment's end lies lower than the one before: a trade-off
    assert min(f2) == pytest.approx(-0.7733, abs=1e-3)


def test_dtlz2_pareto_optimal_points_lie_on_the_unit_sphere() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x1, x2 = rng.random(2)
        f = np.array(list(evaluate("dtlz2", dtlz_point(float(x1), float(x2))).values()))
        assert np.all(f >= -1e-12)
        assert float(np.sum(f**2)) == pytest.approx(1.0)
        off = np.array(list(evaluate("dtlz2", dtlz_point(float(x1), float(x2), rest=0.9)).values()))
        assert float(np.sum(off**2)) > 1.5  # g = 5 * 0.16 = 0.8: radius 1.8
    assert dtlz2_objectives(np.array([1.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5]), 3) == pytest.approx([0.0, 0.0, 1.0])


def test_c2_dtlz2_feasible_near_the_corners_and_the_centre_only() -> None:
    centre = math.asin(1 / math.sqrt(3)) * 2 / math.pi  # x1 that makes f3 = 1/sqrt(3); x2 = 0.5 makes f1 = f2
    feasible = [dtlz_point(1.0, 0.0), dtlz_point(0.0, 0.0), dtlz_point(0.0, 1.0), dtlz_point(centre, 0.5)]
    problem = PROBLEMS["c2dtlz2"]
    for params in feasible:
        result = evaluate("c2dtlz2", params)
        assert result["violation"] <= 0 and problem.feasible(result)
    # On the front but between a corner and the centre; and a corner's direction far off the front.
    for params in (dtlz_point(0.0, 0.3), dtlz_point(0.0, 0.0, rest=0.0)):
        result = evaluate("c2dtlz2", params)
        assert result["violation"] > 0 and not problem.feasible(result)
    assert c2_violation(np.array([1.0, 0.0, 0.0])) == pytest.approx(-0.16)


def sampled_front(name: str) -> list[dict[str, float] | None]:
    if name.startswith("zdt"):
        return [evaluate(name, zdt_point(float(t))) for t in np.linspace(0, 1, 2001)]
    grid = np.linspace(0, 1, 61)
    return [evaluate(name, dtlz_point(float(a), float(b))) for a in grid for b in grid]


@pytest.mark.parametrize("name", ["zdt1", "zdt2", "zdt3", "dtlz2", "c2dtlz2"])
def test_a_dense_sample_of_the_true_front_nearly_reaches_the_optimal_hypervolume(name: str) -> None:
    problem = PROBLEMS[name]
    assert problem.optimal_hypervolume is not None
    volume = problem.front_hypervolume(sampled_front(name))
    assert volume == pytest.approx(problem.optimal_hypervolume, rel=0.02)
    # Random points reach much less, and only feasible completed results count.
    rng = np.random.default_rng(1)
    random = [problem.evaluate({p["name"]: float(rng.random()) for p in problem.space["params"]}) for _ in range(50)]
    assert 0 < problem.front_hypervolume(random) < 0.8 * volume
    assert problem.front_hypervolume([None, *random]) == problem.front_hypervolume(random)


def test_infeasible_trials_add_no_hypervolume() -> None:
    problem = PROBLEMS["c2dtlz2"]
    infeasible = evaluate("c2dtlz2", dtlz_point(0.0, 0.3))
    assert problem.front_hypervolume([infeasible]) == 0.0
    corner = evaluate("c2dtlz2", dtlz_point(1.0, 0.0))  # (0, 0, 1): the box 1.1 x 1.1 x 0.1
    assert problem.front_hypervolume([infeasible, corner]) == pytest.approx(1.1 * 1.1 * 0.1)


def test_trainer_problem_maximizes_accuracy_and_minimizes_size() -> None:
    problem = PROBLEMS["trainer"]
    assert [(o.name, o.goal) for o in problem.objectives] == [("val_accuracy", Goal.MAXIMIZE),
                                                             ("n_params", Goal.MINIMIZE)]
    assert list(problem.minimized_reference()) == [-0.5, 20_000.0]
    names = {p["name"]: p for p in problem.space["params"]}
    assert "epochs" not in names and names["hidden_size"]["low"] == 4
    # An accurate small network counts; one below the reference accuracy or above its size does not.
    assert problem.front_hypervolume([{"val_accuracy": 0.9, "n_params": 10_000.0}]) == pytest.approx(0.4 * 10_000)
    assert problem.front_hypervolume([{"val_accuracy": 0.4, "n_params": 1_000.0},
                                      {"val_accuracy": 0.99, "n_params": 30_000.0}]) == 0.0


@pytest.mark.parametrize(("hidden", "layers"), [(4, 1), (32, 2), (256, 3)])
def test_n_params_counts_the_trainers_network(hidden: int, layers: int) -> None:
    from suggest_client.torch import build_model, resolve_params

    params = resolve_params({"hidden_size": hidden, "num_layers": layers})
    model = build_model(64, 10, params, seed=0)
    assert n_params(params) == sum(p.numel() for p in model.parameters())


def test_trainer_trial_yields_both_metrics() -> None:
    result = PROBLEMS["trainer"].evaluate({"hidden_size": 16, "num_layers": 1, "optimizer": "adam", "lr": 0.01})
    assert result is not None
    assert result["n_params"] == 64 * 16 + 16 + 16 * 10 + 10
    assert 0.5 < result["val_accuracy"] <= 1.0
