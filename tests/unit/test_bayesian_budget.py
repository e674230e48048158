"""The bayesian suggester's time budget: past the request's deadline optional work stops, the answer stays valid.

No test here measures time: a deadline in the past (or far ahead), or a fake clock, makes every path certain,
and the tests count the optimizer runs and acquisition calls that the budget cuts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import optimize

from suggest_api.domain import Goal, Trial, TrialState
from suggest_api.space import SearchSpace
from suggest_api.suggesters import gaussian_process
from suggest_api.suggesters.acquisition import LogExpectedImprovement, local_search, maximize
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.bayesian import BayesianOptions, BayesianSuggester
from suggest_api.suggesters.gaussian_process import GaussianProcess, Hyperparameters, fit_hyperparameters
from suggest_api.suggesters.warping import CubeGeometry
from tests.support.spaces import TRAINING_SPACE

NOW = datetime(2025, 1, 1, tzinfo=UTC)

RNG = np.random.default_rng(7)
X = RNG.random((30, 3))
Y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2]
Y = (Y - Y.mean()) / Y.std()

SQUARE = SearchSpace.from_json({"params": [
    {"name": "a", "type": "float", "low": 0.0, "high": 1.0}, {"name": "b", "type": "float", "low": 0.0, "high": 1.0}]})


def past() -> float:
    return time.monotonic() - 1.0


def far_ahead() -> float:
    return time.monotonic() + 1e6


MINIMIZE = optimize.minimize


class Recorder:
    """scipy.optimize.minimize, recording every run's callback and result."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []
        self.results: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.callbacks.append(kwargs.get("callback"))
        result = MINIMIZE(*args, **kwargs)
        self.results.append(result)
        return result


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every L-BFGS-B run of the test (the GP fit's and the acquisition's both call scipy.optimize.minimize)."""
    recorder = Recorder()
    monkeypatch.setattr(optimize, "minimize", recorder)
    return recorder


def test_without_a_deadline_the_fit_runs_every_start(runs: Recorder) -> None:
    fit_hyperparameters(X, Y)
    assert len(runs.results) == 2
    assert runs.callbacks == [None, None]


def test_a_late_fit_runs_its_first_start_only_and_to_its_end(runs: Recorder) -> None:
    fit_hyperparameters(X, Y)
    first = runs.results[0]
    late = fit_hyperparameters(X, Y, deadline=past())
    assert len(runs.results) == 3  # two starts without a deadline, then one
    assert runs.callbacks[2] is None and runs.results[2].status != 99
    np.testing.assert_allclose(late.to_vector(), first.x, rtol=1e-12)  # the unlimited fit's first start


def test_a_deadline_reached_during_a_later_start_stops_that_run(runs: Recorder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake clock ticking once per look: the second start begins in time, then stops at its callback."""
    fit_hyperparameters(X, Y)
    unlimited_second = runs.results[1]
    ticks = iter(range(1000))
    monkeypatch.setattr(gaussian_process, "time", SimpleNamespace(monotonic=lambda: float(next(ticks))))
    hyper = fit_hyperparameters(X, Y, deadline=5.0)
    stopped = runs.results[3]
    assert stopped.status == 99 and "StopIteration" in stopped.message
    assert 0 < stopped.nit < unlimited_second.nit
    best = min(runs.results[2:], key=lambda r: float(r.fun))
    np.testing.assert_allclose(hyper.to_vector(), best.x, rtol=1e-12)


class CountingAcquisition:
    """Log EI that counts its calls, those asking for gradients (one per L-BFGS-B step) apart."""

    def __init__(self, model: GaussianProcess) -> None:
        self.inner = LogExpectedImprovement(model, float(model.y.min()))
        self.calls = 0
        self.gradient_calls = 0

    def __call__(self, points: Any, *, gradient: bool = False) -> Any:
        self.calls += 1
        self.gradient_calls += int(gradient)
        return self.inner(points, gradient=gradient)


def bowl_model() -> GaussianProcess:
    x = np.random.default_rng(3).random((25, 2))
    y = ((x - np.array([0.3, 0.7])) ** 2).sum(1)
    return GaussianProcess(x, (y - y.mean()) / y.std(), Hyperparameters(np.array([0.5, 0.5]), 1.0, 1e-6))


def test_a_late_local_search_does_no_round() -> None:
    acquisition = CountingAcquisition(bowl_model())
    starts = np.random.default_rng(1).random((4, 2))
    points, values = local_search(acquisition, CubeGeometry(SQUARE), starts, deadline=past())
    assert acquisition.calls == 1  # the starts' own values, nothing after the first check
    np.testing.assert_array_equal(points, starts)
    np.testing.assert_array_equal(values, acquisition.inner(starts)[0])
    on_time = CountingAcquisition(bowl_model())
    local_search(on_time, CubeGeometry(SQUARE), starts, deadline=far_ahead())
    assert on_time.gradient_calls > 0


def test_a_late_maximize_still_ranks_the_sweep() -> None:
    acquisition = CountingAcquisition(bowl_model())
    candidates = np.random.default_rng(0).random((256, 2))
    points, values = maximize(acquisition, CubeGeometry(SQUARE), candidates, starts=4, deadline=past())
    assert acquisition.gradient_calls == 0
    assert len(points) == 4 + len(candidates) and np.all(np.diff(values) <= 0)
    assert values[0] == acquisition.inner(candidates)[0].max()


def trial(number: int, params: Mapping[str, Any], value: float) -> Trial:
    return Trial(number=number, state=TrialState.COMPLETED, params=dict(params), value=value, created_at=NOW)


def objective(params: Mapping[str, Any]) -> float:
    return math.log10(params["lr"]) ** 2 + float(params["dropout"]) + (0.1 if params["optimizer"] == "sgd" else 0.0)


def history(n: int) -> list[Trial]:
    rng = np.random.default_rng(1)
    decoded = (TRAINING_SPACE.decode(u) for u in rng.random((n, TRAINING_SPACE.dimension)))
    return [trial(i, params, objective(params)) for i, params in enumerate(decoded)]


def ask(past_trials: list[Trial], *, count: int, **request: Any) -> list[dict[str, Any]]:
    suggester = BayesianSuggester(**BayesianOptions().load({}))
    first = len(past_trials)
    return suggester.suggest(SuggestRequest(space=TRAINING_SPACE, goal=Goal.MINIMIZE, seed=3, made=first,
                                            numbers=range(first, first + count), history=past_trials, **request))


def key(params: Mapping[str, Any]) -> bytes:
    return TRAINING_SPACE.encode(params).tobytes()


def test_a_late_ask_on_a_long_history_gives_valid_distinct_model_based_points(runs: Recorder) -> None:
    trials = history(300)
    suggestions = ask(trials, count=3, deadline=past())
    assert len(runs.results) == 1  # the fit's first start; no local search
    assert runs.callbacks == [None]
    assert len(suggestions) == 3
    for params in suggestions:
        assert TRAINING_SPACE.check_params(params) == {}
    keys = {key(params) for params in suggestions}
    assert len(keys) == 3
    assert keys.isdisjoint(key(t.params) for t in trials)


def test_without_a_deadline_or_before_it_the_suggestions_do_not_change(runs: Recorder) -> None:
    trials = history(60)
    unlimited = ask(trials, count=3)
    work = len(runs.results)
    assert work > 2  # both fit starts, then local searches
    assert ask(trials, count=3, deadline=None) == unlimited
    assert ask(trials, count=3, deadline=far_ahead()) == unlimited
    assert len(runs.results) == 3 * work  # the same runs each time
