"""The bayesian suggester with several objectives and with outcome constraints: valid, deterministic and
distinct suggestions for EHVI and ParEGO, exact EHVI against Monte Carlo, the probability of feasibility
steering suggestions into the feasible region, and a Pareto front better than random search's on ZDT1."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.stats import qmc

from suggest_api.domain import Constraint, ConstraintOp, Goal, Objective, Report, Trial, TrialState
from suggest_api.multiobjective.dominance import pareto_mask
from suggest_api.multiobjective.hypervolume import hypervolume
from suggest_api.multiobjective.outcomes import is_feasible
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import SuggestRequest, trial_rng
from suggest_api.suggesters.bayesian import BayesianOptions, BayesianSuggester
from suggest_api.suggesters.gaussian_process import GaussianProcess, Hyperparameters
from suggest_api.suggesters.outcome_planner import collect_outcomes
from suggest_api.suggesters.pareto_acquisition import LogExpectedHypervolumeImprovement, non_dominated_boxes
from suggest_api.suggesters.random import RandomSuggester
from tests.support.spaces import TRAINING_SPACE

NOW = datetime(2025, 1, 1, tzinfo=UTC)
Metrics = Callable[[Mapping[str, Any]], dict[str, float]]


def box(d: int) -> SearchSpace:
    return SearchSpace.from_json({"params": [
        {"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0} for i in range(d)]})


def objectives(m: int, goal: Goal = Goal.MINIMIZE) -> tuple[Objective, ...]:
    return tuple(Objective(f"f{i}", goal) for i in range(m))


def told(number: int, params: Mapping[str, Any], values: Mapping[str, float], constraints: Sequence[Constraint] = (),
         single: str | None = None) -> Trial:
    """A completed trial as the service stores it: `values` always, `value` too with one objective."""
    return Trial(number=number, state=TrialState.COMPLETED, params=dict(params), created_at=NOW,
                 values=dict(values), value=values[single] if single else None,
                 feasible=is_feasible(values, constraints) if constraints else None)


def request(space: SearchSpace, history: Sequence[Trial], objs: tuple[Objective, ...], *, count: int = 1,
            seed: int = 0, constraints: tuple[Constraint, ...] = (), deadline: float | None = None) -> SuggestRequest:
    first = len(history)
    return SuggestRequest(space=space, goal=objs[0].goal, seed=seed, numbers=range(first, first + count),
                          made=first, history=history, objectives=objs, constraints=constraints, deadline=deadline)


def suggester(**options: Any) -> BayesianSuggester:
    return BayesianSuggester(**BayesianOptions().load(options))


def many(p: Mapping[str, Any], m: int) -> dict[str, float]:
    """m conflicting smooth objectives of a point of box(d)."""
    x = np.array([float(p[f"x{i}"]) for i in range(len(p))])
    centres = np.linspace(0.15, 0.85, m)
    return {f"f{i}": float(np.sum((x - c) ** 2)) for i, c in enumerate(centres)}


def history_of(space: SearchSpace, n: int, metrics: Metrics, seed: int = 1, constraints: Sequence[Constraint] = (),
               single: str | None = None) -> list[Trial]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        params = space.decode(rng.random(space.dimension))
        out.append(told(i, params, metrics(params), constraints, single))
    return out


def test_the_option_is_validated_and_defaults_to_auto() -> None:
    assert BayesianOptions().load({})["multi_objective"] == "auto"
    assert BayesianOptions().load({"multi_objective": "parego"})["multi_objective"] == "parego"
    assert BayesianOptions().validate({"multi_objective": "nsga"})


def test_collect_orients_objectives_and_constraints() -> None:
    """Maximized objectives are negated, ">=" metrics and bounds are negated, infeasible trials are rows."""
    space = box(1)
    objs = (Objective("f0", Goal.MINIMIZE), Objective("f1", Goal.MAXIMIZE))
    limits = (Constraint("c", ConstraintOp.AT_MOST, 1.0), Constraint("e", ConstraintOp.AT_LEAST, 2.0))
    history = [told(0, {"x0": 0.1}, {"f0": 1.0, "f1": 5.0, "c": 0.5, "e": 3.0}, limits),
               told(1, {"x0": 0.2}, {"f0": 2.0, "f1": 6.0, "c": 4.0, "e": 3.0}, limits),
               Trial(number=2, state=TrialState.FAILED, params={"x0": 0.3}, created_at=NOW),
               Trial(number=3, state=TrialState.RUNNING, params={"x0": 0.4}, created_at=NOW)]
    data = collect_outcomes(space, history, objs, limits)
    np.testing.assert_array_equal(data.objectives, [[1.0, -5.0], [2.0, -6.0]])
    np.testing.assert_array_equal(data.metrics, [[0.5, -3.0], [4.0, -3.0]])
    np.testing.assert_array_equal(data.bounds, [1.0, -2.0])
    np.testing.assert_array_equal(data.feasible, [True, False])
    assert len(data.failed) == 1 and len(data.pending) == 1 and len(data.taken) == 4


def test_one_objective_with_constraints_keeps_pruned_trials_without_metrics() -> None:
    limits = (Constraint("c", ConstraintOp.AT_MOST, 0.0),)
    pruned = Trial(number=1, state=TrialState.PRUNED, params={"x0": 0.5}, created_at=NOW,
                   intermediate=(Report(step=0, value=-50.0),))
    history = [told(0, {"x0": 0.1}, {"loss": 3.0, "c": -1.0}, limits, single="loss"), pruned]
    data = collect_outcomes(box(1), history, (Objective("loss", Goal.MINIMIZE),), limits)
    np.testing.assert_array_equal(data.objectives[:, 0], [3.0, 3.0])  # never better than the median
    assert math.isnan(data.metrics[1, 0]) and data.feasible.tolist() == [True, False]


CASES = [(2, "auto"), (3, "auto"), (4, "auto"), (2, "parego"), (3, "parego"), (4, "ehvi")]


@pytest.mark.parametrize(("m", "mode"), CASES)
def test_suggestions_are_valid_in_bounds_and_deterministic(m: int, mode: str) -> None:
    rng = np.random.default_rng(m)
    history: list[Trial] = []
    for i in range(16):
        params = TRAINING_SPACE.decode(rng.random(TRAINING_SPACE.dimension))
        if i % 7 == 3:
            history.append(Trial(number=i, state=TrialState.FAILED, params=params, created_at=NOW))
        elif i % 7 == 5:
            history.append(Trial(number=i, state=TrialState.RUNNING, params=params, created_at=NOW))
        else:
            lr, dropout = float(params["lr"]), float(params["dropout"])
            values = {f"f{k}": -(math.log10(lr) + 2.0 + 0.5 * k) ** 2 - (dropout - 0.1 * k) ** 2 + 1e6 * k
                      for k in range(m)}
            history.append(told(i, params, values))
    objs = objectives(m, Goal.MAXIMIZE)

    def ask() -> list[dict[str, Any]]:
        return suggester(multi_objective=mode, n_initial=5).suggest(request(TRAINING_SPACE, history, objs, count=2,
                                                                            seed=9))

    first = ask()
    assert len(first) == 2
    for params in first:
        assert TRAINING_SPACE.check_params(params) == {}
    assert ask() == first


VALUES = st.one_of(st.floats(-1e300, 1e300, allow_nan=False), st.sampled_from([0.0, 1.0, -1.0, 1e-300]))
STATES = st.sampled_from([TrialState.COMPLETED, TrialState.COMPLETED, TrialState.FAILED, TrialState.RUNNING,
                          TrialState.PRUNED])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), m=st.integers(1, 4), constrained=st.booleans(), mode=st.sampled_from(["auto", "parego"]),
       count=st.integers(1, 3), seed=st.integers(0, 2**32))
def test_degenerate_histories_still_give_valid_repeatable_points(data: st.DataObject, m: int, constrained: bool,
                                                                 mode: str, count: int, seed: int) -> None:
    """Values from tiny to 1e300, ties, one result or none, infeasible everything: valid points, repeatably."""
    objs = objectives(max(m, 2) if not constrained else m, Goal.MAXIMIZE)
    limits = (Constraint("c", ConstraintOp.AT_MOST, data.draw(VALUES)),) if constrained else ()
    names = [o.name for o in objs] + [c.name for c in limits]
    history = []
    for number in range(data.draw(st.integers(0, 16))):
        state = data.draw(STATES)
        params = TRAINING_SPACE.decode(trial_rng(seed, number).random(TRAINING_SPACE.dimension))
        if state is TrialState.COMPLETED:
            values = {name: data.draw(VALUES) for name in names}
            history.append(told(number, params, values, limits, objs[0].name if len(objs) == 1 else None))
        else:
            history.append(Trial(number=number, state=state, params=params, created_at=NOW))
    first = len(history)

    def ask() -> list[dict[str, Any]]:
        return suggester(multi_objective=mode, n_initial=2).suggest(SuggestRequest(
            space=TRAINING_SPACE, goal=objs[0].goal, seed=seed, numbers=range(first, first + count), made=first,
            history=history, objectives=objs, constraints=limits))

    suggestions = ask()
    assert len(suggestions) == count
    for params in suggestions:
        assert TRAINING_SPACE.check_params(params) == {}
    assert ask() == suggestions


@pytest.mark.parametrize("mode", ["ehvi", "parego"])
def test_a_batch_of_eight_gives_eight_distinct_points(mode: str) -> None:
    space = box(3)
    history = history_of(space, 12, lambda p: many(p, 2))
    batch = suggester(multi_objective=mode).suggest(request(space, history, objectives(2), count=8))
    cube = np.array([space.encode(p) for p in batch])
    assert len({tuple(row) for row in cube}) == 8
    gaps = np.linalg.norm(cube[:, None] - cube[None, :], axis=-1)[np.triu_indices(8, 1)]
    assert gaps.min() > 1e-3


def test_a_late_ask_still_gives_valid_distinct_points() -> None:
    space = box(3)
    history = history_of(space, 20, lambda p: many(p, 3))
    batch = suggester().suggest(request(space, history, objectives(3), count=3, deadline=0.0))
    assert len({tuple(space.encode(p)) for p in batch}) == 3


def sequential(space: SearchSpace, metrics: Metrics, objs: tuple[Objective, ...], n: int, *, seed: int = 0,
               constraints: tuple[Constraint, ...] = (), count: int = 1, **options: Any) -> list[Trial]:
    """A study run in-process: ask the suggester, tell the metrics, `n` trials in all."""
    history: list[Trial] = []
    single = objs[0].name if len(objs) == 1 else None
    while len(history) < n:
        ask = request(space, history, objs, count=min(count, n - len(history)), seed=seed, constraints=constraints)
        for params in suggester(**options).suggest(ask):
            history.append(told(len(history), params, metrics(params), constraints, single))
    return history


def test_suggestions_land_in_the_feasible_half_with_one_objective() -> None:
    """Two basins, the deeper one at x0 = 0.25 where the constraint x0 >= 0.5 forbids it: after the Sobol
    design the suggestions stay in the feasible half and find the other basin's minimum."""
    space = box(2)
    limits = (Constraint("c", ConstraintOp.AT_LEAST, 0.5),)

    def metrics(p: Mapping[str, Any]) -> dict[str, float]:
        left = (p["x0"] - 0.25) ** 2 + (p["x1"] - 0.4) ** 2 - 0.05
        right = (p["x0"] - 0.75) ** 2 + (p["x1"] - 0.4) ** 2
        return {"loss": min(left, right), "c": float(p["x0"])}

    history = sequential(space, metrics, (Objective("loss", Goal.MINIMIZE),), 22, constraints=limits, n_initial=8)
    later = [t.params["x0"] for t in history[8:]]
    assert sum(x >= 0.5 for x in later) >= 0.8 * len(later)
    best = min((t for t in history if t.feasible), key=lambda t: t.value if t.value is not None else math.inf)
    assert math.dist((best.params["x0"], best.params["x1"]), (0.75, 0.4)) < 0.1


def test_suggestions_land_in_the_feasible_half_with_two_objectives() -> None:
    space = box(2)
    limits = (Constraint("c", ConstraintOp.AT_MOST, 0.5),)

    def metrics(p: Mapping[str, Any]) -> dict[str, float]:
        return {**many(p, 2), "c": float(p["x1"])}

    history = sequential(space, metrics, objectives(2), 20, constraints=limits, n_initial=8, count=2)
    later = [t.params["x1"] for t in history[8:]]
    assert sum(x <= 0.5 for x in later) >= 0.8 * len(later)


def test_without_a_feasible_trial_the_probability_of_feasibility_leads() -> None:
    """Every trial so far violates x0 + x1 <= 0.3: the next point goes where feasibility is likely."""
    space = box(2)
    limits = (Constraint("c", ConstraintOp.AT_MOST, 0.3),)
    rng = np.random.default_rng(3)
    history = []
    for i in range(12):
        params = space.decode(0.35 + 0.65 * rng.random(2))
        history.append(told(i, params, {**many(params, 2), "c": float(params["x0"]) + float(params["x1"])}, limits))
    assert not any(t.feasible for t in history)
    for mode in ("ehvi", "parego"):
        (params,) = suggester(multi_objective=mode).suggest(request(space, history, objectives(2), constraints=limits))
        assert float(params["x0"]) + float(params["x1"]) < 0.45, mode


def posterior_models(m: int) -> list[GaussianProcess]:
    """Real GPs on hand-made data, with fixed hyperparameters: a known posterior to integrate."""
    x = np.array([[0.1, 0.2], [0.4, 0.9], [0.8, 0.3], [0.6, 0.6], [0.2, 0.7]])
    return [GaussianProcess(x, np.sin(3.0 * x[:, 0] + k) - x[:, 1] * (k + 1), Hyperparameters(
        np.array([0.3, 0.5]), 1.0, 1e-4)) for k in range(m)]


FRONTS = {2: np.array([[-1.0, 0.5], [-0.5, -0.4], [0.2, -1.2], [0.0, 0.0]]),
          3: np.array([[-1.0, 0.5, 0.0], [-0.5, -0.4, 0.3], [0.2, -1.2, -0.5], [0.3, 0.1, -1.0]])}


@pytest.mark.parametrize("m", [2, 3])
def test_ehvi_matches_a_monte_carlo_estimate(m: int) -> None:
    models = posterior_models(m)
    front = FRONTS[m]
    reference = front.max(axis=0) + 0.5
    points = np.array([[0.5, 0.5], [0.3, 0.3], [0.9, 0.9]])
    log_ehvi, _ = LogExpectedHypervolumeImprovement(models, front, reference)(points)
    base = hypervolume(front, reference)
    normals = stats.norm.ppf(qmc.Sobol(d=m, scramble=True, seed=1).random(4096))
    for point, value in zip(points, log_ehvi, strict=True):
        posts = [model.predict(point[None, :]) for model in models]
        mean = np.array([p.mean[0] for p in posts])
        std = np.array([p.std[0] for p in posts])
        samples = mean + std * normals
        gains = np.array([hypervolume(np.vstack([front, y]), reference) - base for y in samples])
        estimate, error = gains.mean(), gains.std() / math.sqrt(len(gains))
        assert math.exp(value) == pytest.approx(estimate, abs=5 * error + 1e-6, rel=0.05)


@pytest.mark.parametrize("m", [2, 3])
def test_the_boxes_give_the_hypervolume_improvement_of_any_point(m: int) -> None:
    """sum over boxes of prod (u - max(l, y))_+ is HV(front + y) - HV(front), wherever y is."""
    front, reference = FRONTS[m], FRONTS[m].max(axis=0) + 0.5
    boxes = non_dominated_boxes(front, reference)
    lower = np.column_stack([boxes.lower[a][boxes.index[:, a]] for a in range(m)])
    upper = np.column_stack([boxes.upper[a][boxes.index[:, a]] for a in range(m)])
    base = hypervolume(front, reference)
    for y in np.random.default_rng(0).uniform(-2.0, 1.5, (200, m)):
        gain = np.prod(np.clip(upper - np.maximum(lower, y), 0.0, None), axis=1).sum()
        assert gain == pytest.approx(hypervolume(np.vstack([front, y]), reference) - base, abs=1e-12)


@pytest.mark.parametrize("m", [2, 3])
def test_ehvi_gradients_match_finite_differences_and_stay_finite_far_away(m: int) -> None:
    acquisition = LogExpectedHypervolumeImprovement(posterior_models(m), FRONTS[m], FRONTS[m].max(axis=0) + 0.5)
    points = np.array([[0.5, 0.5], [0.33, 0.71], [0.05, 0.95]])
    value, grad = acquisition(points, gradient=True)
    assert grad is not None
    step = 1e-6
    for k in range(2):
        shift = np.zeros(2)
        shift[k] = step
        numeric = (acquisition(points + shift)[0] - acquisition(points - shift)[0]) / (2 * step)
        np.testing.assert_allclose(grad[:, k], numeric, rtol=1e-3, atol=1e-5)
    # Far behind the front the improvement underflows as a number, not as a logarithm.
    hopeless = LogExpectedHypervolumeImprovement(posterior_models(m), FRONTS[m] - 60.0, FRONTS[m].max(axis=0) - 59.5)
    far, far_grad = hopeless(points, gradient=True)
    assert far_grad is not None
    assert np.all(np.isfinite(far)) and np.all(far < -500) and np.all(np.isfinite(far_grad))


def zdt1(p: Mapping[str, Any]) -> dict[str, float]:
    x = np.array([float(p[f"x{i}"]) for i in range(4)])
    g = 1.0 + 9.0 * float(x[1:].mean())
    return {"f0": float(x[0]), "f1": float(g * (1.0 - math.sqrt(x[0] / g)))}


def front_hypervolume(history: Sequence[Trial], objs: tuple[Objective, ...]) -> float:
    points = np.array([[t.values[o.name] for o in objs] for t in history if t.values])
    return hypervolume(points[pareto_mask(points)], np.array([1.1, 11.0]))


def test_zdt1_front_beats_random_search() -> None:
    """40 trials on ZDT1 (4 dims): the EHVI front dominates more than random search's, seed for seed."""
    space, objs = box(4), objectives(2)
    model, random = [], []
    for seed in (0, 1):
        model.append(front_hypervolume(sequential(space, zdt1, objs, 40, seed=seed, count=3), objs))
        ask = request(space, [], objs, count=40, seed=seed)
        points = RandomSuggester().suggest(ask)
        random.append(front_hypervolume([told(i, p, zdt1(p)) for i, p in enumerate(points)], objs))
    assert np.mean(model) > np.mean(random) + 0.5
