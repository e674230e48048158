"""The bayesian suggester: valid and deterministic suggestions, batches, failures (its regret through the
service: tests/service/test_regret.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest_api.domain import Goal, PluginRef, Report, Trial, TrialState
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.bayesian import BayesianOptions, BayesianSuggester
from suggest_api.suggesters.registry import suggesters
from tests.support.spaces import TRAINING_SPACE
from workloads.problems import PROBLEMS

NOW = datetime(2025, 1, 1, tzinfo=UTC)

MIXED = TRAINING_SPACE
SQUARE = SearchSpace.from_json({"params": [
    {"name": "x", "type": "float", "low": 0.0, "high": 1.0}, {"name": "y", "type": "float", "low": 0.0, "high": 1.0}]})


def trial(number: int, params: Mapping[str, Any], value: float | None = None,
          state: TrialState = TrialState.COMPLETED, reports: Sequence[float] = ()) -> Trial:
    return Trial(number=number, state=state, params=dict(params), value=value, created_at=NOW,
                 intermediate=tuple(Report(step=i, value=v) for i, v in enumerate(reports)))


def ask(history: Sequence[Trial], *, space: SearchSpace = SQUARE, count: int = 1, seed: int = 0,
        goal: Goal = Goal.MINIMIZE, **options: Any) -> list[dict[str, Any]]:
    suggester = BayesianSuggester(**{**BayesianOptions().load({}), **options})
    first = len(history)
    request = SuggestRequest(space=space, goal=goal, seed=seed, numbers=range(first, first + count),
                             made=first, history=history)
    return suggester.suggest(request)


def sobol_history(space: SearchSpace, n: int, objective: Any, seed: int = 1) -> list[Trial]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        params = space.decode(rng.random(space.dimension))
        out.append(trial(i, params, objective(params)))
    return out


def bowl(params: Mapping[str, Any]) -> float:
    return (float(params["x"]) - 0.3) ** 2 + (float(params["y"]) - 0.6) ** 2


def test_registered_with_defaults_shown_in_the_api() -> None:
    ref = suggesters.validate("bayesian", {})
    assert ref == PluginRef(name="bayesian", options={
        "n_initial": 10, "acquisition": "ei", "pending": "kriging_believer", "ucb_beta": 2.0, "max_history": 300,
        "multi_objective": "auto"})
    assert isinstance(suggesters.build(ref), BayesianSuggester)


STATES = st.sampled_from([TrialState.COMPLETED, TrialState.COMPLETED, TrialState.COMPLETED, TrialState.FAILED,
                          TrialState.PRUNED, TrialState.RUNNING])


@st.composite
def histories(draw: st.DrawFn) -> list[Trial]:
    n = draw(st.integers(0, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 1e-9, 1e9]))
    out = []
    for i in range(n):
        state = draw(STATES)
        params = MIXED.decode(rng.random(MIXED.dimension))
        value = float(rng.standard_normal() * scale) if state is TrialState.COMPLETED else None
        reports = [float(rng.standard_normal())] if state is TrialState.PRUNED and rng.random() < 0.5 else []
        out.append(trial(i, params, value, state, reports))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), seed=st.integers(0, 2**63 - 1), count=st.integers(1, 3),
       acquisition=st.sampled_from(["ei", "ucb", "pi"]), goal=st.sampled_from(list(Goal)))
def test_every_suggestion_fits_the_space(history: list[Trial], seed: int, count: int, acquisition: str,
                                         goal: Goal) -> None:
    suggestions = ask(history, space=MIXED, count=count, seed=seed, goal=goal, acquisition=acquisition,
                      n_initial=3)
    assert len(suggestions) == count
    for params in suggestions:
        assert MIXED.check_params(params) == {}


def test_same_history_and_seed_give_the_same_suggestions() -> None:
    history = sobol_history(MIXED, 15, lambda p: math.log10(p["lr"]) ** 2 + p["dropout"])
    first = ask(history, space=MIXED, count=2, seed=5)
    assert ask(history, space=MIXED, count=2, seed=5) == first
    assert ask(history, space=MIXED, count=2, seed=6) != first


def test_maximize_goes_for_the_maximum() -> None:
    history = sobol_history(SQUARE, 15, lambda p: -bowl(p))
    (best,) = ask(history, goal=Goal.MAXIMIZE)
    assert bowl(best) < 0.01


BRANIN = SearchSpace.from_json(PROBLEMS["branin"].space)


def spread(space: SearchSpace, points: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """Smallest and median distance between the points, in the unit cube."""
    cube = np.array([space.encode(p) for p in points])
    gaps = np.linalg.norm(cube[:, None] - cube[None, :], axis=-1)[np.triu_indices(len(cube), 1)]
    return float(gaps.min()), float(np.median(gaps))


@pytest.mark.parametrize("pending", ["kriging_believer", "constant_liar_min", "constant_liar_mean",
                                     "constant_liar_max"])
def test_a_batch_of_eight_gives_eight_distinct_spread_points(pending: str) -> None:
    """Branin has three minima: a batch probes more than one place instead of copying one optimum."""
    history = sobol_history(BRANIN, 12, PROBLEMS["branin"].objective)
    batch = ask(history, space=BRANIN, count=8, pending=pending)
    assert len({(p["x1"], p["x2"]) for p in batch}) == 8
    smallest, median = spread(BRANIN, batch)
    assert smallest > 0.01 and median > 0.2


def test_running_trials_are_pending_points_not_repeated() -> None:
    """Eight workers asking one at a time while the others still run get distinct, spread points."""
    history = sobol_history(BRANIN, 12, PROBLEMS["branin"].objective)
    for _ in range(8):
        (params,) = ask(history, space=BRANIN)
        history.append(trial(len(history), params, state=TrialState.RUNNING))
    smallest, median = spread(BRANIN, [t.params for t in history[12:]])
    assert smallest > 0.01 and median > 0.2


def test_failed_trials_push_suggestions_away_from_their_region() -> None:
    """The bowl's minimum lies where trials failed: the suggestion moves out of that region."""
    history = [t for t in sobol_history(SQUARE, 16, bowl) if math.dist((t.params["x"], t.params["y"]),
                                                                       (0.3, 0.6)) > 0.2]
    (without,) = ask(history)
    assert math.dist((without["x"], without["y"]), (0.3, 0.6)) < 0.1
    failed = [trial(100 + i, {"x": 0.3 + 0.06 * math.cos(a), "y": 0.6 + 0.06 * math.sin(a)},
                    state=TrialState.FAILED) for i, a in enumerate(np.linspace(0, 2 * math.pi, 7)[:-1])]
    failed.append(trial(200, {"x": 0.3, "y": 0.6}, state=TrialState.FAILED))
    (params,) = ask(history + failed)
    assert math.dist((params["x"], params["y"]), (0.3, 0.6)) > 0.1


def test_pruned_trials_count_as_no_better_than_the_median() -> None:
    """A pruned trial whose last report looks excellent does not attract the search to its region."""
    history = sobol_history(SQUARE, 14, bowl)
    (alone,) = ask(history)
    pruned = trial(50, {"x": 0.9, "y": 0.1}, state=TrialState.PRUNED, reports=[5.0, -100.0])
    (params,) = ask(history + [pruned])
    assert math.dist((params["x"], params["y"]), (0.9, 0.1)) > 0.3
    assert math.dist((params["x"], params["y"]), (alone["x"], alone["y"])) < 0.1


def test_never_repeats_a_trial_while_the_space_has_room() -> None:
    space = SearchSpace.from_json({"params": [{"name": "n", "type": "int", "low": 1, "high": 3},
                                              {"name": "c", "type": "categorical", "choices": ["a", "b"]}]})
    every = [{"n": n, "c": c} for n in (1, 2, 3) for c in ("a", "b")]
    history = [trial(i, p, float(p["n"])) for i, p in enumerate(every[:5])]
    assert ask(history, space=space, n_initial=1) == [every[5]]
    full = history + [trial(5, every[5], 9.0)]
    (again,) = ask(full, space=space, n_initial=1)
    assert again in every


def test_a_thousand_trial_history_works() -> None:
    rng = np.random.default_rng(0)
    history = [trial(i, params, bowl(params)) for i, params in
               enumerate(SQUARE.decode(u) for u in rng.random((1000, 2)))]
    (params,) = ask(history, max_history=300)
    assert bowl(params) < 1e-3
