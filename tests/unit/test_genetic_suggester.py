"""The genetic suggester: valid children on conditional spaces, deterministic, never repeating a trial while
the space has another point, breeding only from completed trials (better than its initial population
through the service: tests/service/test_regret.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest_api.domain import Goal, Report, Trial, TrialState
from suggest_api.errors import InvalidInput
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import SuggestRequest, trial_rng
from suggest_api.suggesters.genetic import GeneticSuggester
from suggest_api.suggesters.registry import suggesters
from suggest_api.suggesters.sobol import sobol_points
from tests.support.spaces import TRAINING_SPACE

NOW = datetime(2026, 1, 1)
SPACE = TRAINING_SPACE
#: 33 distinct points: `width` and `flag` exist only for "wide", `extra` only when `flag` is true.
SMALL = SearchSpace.from_json({"params": [
    {"name": "kind", "type": "categorical", "choices": ["wide", "deep", "flat", "tiny"]},
    {"name": "depth", "type": "int", "low": 1, "high": 3},
    {"name": "width", "type": "categorical", "choices": [32, 64], "when": {"kind": ["wide"]}},
    {"name": "flag", "type": "categorical", "choices": [True, False], "when": {"kind": ["wide"]}},
    {"name": "extra", "type": "float", "low": 0.0, "high": 1.0, "step": 0.5, "when": {"flag": [True]}},
]})
SMALL_SIZE = 3 * (2 * (3 + 1)) + 3 * 3  # wide: depth * width * (flag True: 3 extras, flag False: 1); others: depth
STATES = st.sampled_from([TrialState.COMPLETED, TrialState.COMPLETED, TrialState.COMPLETED, TrialState.FAILED,
                          TrialState.RUNNING, TrialState.PRUNED])


def genetic(**options: Any) -> GeneticSuggester:
    built = suggesters.build(suggesters.validate("genetic", options))
    assert isinstance(built, GeneticSuggester)
    return built


def ask(suggester: GeneticSuggester, space: SearchSpace, history: Sequence[Trial], *, seed: int = 7,
        count: int = 1, goal: Goal = Goal.MINIMIZE, made: int | None = None) -> list[dict[str, Any]]:
    first = len(history)
    return suggester.suggest(SuggestRequest(space=space, goal=goal, seed=seed, numbers=range(first, first + count),
                                            made=first if made is None else made, history=history))


def trial(number: int, params: Mapping[str, Any], value: float | None,
          state: TrialState = TrialState.COMPLETED) -> Trial:
    return Trial(number=number, state=state, params=params, value=value, created_at=NOW)


@st.composite
def histories(draw: st.DrawFn, space: SearchSpace) -> list[Trial]:
    """Random trials of any state; values with ties and huge magnitudes; params of random points."""
    seed = draw(st.integers(0, 2**32))
    trials = []
    for number in range(draw(st.integers(0, 40))):
        state = draw(STATES)
        value = draw(st.one_of(st.floats(-1e300, 1e300, allow_nan=False), st.sampled_from([0.0, 1.0])))
        params = space.decode(trial_rng(seed, number).random(space.dimension))
        trials.append(trial(number, params, value if state is TrialState.COMPLETED else None, state))
    return trials


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**63 - 1), count=st.integers(1, 6), goal=st.sampled_from(list(Goal)),
       population=st.integers(2, 8), crossover=st.sampled_from([0.0, 0.5, 1.0]),
       mutation=st.sampled_from([None, 0.0, 1.0]), made_back=st.integers(0, 40))
def test_every_child_fits_the_space_and_repeats_for_the_same_input(
        data: st.DataObject, seed: int, count: int, goal: Goal, population: int, crossover: float,
        mutation: float | None, made_back: int) -> None:
    space = data.draw(st.sampled_from([SPACE, SMALL]))
    history = data.draw(histories(space))
    suggester = genetic(population_size=population, tournament_size=2, crossover_rate=crossover,
                        mutation_rate=mutation)
    made = max(len(history) - made_back, 0)  # enqueued and imported trials are not counted as made
    first = ask(suggester, space, history, seed=seed, count=count, goal=goal, made=made)
    assert len(first) == count
    for params in first:
        assert space.check_params(params) == {}, params
    assert ask(suggester, space, history, seed=seed, count=count, goal=goal, made=made) == first


def test_the_initial_population_is_the_study_sobol_sequence() -> None:
    suggester = genetic(population_size=6)
    expected = [SPACE.decode(u) for u in sobol_points(SPACE, 7, 0, 6)]
    assert ask(suggester, SPACE, [], count=6, made=0) == expected
    history = [trial(i, p, float(i)) for i, p in enumerate(expected[:2])]
    assert ask(suggester, SPACE, history, count=4) == expected[2:]  # continued from `made`


def test_breeding_starts_once_a_population_has_completed() -> None:
    suggester = genetic(population_size=4)
    points = [SPACE.decode(u) for u in sobol_points(SPACE, 7, 0, 12)]
    # Four asked but only one finished: keep exploring the design rather than breed from a single parent.
    running = [trial(0, points[0], 1.0)] + [trial(i, points[i], None, TrialState.RUNNING) for i in (1, 2, 3)]
    assert ask(suggester, SPACE, running) == [points[4]]
    # Two of four finished (half a population): breed, so the child is no Sobol point.
    half = [trial(0, points[0], 1.0), trial(1, points[1], 2.0)] + running[2:]
    assert ask(suggester, SPACE, half)[0] not in points
    # Imported results forming a full population: breed at once, though the suggester made nothing yet.
    imported = [trial(i, points[i], float(i)) for i in range(4)]
    assert ask(suggester, SPACE, imported, made=0)[0] not in points


def test_a_small_discrete_space_is_used_up_before_any_repeat() -> None:
    """Serial asks and a parallel batch with running trials never repeat a point until all 33 are taken."""
    assert len({repr(sorted(p.items())) for p in _all_points(SMALL)}) == SMALL_SIZE
    for count in (1, 5):
        history: list[Trial] = []
        while len(history) < SMALL_SIZE:
            batch = ask(genetic(population_size=4), SMALL, history, count=min(count, SMALL_SIZE - len(history)))
            for params in batch:
                number = len(history)
                running = count > 1 and number % 3 == 0  # some stay running: still never repeated
                value = None if running else float(params["depth"]) + (number % 7)
                history.append(trial(number, params, value, TrialState.RUNNING if running else TrialState.COMPLETED))
        keys = [repr(sorted(t.params.items())) for t in history]
        assert len(set(keys)) == SMALL_SIZE, count
        again = ask(genetic(population_size=4), SMALL, history, count=3)  # used up: repeats, still valid
        assert all(SMALL.check_params(p) == {} and repr(sorted(p.items())) in keys for p in again)


def _all_points(space: SearchSpace) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    return [space.decode(u) for u in rng.random((3000, space.dimension))]


LINE = SearchSpace.from_json({"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]})


def test_failed_pruned_and_running_trials_are_never_parents() -> None:
    """Without mutation, BLX-0.5 children stay within half a spread of their parents (all near 0.2), even
    when the others carry (better) values."""
    parents = [trial(i, {"x": 0.15 + 0.01 * i}, float(i)) for i in range(10)]
    others = [trial(10 + i, {"x": 0.9 + 0.005 * i}, -100.0, state)
              for i, state in enumerate([TrialState.FAILED, TrialState.PRUNED, TrialState.RUNNING] * 3)]
    suggester = genetic(population_size=10, mutation_rate=0.0, crossover_rate=1.0)
    children = ask(suggester, LINE, parents + others, count=20, made=19)
    assert all(0.10 <= c["x"] <= 0.30 for c in children), children


def pruned(number: int, x: float, steps: int, best: float) -> Trial:
    """A pruned trial as the service's history carries it: its last report, with the running best."""
    return replace(trial(number, {"x": x}, None, TrialState.PRUNED),
                   intermediate=(Report(step=steps - 1, value=best + 1.0, best=best),))


def test_pruned_trials_with_reports_fill_a_population_but_rank_below_every_completed_one() -> None:
    completed = [trial(i, {"x": 0.15 + 0.01 * i}, 10.0 + i) for i in range(3)]
    stopped = [pruned(3 + i, 0.85 + 0.01 * i, steps=3, best=-100.0) for i in range(3)]
    breed = {"mutation_rate": 0.0, "crossover_rate": 0.0, "tournament_size": 1}
    # A population of 3 is full with the completed trials: a pruned one never breeds, whatever it reported.
    children = ask(genetic(population_size=3, **breed), LINE, completed + stopped, count=30, made=6)
    assert all(c["x"] < 0.5 for c in children), children
    # A population of 6 takes the pruned ones too (instead of staying on the Sobol design): some children are theirs.
    children = ask(genetic(population_size=6, **breed), LINE, completed + stopped, count=30, made=6)
    assert any(c["x"] > 0.8 for c in children) and any(c["x"] < 0.5 for c in children), children


def test_among_pruned_trials_those_that_ran_furthest_rank_first() -> None:
    """A whole-population tournament, tiny mutation: every child sits by the pruned trial that ran longest,
    not by the one that reported a better value after fewer steps."""
    stopped = [pruned(0, 0.1, steps=2, best=-5.0), pruned(1, 0.9, steps=9, best=3.0)]
    suggester = genetic(population_size=2, tournament_size=2, crossover_rate=0.0, mutation_scale=0.01)
    children = ask(suggester, LINE, stopped, count=10, made=2)
    assert all(abs(c["x"] - 0.9) < 0.06 for c in children), children


@pytest.mark.parametrize("goal", list(Goal))
def test_the_best_trials_are_the_parents_for_either_goal(goal: Goal) -> None:
    """Tournament of the whole population, no crossover, tiny mutation: every child sits by the best trial."""
    history = [trial(i, {"x": 0.05 + 0.1 * i}, float(i)) for i in range(10)]  # value grows with x
    suggester = genetic(population_size=10, tournament_size=10, crossover_rate=0.0, mutation_scale=0.01)
    best = 0.05 if goal is Goal.MINIMIZE else 0.95
    children = ask(suggester, LINE, history, count=10, goal=goal)
    assert all(abs(c["x"] - best) < 0.06 for c in children), children


def test_only_the_best_population_size_trials_breed() -> None:
    """Elitism by truncation: with a population of 3, no child comes from the seven worse trials."""
    history = [trial(i, {"x": 0.05 + 0.1 * i}, float(i)) for i in range(10)]
    suggester = genetic(population_size=3, tournament_size=1, mutation_rate=0.0, crossover_rate=1.0)
    children = ask(suggester, LINE, history, count=20, seed=3)
    assert all(c["x"] <= 0.25 + 0.1 for c in children), children


def test_a_child_switching_a_branch_on_gets_a_value_for_its_new_params() -> None:
    """Parents without momentum (adam) mutated into sgd take nesterov and momentum from the population's
    best sgd trial (momentum 0.9), unless those mutate too."""
    base = {"lr": 0.01, "batch_size": 32, "layers": 4, "dropout": 0.1}
    history = [trial(i, {**base, "optimizer": "adam", "batch_size": 16 * (i + 1)}, float(i)) for i in range(8)]
    history.append(trial(8, {**base, "optimizer": "sgd", "nesterov": True, "momentum": 0.9}, 100.0))
    children = ask(genetic(population_size=9, mutation_rate=0.4), SPACE, history, count=60)
    assert all(SPACE.check_params(c) == {} for c in children)
    switched = [c for c in children if c.get("nesterov") is True]
    assert any(c["momentum"] == 0.9 for c in switched), switched


def test_different_seeds_breed_different_children() -> None:
    history = [trial(i, p, float(i)) for i, p in enumerate(_all_points(SPACE)[:12])]
    suggester = genetic()
    assert ask(suggester, SPACE, history, seed=1, count=4) != ask(suggester, SPACE, history, seed=2, count=4)


@pytest.mark.parametrize("options, field", [
    ({"population_size": 1}, "population_size"),
    ({"population_size": "many"}, "population_size"),
    ({"mutation_rate": 1.5}, "mutation_rate"),
    ({"mutation_scale": 0.0}, "mutation_scale"),
    ({"crossover_rate": -0.1}, "crossover_rate"),
    ({"tournament_size": 0}, "tournament_size"),
    ({"population_size": 4, "tournament_size": 5}, "tournament_size"),
    ({"elitism": True}, "elitism"),
])
def test_bad_options_are_refused_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        suggesters.validate("genetic", options)
    assert caught.value.status == 422
    assert field in caught.value.errors["suggester.options"]


def test_defaults_are_filled_and_documented() -> None:
    ref = suggesters.validate("genetic", {})
    assert dict(ref.options) == {"population_size": 10, "mutation_rate": None, "mutation_scale": 0.1,
                                 "crossover_rate": 0.9, "tournament_size": 3, "selection": "nsga2",
                                 "reference_divisions": None}
    assert genetic().needs_history is True
