"""space_inference (pure): call definitions, inference of a space with `when` from trials' calls, and the checks
of a call against a space; the service's own space parser is the judge of what is valid."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suggest_api.errors import InvalidSpace
from suggest_api.space import SearchSpace
from suggest_client.define_by_run import DiscoverySampler
from suggest_client.errors import SpaceMismatch
from suggest_client.space_inference import (
    Choice,
    Observation,
    active,
    call_text,
    categorical_param,
    check_call,
    check_observation,
    differences,
    float_param,
    infer,
    int_param,
    normalize,
)

KIND = categorical_param("kind", ["a", "b"])
X = float_param("x", 0, 1)
Y = int_param("y", 1, 5)


def observed(label: str, *calls: tuple[dict[str, Any], Choice]) -> Observation:
    seen = Observation(label)
    for param, value in calls:
        seen.add(param, value)
    return seen


def test_definitions_are_the_service_json() -> None:
    assert float_param("lr", 1e-5, 1e-1, log=True) == {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1,
                                                       "log": True}
    assert float_param("x", 0, 1, step=0.25) == {"name": "x", "type": "float", "low": 0.0, "high": 1.0, "step": 0.25}
    assert int_param("n", 16, 256, step=16) == {"name": "n", "type": "int", "low": 16, "high": 256, "step": 16}
    assert int_param("n", 1, 9) == {"name": "n", "type": "int", "low": 1, "high": 9}  # step 1 is the default
    assert categorical_param("flag", [True, 1, "1"])["choices"] == [True, 1, "1"]  # true, 1 and "1" all differ
    assert call_text(float_param("lr", 0.001, 0.1, log=True)) == "suggest_float('lr', 0.001, 0.1, log=True)"
    assert call_text(int_param("n", 0, 8, step=2)) == "suggest_int('n', 0, 8, step=2)"
    assert normalize({"name": "n", "type": "int", "low": 1, "high": 3, "step": 1, "when": {"k": ["a"]},
                      "grid": [1]}) == int_param("n", 1, 3)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: float_param("x", 1, 1), "param 'x' .*low must be below high"),
    (lambda: float_param("x", 0, 1, log=True), "a log scale needs low > 0"),
    (lambda: float_param("x", 1, 2, log=True, step=0.5), "log and step cannot be combined"),
    (lambda: float_param("x", 0, 1, step=0.3), "step 0.3 does not divide high - low .* about 0.9 or 1.2"),
    (lambda: float_param("x", 0, math.inf), "high must be a finite number"),
    (lambda: int_param("n", 0, 10, step=3), "step 3 does not divide high - low \\(10\\); set high to 9 or 12"),
    (lambda: int_param("n", 0, 2.5), "high of an int param must be an integer"),  # type: ignore[arg-type]
    (lambda: categorical_param("c", []), "choices is empty"),
    (lambda: categorical_param("c", ["a", None]), "choice None is not allowed"),  # type: ignore[list-item]
    (lambda: categorical_param("c", ["a", "a"]), "'a' is listed twice"),
    (lambda: categorical_param("c", "ab"), "choices must be a list"),
])
def test_a_definition_the_service_would_refuse_is_refused_at_the_call(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@given(low=st.floats(-1e6, 1e6), span=st.floats(1e-6, 1e6) | st.just(0.0), log=st.booleans(),
       step=st.none() | st.sampled_from([0.1, 0.25, 0.3, 1.0, 2.0, 1e-3]))
def test_what_a_float_call_refuses_the_service_refuses_too(low: float, span: float, log: bool,
                                                          step: float | None) -> None:
    try:
        param = float_param("x", low, low + span, step=step, log=log)
    except ValueError:
        with pytest.raises(InvalidSpace):
            SearchSpace.from_json({"params": [{"name": "x", "type": "float", "low": low, "high": low + span,
                                               "log": log, "step": step}]})
    else:  # and what it takes, the service's sampler values fit
        space = SearchSpace.from_json({"params": [param]})
        sampler = DiscoverySampler(seed=int(abs(low)))
        for _ in range(5):
            space.validate_params({"x": sampler.value(param)})


@given(low=st.integers(-1000, 1000), span=st.integers(0, 1000), log=st.booleans(), step=st.integers(1, 7))
def test_what_an_int_call_refuses_the_service_refuses_too(low: int, span: int, log: bool, step: int) -> None:
    try:
        param = int_param("n", low, low + span, step=step, log=log)
    except ValueError:
        with pytest.raises(InvalidSpace):
            SearchSpace.from_json({"params": [{"name": "n", "type": "int", "low": low, "high": low + span,
                                               "log": log, "step": step}]})
    else:
        space = SearchSpace.from_json({"params": [param]})
        sampler = DiscoverySampler(seed=span)
        for _ in range(5):
            space.validate_params({"n": sampler.value(param)})


def test_discovery_takes_every_choice_in_each_round_and_repeats_for_a_seed() -> None:
    choices = categorical_param("c", ["a", "b", "c", "d"])
    first = DiscoverySampler(seed=1)
    rounds = [[first.value(choices) for _ in range(4)] for _ in range(3)]
    assert all(sorted(map(str, r)) == ["a", "b", "c", "d"] for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1  # reshuffled, so two categoricals do not stay in step
    again = DiscoverySampler(seed=1)
    assert [again.value(choices) for _ in range(12)] == [v for r in rounds for v in r]


def test_params_asked_in_every_trial_are_plain() -> None:
    inference = infer([observed("trial 0", (X, 0.5), (Y, 2)), observed("trial 1", (X, 0.1), (Y, 4))])
    assert inference.settled and inference.result() == {"params": [X, Y]}


def test_a_param_asked_under_one_branch_gets_when() -> None:
    shape = categorical_param("shape", ["wide", "narrow"])
    width = float_param("width", 0.5, 2)
    trials = [observed("trial 0", (KIND, "a"), (X, 0.5), (shape, "wide"), (width, 1.0)),
              observed("trial 1", (KIND, "b"), (X, 0.2)),
              observed("trial 2", (KIND, "a"), (X, 0.3), (shape, "narrow"))]
    inference = infer(trials)
    assert inference.settled
    space = inference.result()
    assert space == {"params": [KIND, X, {**shape, "when": {"kind": ["a"]}}, {**width, "when": {"shape": ["wide"]}}]}
    SearchSpace.from_json(space)  # the service takes it
    assert active(space, {"kind": "a", "x": 0.1, "shape": "narrow"}) == {"kind": True, "x": True, "shape": True,
                                                                          "width": False}
    assert active(space, {"kind": "b", "x": 0.1})["width"] is False  # its parent is itself inactive


def test_more_trials_are_wanted_while_a_choice_is_unseen_or_a_parent_unclear() -> None:
    other = categorical_param("other", ["c", "d"])
    trials = [observed("trial 0", (KIND, "a"), (other, "c"), (Y, 1)), observed("trial 1", (KIND, "b"), (other, "d"))]
    inference = infer(trials)
    assert inference.ambiguous == ("y",) and not inference.settled  # `kind` and `other` both explain y
    assert inference.result()["params"][2]["when"] == {"other": ["c"]}  # the one asked last before it, meanwhile
    trials.append(observed("trial 2", (KIND, "a"), (other, "d")))
    assert infer(trials).result()["params"][2]["when"] == {"other": ["c"]} and infer(trials).settled
    unseen = infer([observed("trial 0", (KIND, "a"), (X, 0.5))])
    assert unseen.unseen == ("kind",) and not unseen.settled
    assert not infer([]).settled
    with pytest.raises(ValueError, match="no trial completed"):
        infer([]).result()


def test_a_param_no_categorical_explains_is_an_error_naming_it() -> None:
    trials = [observed("trial 0", (KIND, "a"), (X, 0.9), (Y, 2)), observed("trial 1", (KIND, "a"), (X, 0.1)),
              observed("trial 2", (KIND, "b"), (X, 0.7), (Y, 3))]
    inference = infer(trials)
    assert inference.settled  # no trial can make it explainable again
    with pytest.raises(SpaceMismatch, match="param 'y' is asked by some trials \\(trial 0, trial 2\\) and not by "
                                            "others \\(trial 1, .*no categorical param asked before it explains"):
        inference.result()
    asked_after = [observed("trial 0", (Y, 1), (KIND, "a")), observed("trial 1", (KIND, "b"))]
    with pytest.raises(SpaceMismatch, match="'y'"):  # its only candidate is asked after it
        infer(asked_after).result()


def test_a_param_asked_two_ways_is_an_error_naming_both_trials() -> None:
    trials = [observed("trial 0", (X, 0.5)), observed("trial 3", (float_param("x", 0, 2), 1.5))]
    with pytest.raises(SpaceMismatch, match=r"param 'x' is asked differently by two trials: trial 0 calls "
                                            r"suggest_float\('x', 0.0, 1.0\), trial 3 calls "
                                            r"suggest_float\('x', 0.0, 2.0\)"):
        infer(trials).result()


def test_differences_say_what_differs() -> None:
    assert differences(X, float_param("x", 0, 1)) == []
    assert differences(X, float_param("x", 0, 2, log=False)) == ["high is 2.0, the study's is 1.0"]
    assert differences(float_param("x", 1, 2, log=True), float_param("x", 1, 2)) == [
        "log is not set, the study's is True"]
    assert differences(X, int_param("x", 0, 1)) == ["it is a float param, not int"]
    assert differences(KIND, categorical_param("kind", ["b", "a"])) == []
    assert differences(categorical_param("c", [1, 2]), categorical_param("c", [True, 2])) == [
        "choices [True] are not in the study's", "the study's choices [1] are not asked for"]


def test_check_call_answers_the_service_value_as_the_call_asked_it() -> None:
    space = {"params": [KIND, X, {**Y, "when": {"kind": ["a"]}}, categorical_param("flag", [True, 1])]}
    params = {"kind": "a", "x": 1, "y": 3, "flag": 1}
    value = check_call(space, params, X, study="s", number=4)
    assert value == 1.0 and isinstance(value, float)
    flag = check_call(space, params, categorical_param("flag", [True, 1]), study="s", number=4)
    assert flag == 1 and flag is not True
    with pytest.raises(SpaceMismatch, match="param 'y' is inactive in trial 4 of study 's'.* 'kind' is 'b'"):
        check_call(space, {"kind": "b", "x": 0.5, "flag": True}, Y, study="s", number=4)


def test_check_observation_wants_the_calls_to_fill_the_space_exactly() -> None:
    space = {"params": [KIND, X, {**Y, "when": {"kind": ["a"]}}]}
    check_observation(space, observed("trial 0", (KIND, "a"), (X, 0.5), (Y, 1)), "s")
    with pytest.raises(SpaceMismatch, match="'y' active only when 'kind' is one of \\['a'\\], but trial 1 asked it"):
        check_observation(space, observed("trial 1", (KIND, "b"), (X, 0.5), (Y, 1)), "s")
    with pytest.raises(SpaceMismatch, match="study 's' has params \\['y'\\] active in trial 2"):
        check_observation(space, observed("trial 2", (KIND, "a"), (X, 0.5)), "s")


def test_discovery_values_on_a_step_are_the_ones_the_service_keeps() -> None:
    param = float_param("p", 0.1, 1.0, step=0.1)
    space = SearchSpace.from_json({"params": [param]})
    sampler = DiscoverySampler(seed=0)
    values = {sampler.value(param) for _ in range(200)}
    assert len(values) == 10 and all(space.validate_params({"p": v}) == {"p": v} for v in values)
