"""The grid suggester: every point exactly once, computed from its position, in either order, with retries."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suggest_api.config import Limits
from suggest_api.domain import Goal, PluginRef, Trial, TrialState
from suggest_api.errors import GridExhausted, InvalidInput
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.grid import GridSuggester
from suggest_api.suggesters.grid_points import GridPoints, spaced
from suggest_api.suggesters.permutation import SeededPermutation
from suggest_api.suggesters.registry import suggesters

NOW = datetime(2024, 1, 1)


def suggester(*, shuffle: bool = False, grid_points: int = 10, retry_failed: bool = False) -> GridSuggester:
    """Built through the registry, so the options are validated the way a study's are."""
    options = {"shuffle": shuffle, "grid_points": grid_points, "retry_failed": retry_failed}
    built = suggesters.build(suggesters.validate("grid", options))
    assert isinstance(built, GridSuggester)
    return built


def ask(grid: GridSuggester, space: SearchSpace, made: int, count: int, *, seed: int = 7,
        history: Sequence[Trial] = ()) -> list[dict[str, Any]]:
    request = SuggestRequest(space=space, goal=Goal.MINIMIZE, seed=seed, numbers=range(made, made + count),
                             made=made, history=history)
    return grid.suggest(request)


def ask_until_exhausted(grid: GridSuggester, space: SearchSpace, *, seed: int = 7,
                        batch: int = 7) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    for _ in range(100_000):
        try:
            got = ask(grid, space, len(points), batch, seed=seed)
        except GridExhausted:
            return points
        assert 1 <= len(got) <= batch
        points += got
    raise AssertionError("the grid never ran out")


def canonical(params: Mapping[str, Any]) -> str:
    """JSON text: tells true from 1 and 1 from 1.0, as the space does."""
    return json.dumps(params, sort_keys=True)


# --- an enumeration written independently: every combination, then drop what is inactive ---------------

def same_value(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def brute_force(space_json: Mapping[str, Any], values: Mapping[str, Sequence[Any]]) -> set[str]:
    """All distinct active-param dicts over the product of every param's values (inactive ones included)."""
    params = {p["name"]: p for p in space_json["params"]}
    names = list(params)
    found: set[str] = set()
    for combo in itertools.product(*(values[name] for name in names)):
        assignment = dict(zip(names, combo, strict=True))
        active: dict[str, bool] = {}

        def is_active(name: str, assignment: dict[str, Any] = assignment, active: dict[str, bool] = active) -> bool:
            if name not in active:
                when = params[name].get("when", {})
                active[name] = all(is_active(parent) and any(same_value(assignment[parent], v) for v in allowed)
                                   for parent, allowed in when.items())
            return active[name]

        found.add(canonical({name: assignment[name] for name in names if is_active(name)}))
    return found


# Each space with the values a grid must give each param, written out by hand.
NAMED_SPACES: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
    "plain": (
        {"params": [{"name": "a", "type": "int", "low": 0, "high": 4, "step": 2},
                    {"name": "b", "type": "categorical", "choices": ["x", "y", "z"]}]},
        {"a": [0, 2, 4], "b": ["x", "y", "z"]}),
    "floats": (
        {"params": [{"name": "lin", "type": "float", "low": 0.0, "high": 1.0},
                    {"name": "log", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
                    {"name": "stepped", "type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
                    {"name": "listed", "type": "float", "low": 0.0, "high": 10.0, "grid": [2.5, 7.5]}]},
        {"lin": [0.0, 0.25, 0.5, 0.75, 1.0], "log": [1e-4, 1e-3, 1e-2, 1e-1, 1.0],
         "stepped": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], "listed": [2.5, 7.5]}),
    "ints": (
        {"params": [{"name": "log_int", "type": "int", "low": 1, "high": 6, "log": True},
                    {"name": "listed", "type": "int", "low": 0, "high": 100, "grid": [100, 0, 50]},
                    {"name": "one", "type": "categorical", "choices": [3]}]},
        {"log_int": [1, 2, 3, 4, 5, 6], "listed": [100, 0, 50], "one": [3]}),
    "conditional": (
        {"params": [{"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
                    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.9, "grid": [0.0, 0.9],
                     "when": {"optimizer": ["sgd", "rmsprop"]}},
                    {"name": "beta", "type": "int", "low": 1, "high": 3, "when": {"optimizer": ["adam"]}},
                    {"name": "lr", "type": "int", "low": 1, "high": 2}]},
        {"optimizer": ["sgd", "adam", "rmsprop"], "momentum": [0.0, 0.9], "beta": [1, 2, 3], "lr": [1, 2]}),
    "chained_and_multi_parent": (
        {"params": [{"name": "leaf", "type": "int", "low": 0, "high": 2,
                     "when": {"mid": [True], "root": ["b", "c"]}},
                    {"name": "root", "type": "categorical", "choices": ["a", "b", "c"]},
                    {"name": "mid", "type": "categorical", "choices": [True, 1, "1"], "when": {"root": ["b", "c"]}},
                    {"name": "other", "type": "categorical", "choices": ["p", "q"]},
                    {"name": "deep", "type": "int", "low": 0, "high": 1, "when": {"mid": [1]}},
                    {"name": "two_parents", "type": "int", "low": 5, "high": 6,
                     "when": {"root": ["a", "b"], "other": ["q"]}}]},
        {"leaf": [0, 1, 2], "root": ["a", "b", "c"], "mid": [True, 1, "1"], "other": ["p", "q"],
         "deep": [0, 1], "two_parents": [5, 6]}),
    "grid_of_a_parent": (
        {"params": [{"name": "kind", "type": "categorical", "choices": ["u", "v", "w"], "grid": ["w", "u"]},
                    {"name": "only_v", "type": "int", "low": 0, "high": 9, "when": {"kind": ["v"]}},
                    {"name": "only_w", "type": "int", "low": 0, "high": 1, "when": {"kind": ["w"]}}]},
        {"kind": ["w", "u"], "only_v": list(range(10)), "only_w": [0, 1]}),
}


@pytest.mark.parametrize("shuffle", [False, True], ids=["declared", "shuffled"])
@pytest.mark.parametrize("name", sorted(NAMED_SPACES))
def test_each_point_is_handed_out_exactly_once(name: str, shuffle: bool) -> None:
    space_json, values = NAMED_SPACES[name]
    space = SearchSpace.from_json(space_json)
    points = ask_until_exhausted(suggester(shuffle=shuffle, grid_points=5), space)
    for params in points:
        assert space.check_params(params) == {}
    texts = [canonical(p) for p in points]
    assert len(set(texts)) == len(texts), "a point was handed out twice"
    assert set(texts) == brute_force(space_json, values)


def test_the_declared_order_turns_the_last_param_fastest_and_skips_inactive_ones() -> None:
    space = SearchSpace.from_json(NAMED_SPACES["conditional"][0])
    points = ask(suggester(), space, 0, 6)
    assert points == [
        {"optimizer": "sgd", "momentum": 0.0, "lr": 1}, {"optimizer": "sgd", "momentum": 0.0, "lr": 2},
        {"optimizer": "sgd", "momentum": 0.9, "lr": 1}, {"optimizer": "sgd", "momentum": 0.9, "lr": 2},
        {"optimizer": "adam", "beta": 1, "lr": 1}, {"optimizer": "adam", "beta": 1, "lr": 2}]
    assert GridPoints(space, 10).size == 4 + 6 + 4


@st.composite
def small_spaces(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Random spaces of up to five params, with conditions (several parents, chains) on earlier categoricals."""
    params: list[dict[str, Any]] = []
    values: dict[str, list[Any]] = {}
    categoricals: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 5))):
        name = f"p{i}"
        kind = draw(st.sampled_from(["int", "categorical", "float"]))
        if kind == "int":
            low, size, step = draw(st.integers(-5, 5)), draw(st.integers(2, 3)), draw(st.integers(1, 3))
            param: dict[str, Any] = {"name": name, "type": "int", "low": low, "high": low + (size - 1) * step}
            if step > 1:
                param["step"] = step
            values[name] = list(range(low, low + size * step, step))
        elif kind == "float":
            size = draw(st.integers(2, 4))
            param = {"name": name, "type": "float", "low": 0.0, "high": (size - 1) * 0.25, "step": 0.25}
            values[name] = [k * 0.25 for k in range(size)]
        else:
            choices = draw(st.lists(st.sampled_from(["a", "b", "c", True, False, 0, 1]), min_size=1, max_size=3,
                                    unique_by=lambda v: (type(v), v)))
            param = {"name": name, "type": "categorical", "choices": choices}
            values[name] = list(choices)
            if len(choices) > 1 and draw(st.booleans()):
                listed = draw(st.lists(st.sampled_from(choices), min_size=1, unique_by=lambda v: (type(v), v)))
                param["grid"] = listed
                values[name] = list(listed)
        if draw(st.booleans()) and categoricals:
            parents = draw(st.lists(st.sampled_from(categoricals), min_size=1, max_size=2,
                                    unique_by=lambda p: p["name"]))
            param["when"] = {p["name"]: draw(st.lists(st.sampled_from(p["choices"]), min_size=1,
                                                      unique_by=lambda v: (type(v), v)))
                             for p in parents}
        if kind == "categorical":
            categoricals.append(param)
        params.append(param)
    return {"params": params}, values


@settings(max_examples=150, deadline=None)
@given(spec=small_spaces(), shuffle=st.booleans(), seed=st.integers(0, 2**63 - 1))
def test_random_spaces_are_covered_exactly_once(spec: tuple[dict[str, Any], dict[str, list[Any]]],
                                                shuffle: bool, seed: int) -> None:
    space_json, values = spec
    space = SearchSpace.from_json(space_json)
    points = ask_until_exhausted(suggester(shuffle=shuffle), space, seed=seed, batch=3)
    texts = [canonical(p) for p in points]
    assert len(set(texts)) == len(texts)
    assert set(texts) == brute_force(space_json, values)
    grid = GridPoints(space, 10)
    assert grid.size == len(points)
    assert [grid.position_of(grid.point(n)) for n in range(grid.size)] == list(range(grid.size))


# --- huge grids: the n-th point by mixed radix ------------------------------------------------------------

def int_space(sizes: Sequence[int]) -> SearchSpace:
    return SearchSpace.from_json({"params": [{"name": f"d{i}", "type": "int", "low": 0, "high": size - 1}
                                             for i, size in enumerate(sizes)]})


def digits(n: int, sizes: Sequence[int]) -> dict[str, int]:
    """n in mixed radix, the last size least significant."""
    out: dict[str, int] = {}
    for i in reversed(range(len(sizes))):
        n, out[f"d{i}"] = divmod(n, sizes[i])
    assert n == 0
    return {f"d{i}": out[f"d{i}"] for i in range(len(sizes))}


BILLION = [10] * 9
QUADRILLION = [7, 1000, 3, 11, 5, 13, 2, 1000, 17, 19, 23, 101, 7]


@settings(max_examples=50, deadline=None)
@given(data=st.data(), sizes=st.sampled_from([BILLION, QUADRILLION]))
def test_the_nth_point_of_a_huge_grid_is_n_in_mixed_radix(data: st.DataObject, sizes: list[int]) -> None:
    space = int_space(sizes)
    size = math.prod(sizes)
    assert size >= 10**9
    n = data.draw(st.integers(0, size - 3))
    assert ask(suggester(), space, n, 3) == [digits(n + j, sizes) for j in range(3)]
    grid = GridPoints(space, 10)
    assert grid.size == size
    assert grid.position_of(digits(n, sizes)) == n


def test_a_huge_grid_runs_out_at_its_last_point() -> None:
    space = int_space(QUADRILLION)
    size = math.prod(QUADRILLION)
    assert size > 10**15
    last = ask(suggester(), space, size - 2, 5)
    assert last == [digits(size - 2, QUADRILLION), digits(size - 1, QUADRILLION)]
    with pytest.raises(GridExhausted):
        ask(suggester(), space, size, 1)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 10**15 - 1), seed=st.integers(0, 2**63 - 1))
def test_a_shuffled_huge_grid_gives_valid_points_and_inverts(n: int, seed: int) -> None:
    space = int_space([10] * 15)
    grid = GridPoints(space, 10)
    perm = SeededPermutation(grid.size, seed)
    [params] = ask(suggester(shuffle=True), space, n, 1, seed=seed)
    assert space.check_params(params) == {}
    number = grid.position_of(params)
    assert number is not None and perm.inverse(number) == n


# --- the seeded order -------------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 600), seed=st.integers(0, 2**63 - 1))
def test_the_seeded_order_is_a_permutation_with_an_inverse(size: int, seed: int) -> None:
    perm = SeededPermutation(size, seed)
    image = [perm(x) for x in range(size)]
    assert sorted(image) == list(range(size))
    assert [perm.inverse(y) for y in image] == list(range(size))


def test_the_seed_fixes_the_shuffled_order() -> None:
    space = SearchSpace.from_json(NAMED_SPACES["floats"][0])
    first = ask_until_exhausted(suggester(shuffle=True, grid_points=5), space, seed=1)
    again = ask_until_exhausted(suggester(shuffle=True, grid_points=5), space, seed=1)
    other = ask_until_exhausted(suggester(shuffle=True, grid_points=5), space, seed=2)
    declared = ask_until_exhausted(suggester(grid_points=5), space, seed=1)
    assert first == again
    assert first != other and first != declared
    assert sorted(map(canonical, first)) == sorted(map(canonical, other)) == sorted(map(canonical, declared))


def test_a_permutation_refuses_elements_outside_its_range() -> None:
    perm = SeededPermutation(5, 0)
    with pytest.raises(IndexError):
        perm(5)
    with pytest.raises(IndexError):
        perm.inverse(-1)
    with pytest.raises(ValueError):
        SeededPermutation(0, 0)


# --- batches, exhaustion --------------------------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [False, True], ids=["declared", "shuffled"])
def test_batches_and_single_asks_give_the_same_points(shuffle: bool) -> None:
    space = SearchSpace.from_json(NAMED_SPACES["chained_and_multi_parent"][0])
    grid = suggester(shuffle=shuffle)
    whole = ask(grid, space, 0, 20)
    assert [ask(grid, space, k, 1)[0] for k in range(20)] == whole
    assert ask(grid, space, 0, 8) + ask(grid, space, 8, 5) + ask(grid, space, 13, 7) == whole


def test_a_batch_at_the_end_gets_what_is_left_then_the_grid_is_exhausted() -> None:
    space = SearchSpace.from_json(NAMED_SPACES["plain"][0])
    grid = suggester()
    assert len(ask(grid, space, 0, 7)) == 7
    assert ask(grid, space, 7, 5) == [{"a": 4, "b": "y"}, {"a": 4, "b": "z"}]
    with pytest.raises(GridExhausted) as raised:
        ask(grid, space, 9, 1)
    assert raised.value.status == 409 and raised.value.type.endswith(":grid-exhausted")
    assert raised.value.extra == {"grid_size": 9}
    assert "exhausted" in raised.value.detail and " 9 " in raised.value.detail


def test_floats_without_step_are_tidy_and_include_both_ends() -> None:
    assert spaced(1e-5, 0.1, 5, log=True) == [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    assert spaced(0.0, 0.99, 4, log=False) == [0.0, 0.33, 0.66, 0.99]
    assert spaced(-1.0, 1.0, 3, log=False) == [-1.0, 0.0, 1.0]
    close = spaced(1.0, 1.0 + 2e-16, 50, log=False)  # float64 holds only two values here
    assert close == [1.0, 1.0 + 2.220446049250313e-16]


def test_off_grid_params_have_no_position() -> None:
    space = SearchSpace.from_json(NAMED_SPACES["conditional"][0])
    grid = GridPoints(space, 10)
    assert grid.position_of({"optimizer": "sgd", "momentum": 0.5, "lr": 1}) is None  # not a grid value
    assert grid.position_of({"optimizer": "sgd", "momentum": 0.0, "beta": 1, "lr": 1}) is None  # inactive given
    assert grid.position_of({"optimizer": "sgd", "lr": 1}) is None  # active one missing
    assert grid.position_of({"optimizer": "sgd", "momentum": 0.0, "lr": 1, "x": 1}) is None  # unknown name
    assert grid.position_of({"optimizer": "adam", "beta": 3, "lr": 2}) == 9


# --- check at study creation ----------------------------------------------------------------------------

def test_check_refuses_a_grid_above_the_limit_naming_its_size_and_its_biggest_params() -> None:
    space = int_space([10] * 11)
    space = SearchSpace.from_json({"params": [*space.to_json()["params"],
                                              {"name": "lr", "type": "float", "low": 0.0, "high": 1.0}]})
    with pytest.raises(InvalidInput) as raised:
        suggester(grid_points=1000).check(space, Limits())
    detail = raised.value.detail
    assert "100,000,000,000,000 points" in detail and "10,000,000,000" in detail
    assert "'lr' (1,000 values)" in detail and "grid_points" in detail and "SUGGEST_MAX_GRID_SIZE" in detail
    assert raised.value.errors == {"space": [detail]}
    suggester(grid_points=1000).check(space, Limits(max_grid_size=10**14))  # exactly at the limit


def test_check_counts_astronomical_grids_exactly() -> None:
    huge = SearchSpace.from_json({"params": [{"name": f"n{i}", "type": "int", "low": 0, "high": 2**50}
                                             for i in range(100)]})
    with pytest.raises(InvalidInput) as raised:
        suggester().check(huge, Limits())
    assert GridPoints(huge, 10).size == (2**50 + 1) ** 100
    assert str((2**50 + 1) ** 100).startswith("14124")
    assert "about 1.41e+1505 (1506 digits) points" in raised.value.detail


def test_check_refuses_conditions_too_entangled_to_count() -> None:
    """Sixteen gates whose children share a later parent: the counting state grows as 2**16."""
    gates = [{"name": f"g{i}", "type": "categorical", "choices": [True, False]} for i in range(16)]
    shared = [{"name": "h", "type": "categorical", "choices": ["x", "y"]}]
    kids = [{"name": f"c{i}", "type": "int", "low": 0, "high": 1, "when": {f"g{i}": [True], "h": ["x"]}}
            for i in range(16)]
    with pytest.raises(InvalidInput, match="too entangled"):
        suggester().check(SearchSpace.from_json({"params": gates + shared + kids}), Limits())
    # Declared with the shared parent first, the same space is cheap.
    suggester().check(SearchSpace.from_json({"params": shared + gates + kids}), Limits(max_grid_size=10**20))


def test_options_are_validated() -> None:
    for bad in ({"grid_points": 1}, {"grid_points": 1001}, {"shuffle": "sometimes"}, {"bogus": 1}):
        with pytest.raises(InvalidInput):
            suggesters.validate("grid", bad)
    assert suggesters.validate("grid", {}) == PluginRef(
        name="grid", options={"shuffle": False, "grid_points": 10, "retry_failed": False})
    assert not suggester().needs_history and suggester(retry_failed=True).needs_history


# --- retry_failed ---------------------------------------------------------------------------------------

SIX = SearchSpace.from_json({"params": [{"name": "x", "type": "int", "low": 0, "high": 5}]})


def trial(number: int, x: int, state: TrialState, source: str = "suggester") -> Trial:
    return Trial(number=number, state=state, params={"x": x}, created_at=NOW, source=source)


def retry(history: Sequence[Trial], count: int, *, shuffle: bool = False, seed: int = 7) -> list[int]:
    got = ask(suggester(retry_failed=True, shuffle=shuffle), SIX, len(history), count, seed=seed, history=history)
    return [p["x"] for p in got]


R, C, F, P = TrialState.RUNNING, TrialState.COMPLETED, TrialState.FAILED, TrialState.PRUNED


def test_retry_hands_failed_points_out_first_oldest_failure_first_then_fresh_ones() -> None:
    history = [trial(0, 0, C), trial(1, 1, F), trial(2, 2, R), trial(3, 3, F), trial(4, 4, P)]
    assert retry(history, 3) == [1, 3, 5]
    # a point failing again goes to the back of the line
    assert retry([trial(0, 0, F), trial(1, 1, F), trial(2, 0, F)], 3) == [1, 0, 2]


def test_retry_skips_failed_points_that_a_later_trial_holds() -> None:
    history = [trial(0, 0, F), trial(1, 1, F), trial(2, 0, R), trial(3, 1, C), trial(4, 2, F)]
    assert retry(history, 6) == [2, 3, 4, 5]


def test_retry_skips_points_held_by_imported_and_enqueued_trials() -> None:
    history = [trial(0, 3, C, "import"), trial(1, 1, R, "queue"), trial(2, 0, C), trial(3, 9, C, "import")]
    assert retry(history, 3) == [2, 4, 5]
    # an enqueued trial the grid skipped, that then failed (went stale), is retried like the grid's own
    history = [trial(0, 1, F, "queue"), trial(1, 0, C), trial(2, 2, C)]
    assert retry(history, 2) == [1, 3]


def test_retry_mode_reports_exhaustion_only_when_nothing_is_left_to_hand_out() -> None:
    history = [trial(n, n, C if n % 2 else R) for n in range(6)]
    with pytest.raises(GridExhausted) as raised:
        retry(history, 1)
    assert raised.value.extra == {"grid_size": 6} and "3 trials are still running" in raised.value.detail
    with pytest.raises(GridExhausted):  # point 0 failed once, but trial 0 still runs it
        retry([*history, trial(6, 0, F, "queue")], 1)
    assert retry([trial(0, 0, F), *history[1:]], 2) == [0]


def test_retry_follows_the_shuffled_order() -> None:
    order = [p["x"] for p in ask(suggester(shuffle=True), SIX, 0, 6, seed=11)]
    assert order != list(range(6))
    history = [trial(0, order[0], C), trial(1, order[1], F)]
    assert retry(history, 3, shuffle=True, seed=11) == [order[1], order[2], order[3]]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shuffle=st.booleans())
def test_retry_mode_completes_every_point_once_and_never_runs_a_point_twice_at_once(
        data: st.DataObject, shuffle: bool) -> None:
    """A simulated study: asks of random sizes, trials finishing in random order, some failing."""
    space = SearchSpace.from_json(NAMED_SPACES["conditional"][0])
    grid = suggester(retry_failed=True, shuffle=shuffle)
    history: list[Trial] = []
    failures: dict[str, int] = {}

    def finish_one(running: list[Trial]) -> None:
        done = data.draw(st.sampled_from(running))
        key = canonical(done.params)
        fail = failures.get(key, 0) < 2 and data.draw(st.booleans())
        failures[key] = failures.get(key, 0) + fail
        history[done.number] = Trial(number=done.number, state=F if fail else C, params=done.params, created_at=NOW)

    for _ in range(300):
        running = [t for t in history if t.state is R]
        if data.draw(st.booleans()) and running:
            finish_one(running)
            continue
        try:
            got = ask(grid, space, len(history), data.draw(st.integers(1, 4)), history=history)
        except GridExhausted:
            if not running:
                break
            finish_one(running)
            continue
        busy = {canonical(t.params) for t in history if t.state is not F}
        assert not busy & {canonical(p) for p in got}, "a point was handed out while held"
        history += [Trial(number=len(history) + j, state=R, params=p, created_at=NOW) for j, p in enumerate(got)]
    else:
        raise AssertionError("the simulation did not finish")
    completed = [canonical(t.params) for t in history if t.state is C]
    assert sorted(completed) == sorted(canonical(GridPoints(space, 10).point(n)) for n in range(14))


def test_check_at_a_limit_of_zero_still_says_what_to_change() -> None:
    single = SearchSpace.from_json({"params": [{"name": "k", "type": "categorical", "choices": ["only"]}]})
    with pytest.raises(InvalidInput, match=r"the grid has 1 points, above the limit of 0 points; Give params"):
        suggester().check(single, Limits(max_grid_size=0))
