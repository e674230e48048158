"""The genetic suggester with several objectives and with outcome constraints: NSGA-II/III survival over
the history, constraint-domination, valid and repeatable children, and a better front than random sampling
on ZDT1 (through the suggester alone, in process)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest_api.domain import Constraint, ConstraintOp, Goal, Objective, Trial, TrialState
from suggest_api.errors import InvalidInput
from suggest_api.multiobjective.dominance import nondominated_ranks
from suggest_api.multiobjective.hypervolume import hypervolume
from suggest_api.multiobjective.outcomes import objective_matrix
from suggest_api.multiobjective.reference_points import associate, das_dennis, normalize
from suggest_api.space import SearchSpace
from suggest_api.suggesters import genetic_selection
from suggest_api.suggesters.base import SuggestRequest, trial_rng
from suggest_api.suggesters.genetic import GeneticSuggester
from suggest_api.suggesters.registry import suggesters
from tests.support.spaces import TRAINING_SPACE

NOW = datetime(2026, 1, 1)
LINE = SearchSpace.from_json({"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]})
TWO = (Objective("loss", Goal.MINIMIZE), Objective("speed", Goal.MAXIMIZE))
THREE = (Objective("a", Goal.MINIMIZE), Objective("b", Goal.MINIMIZE), Objective("c", Goal.MINIMIZE))
MEMORY = (Constraint("memory", ConstraintOp.AT_MOST, 10.0),)


def genetic(**options: Any) -> GeneticSuggester:
    built = suggesters.build(suggesters.validate("genetic", options))
    assert isinstance(built, GeneticSuggester)
    return built


def request(space: SearchSpace, history: Sequence[Trial], *, objectives: tuple[Objective, ...] = TWO,
            constraints: tuple[Constraint, ...] = (), seed: int = 7, count: int = 1,
            made: int | None = None) -> SuggestRequest:
    first = len(history)
    return SuggestRequest(space=space, goal=objectives[0].goal, seed=seed, numbers=range(first, first + count),
                          made=first if made is None else made, history=history, objectives=objectives,
                          constraints=constraints)


def told(number: int, params: Mapping[str, Any], values: Mapping[str, float] | None, *,
         objectives: tuple[Objective, ...] = TWO, constraints: tuple[Constraint, ...] = (),
         state: TrialState = TrialState.COMPLETED) -> Trial:
    """A trial as the service stores it: `value` only for a single objective, `values` with every metric."""
    single = len(objectives) == 1
    value = values[objectives[0].name] if single and values is not None else None
    feasible = None
    if constraints and values is not None:
        feasible = all(c.violation(values[c.name]) == 0.0 for c in constraints)
    return Trial(number=number, state=state, params=params, value=value, values=values, feasible=feasible,
                 created_at=NOW)


# --- every child fits and repeats ------------------------------------------------------------------------

STATES = st.sampled_from([TrialState.COMPLETED, TrialState.COMPLETED, TrialState.FAILED, TrialState.RUNNING])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**63 - 1), count=st.integers(1, 5), population=st.integers(2, 8),
       selection=st.sampled_from(["nsga2", "nsga3"]), constrained=st.booleans(),
       objectives=st.sampled_from([TWO, THREE, (Objective("loss", Goal.MAXIMIZE),)]))
def test_every_child_fits_the_space_and_repeats_for_the_same_input(
        data: st.DataObject, seed: int, count: int, population: int, selection: str, constrained: bool,
        objectives: tuple[Objective, ...]) -> None:
    constraints = MEMORY if constrained else ()
    space = data.draw(st.sampled_from([TRAINING_SPACE, LINE]))
    metric = st.one_of(st.floats(-1e300, 1e300, allow_nan=False), st.sampled_from([0.0, 1.0, 10.0]))
    history = []
    for number in range(data.draw(st.integers(0, 30))):
        state = data.draw(STATES)
        names = [o.name for o in objectives] + [c.name for c in constraints]
        values = {name: data.draw(metric) for name in names} if state is TrialState.COMPLETED else None
        params = space.decode(trial_rng(seed, number).random(space.dimension))
        history.append(told(number, params, values, objectives=objectives, constraints=constraints, state=state))
    suggester = genetic(population_size=population, tournament_size=2, selection=selection)
    ask = request(space, history, objectives=objectives, constraints=constraints, seed=seed, count=count)
    first = suggester.suggest(ask)
    assert len(first) == count
    assert all(space.check_params(p) == {} for p in first), first
    assert suggester.suggest(request(space, history, objectives=objectives, constraints=constraints, seed=seed,
                                     count=count)) == first


# --- who the parents are ---------------------------------------------------------------------------------


def front_history() -> list[Trial]:
    """Four non-dominated trials near x = 0.15, then six each dominated by all of them near x = 0.85."""
    best = [told(i, {"x": 0.13 + 0.01 * i}, {"loss": float(i), "speed": float(i)}) for i in range(4)]
    worse = [told(4 + i, {"x": 0.82 + 0.01 * i}, {"loss": 10.0 + i, "speed": -1.0 - i}) for i in range(6)]
    return worse[:3] + best + worse[3:]  # the order does not matter, only the values


def test_the_population_is_the_first_fronts_cut_by_crowding() -> None:
    history = front_history()
    trials = genetic_selection.candidates(request(LINE, history))
    survivors = genetic_selection.survivors(trials, request(LINE, history), 6)
    numbers = [t.number for t in survivors]
    # Front 0 (4, best first by crowding: its two extremes), then front 1 = the trial dominating the other
    # five, then front 2 = the next one.
    assert numbers == [0, 3, 1, 2, 4, 5]
    ranks = nondominated_ranks(objective_matrix(trials, TWO))
    assert sorted(ranks.tolist())[:6] == [0, 0, 0, 0, 1, 2]
    # A last front that does not fit is cut by crowding: its extremes (numbers 0 and 3) survive.
    assert [t.number for t in genetic_selection.survivors(trials, request(LINE, history), 2)] == [0, 3]


def test_only_the_first_front_breeds_when_it_fills_the_population() -> None:
    """BLX-0.5 crossover and a small mutation (only when both parents are one trial): children stay near
    front 0 (x in 0.13..0.16), far from the dominated trials (x from 0.82)."""
    suggester = genetic(population_size=4, mutation_rate=0.0, crossover_rate=1.0, mutation_scale=0.02)
    children = suggester.suggest(request(LINE, front_history(), count=30))
    assert all(0.05 <= c["x"] <= 0.25 for c in children), children
    # A population of 10 takes the dominated trials too: some children come from them.
    children = genetic(population_size=10, mutation_rate=0.0, crossover_rate=0.0).suggest(
        request(LINE, front_history(), count=30))
    assert any(c["x"] > 0.6 for c in children), children


def test_a_maximized_objective_counts_larger_as_better() -> None:
    """Same trials, `speed` now minimized: the six former losers are no longer all dominated."""
    objectives = (Objective("loss", Goal.MINIMIZE), Objective("speed", Goal.MINIMIZE))
    history = [told(t.number, t.params, t.values, objectives=objectives) for t in front_history()]
    ask = request(LINE, history, objectives=objectives)
    survivors = genetic_selection.survivors(genetic_selection.candidates(ask), ask, 4)
    assert any(t.params["x"] > 0.5 for t in survivors)


def test_multi_objective_trials_need_every_objective_and_a_finite_one() -> None:
    history = front_history() + [
        told(10, {"x": 0.5}, {"loss": -100.0}),  # missing `speed`
        told(11, {"x": 0.5}, {"loss": -100.0, "speed": float("inf")}),
        told(12, {"x": 0.5}, None, state=TrialState.FAILED),
    ]
    assert [t.number for t in genetic_selection.candidates(request(LINE, history))] == list(range(10))


def constrained_history(objectives: tuple[Objective, ...]) -> list[Trial]:
    """Ten feasible trials near x = 0.15 with poor objectives, ten infeasible near x = 0.85 dominating them."""
    trials = []
    for i in range(20):
        feasible = i % 2 == 0
        loss = 50.0 + i if feasible else float(i)
        values = {"loss": loss, "speed": -loss, "memory": 5.0 if feasible else 11.0 + i}
        values = {k: v for k, v in values.items() if k in {o.name for o in objectives} | {"memory"}}
        x = 0.1 + 0.01 * (i // 2) if feasible else 0.8 + 0.01 * (i // 2)
        trials.append(told(i, {"x": x}, values, objectives=objectives, constraints=MEMORY))
    return trials


@pytest.mark.parametrize("objectives", [TWO, (Objective("loss", Goal.MINIMIZE),)])
def test_no_infeasible_parent_while_enough_feasible_trials_exist(objectives: tuple[Objective, ...]) -> None:
    history = constrained_history(objectives)
    ask = request(LINE, history, objectives=objectives, constraints=MEMORY, count=30)
    survivors = genetic_selection.survivors(genetic_selection.candidates(ask), ask, 10)
    assert all(t.feasible for t in survivors)
    children = genetic(population_size=10, mutation_rate=0.0, crossover_rate=1.0).suggest(ask)
    assert all(c["x"] < 0.3 for c in children), children
    # Fewer feasible trials than the population: the least violating infeasible ones fill it, in order.
    survivors = genetic_selection.survivors(genetic_selection.candidates(ask), ask, 13)
    assert [t.feasible for t in survivors] == [True] * 10 + [False] * 3
    assert [t.number for t in survivors[10:]] == [1, 3, 5]


def test_a_constrained_single_objective_study_ranks_feasible_trials_by_value() -> None:
    objectives = (Objective("loss", Goal.MAXIMIZE),)
    history = constrained_history(objectives)
    ask = request(LINE, history, objectives=objectives, constraints=MEMORY)
    survivors = genetic_selection.survivors(genetic_selection.candidates(ask), ask, 12)
    assert [t.number for t in survivors] == [18, 16, 14, 12, 10, 8, 6, 4, 2, 0, 1, 3]


def test_constraints_all_satisfied_breed_exactly_as_without_constraints() -> None:
    """The ranked path with one objective and every trial feasible orders parents as the plain path does,
    so the children are the same."""
    rng = np.random.default_rng(3)
    points = [TRAINING_SPACE.decode(u) for u in rng.random((15, TRAINING_SPACE.dimension))]
    losses = [float(v) for v in rng.integers(0, 5, size=15)]  # ties, broken by trial number
    objectives = (Objective("loss", Goal.MINIMIZE),)
    plain = [Trial(number=i, state=TrialState.COMPLETED, params=p, value=v, created_at=NOW)
             for i, (p, v) in enumerate(zip(points, losses, strict=True))]
    constrained = [told(i, p, {"loss": v, "memory": 1.0}, objectives=objectives, constraints=MEMORY)
                   for i, (p, v) in enumerate(zip(points, losses, strict=True))]
    suggester = genetic(population_size=6)
    expected = suggester.suggest(request(TRAINING_SPACE, plain, objectives=objectives, count=8))
    assert suggester.suggest(request(TRAINING_SPACE, constrained, objectives=objectives, constraints=MEMORY,
                                     count=8)) == expected


# --- NSGA-III ------------------------------------------------------------------------------------------


def simplex_history(count: int) -> list[Trial]:
    """`count` trials on a plane 3-objective front (all non-dominated), x tied to the first objective."""
    weights = np.random.default_rng(4).dirichlet([1.0, 1.0, 1.0], size=count)
    return [told(i, {"x": float(w[0])}, {"a": float(w[0]), "b": float(w[1]), "c": float(w[2])}, objectives=THREE)
            for i, w in enumerate(weights)]


def test_nsga3_selection_spreads_the_population_over_reference_directions() -> None:
    history = simplex_history(120)
    ask = request(LINE, history, objectives=THREE)
    trials = genetic_selection.candidates(ask)
    survivors = genetic_selection.survivors(trials, ask, 12, selection="nsga3")
    assert len(survivors) == len({t.number for t in survivors}) == 12
    points = objective_matrix(trials, THREE)
    nearest, _ = associate(normalize(points), das_dennis(3, 6))
    served = {int(nearest[t.number]) for t in survivors}
    assert len(served) == 12  # one direction each, as each pick goes to a direction not served yet
    again = genetic_selection.survivors(trials, ask, 12, selection="nsga3")
    assert [t.number for t in again] == [t.number for t in survivors]
    coarse = genetic_selection.survivors(trials, ask, 12, selection="nsga3", reference_divisions=2)
    assert len({t.number for t in coarse}) == 12  # 6 directions for 12 survivors: still 12 distinct


def test_nsga3_breeds_valid_repeatable_children_for_three_objectives() -> None:
    suggester = genetic(population_size=12, selection="nsga3", reference_divisions=4)
    history = simplex_history(40)
    children = suggester.suggest(request(LINE, history, objectives=THREE, count=10))
    assert len(children) == 10 and all(LINE.check_params(c) == {} for c in children)
    assert suggester.suggest(request(LINE, history, objectives=THREE, count=10)) == children
    assert suggester.suggest(request(LINE, history, objectives=THREE, count=10, seed=8)) != children


# --- options -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options, field", [
    ({"selection": "nsga4"}, "selection"),
    ({"selection": 2}, "selection"),
    ({"selection": "nsga3", "reference_divisions": 0}, "reference_divisions"),
    ({"selection": "nsga3", "reference_divisions": 25}, "reference_divisions"),
    ({"selection": "nsga3", "reference_divisions": 2.5}, "reference_divisions"),
    ({"reference_divisions": 4}, "reference_divisions"),  # only with nsga3
])
def test_bad_selection_options_are_refused_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        suggesters.validate("genetic", options)
    assert field in caught.value.errors["suggester.options"]


def test_selection_options_are_stored_as_given_and_built() -> None:
    ref = suggesters.validate("genetic", {"selection": "nsga3", "reference_divisions": 5})
    assert ref.options["selection"] == "nsga3" and ref.options["reference_divisions"] == 5
    built = suggesters.build(ref)
    assert isinstance(built, GeneticSuggester) and built.selection == "nsga3" and built.reference_divisions == 5
    default = genetic()
    assert default.selection == "nsga2" and default.reference_divisions is None


# --- it optimizes ----------------------------------------------------------------------------------------

ZDT_SPACE = SearchSpace.from_json({"params": [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0}
                                              for i in range(4)]})
ZDT = (Objective("f1", Goal.MINIMIZE), Objective("f2", Goal.MINIMIZE))


def zdt1(params: Mapping[str, Any]) -> dict[str, float]:
    x = [float(params[f"x{i}"]) for i in range(4)]
    g = 1.0 + 9.0 * sum(x[1:]) / 3.0
    return {"f1": x[0], "f2": g * (1.0 - (x[0] / g) ** 0.5)}


def zdt_hypervolume(name: str, seed: int, trials: int = 150, **options: Any) -> float:
    """Run `trials` trials one ask at a time through the suggester alone; the hypervolume of all of them."""
    suggester = suggesters.build(suggesters.validate(name, options))
    history: list[Trial] = []
    while len(history) < trials:
        ask = SuggestRequest(space=ZDT_SPACE, goal=Goal.MINIMIZE, seed=seed, numbers=[len(history)],
                             made=len(history), history=history if suggester.needs_history else (), objectives=ZDT)
        for params in suggester.suggest(ask):
            history.append(told(len(history), params, zdt1(params), objectives=ZDT))
    return hypervolume(objective_matrix(history, ZDT), [1.1, 11.0])


def test_nsga2_finds_a_better_zdt1_front_than_random_sampling() -> None:
    seeds = (0, 1, 2)
    genetic_volume = np.mean([zdt_hypervolume("genetic", s, population_size=20) for s in seeds])
    random_volume = np.mean([zdt_hypervolume("random", s) for s in seeds])
    # The true front's volume is 1.1 · 11 - 1/3 ≈ 11.77; random sampling stays near 10.4.
    assert genetic_volume > random_volume + 0.5, (genetic_volume, random_volume)
