"""Search space: every refusal names its field and its param; decode/encode hold on random valid spaces."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from suggest_api.config import Limits
from suggest_api.errors import InvalidParams, InvalidSpace
from suggest_api.space import (
    CategoricalParam,
    FloatParam,
    IntParam,
    Param,
    SearchSpace,
    Value,
    sample_uniform,
)

EXAMPLE = {"params": [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
    {"name": "batch_size", "type": "int", "low": 16, "high": 256, "step": 16},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
]}

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def canon(data: object) -> str:
    """JSON text, so that comparisons tell true from 1 and 1.0 from 1."""
    return json.dumps(data, sort_keys=True)


def one(param: dict[str, Any], *others: dict[str, Any]) -> dict[str, Any]:
    return {"params": [param, *others]}


def refusal(data: object, field: str, limits: Limits | None = None) -> list[str]:
    with pytest.raises(InvalidSpace) as info:
        SearchSpace.from_json(data, limits=limits or Limits())
    errors = info.value.errors
    assert errors is not None and field in errors, errors
    assert info.value.detail.startswith("invalid search space: ")
    messages: list[str] = errors[field]
    return messages


F = {"name": "x", "type": "float", "low": 0.0, "high": 1.0}
I = {"name": "n", "type": "int", "low": 0, "high": 10}  # noqa: E741
C = {"name": "c", "type": "categorical", "choices": ["a", "b"]}

# (case id, space JSON, error field, text the message must contain besides the param's name, limits)
REFUSALS: list[tuple[str, object, str, str, Limits | None]] = [
    # the space as a whole
    ("not-an-object", [F], "$", "JSON object", None),
    ("params-missing", {}, "params", "needs", None),
    ("params-not-a-list", {"params": {"x": F}}, "params", "list", None),
    ("params-empty", {"params": []}, "params", "at least one", None),
    ("too-many-params", {"params": [F, I, C]}, "params", "limit of 2", Limits(max_params=2)),
    ("unknown-top-level-key", {"params": [F], "extra": 1}, "extra", "'params'", None),
    ("param-not-an-object", {"params": ["x"]}, "params[0]", "object", None),
    # names
    ("name-missing", one({"type": "float", "low": 0, "high": 1}), "params[0].name", "missing", None),
    ("name-null", one({**F, "name": None}), "params[0].name", "missing", None),
    ("name-not-a-string", one({**F, "name": 3}), "params[0].name", "string", None),
    ("name-empty", one({**F, "name": ""}), "params[0].name", "empty", None),
    ("name-too-long", one({**F, "name": "abcdef"}), "params[0].name", "limit of 5",
     Limits(max_name_length=5)),
    ("name-control-char", one({**F, "name": "a\nb"}), "params[0].name", "control", None),
    ("name-invisible-char", one({**F, "name": "a\u200bb"}), "params[0].name", "invisible", None),
    ("name-duplicate", one(F, {**I, "name": "x"}), "params[1].name", "already used by params[0]", None),
    # types and keys
    ("type-missing", one({"name": "x", "low": 0, "high": 1}), "params[0].type", "missing", None),
    ("type-unknown", one({**F, "type": "double"}), "params[0].type", "'categorical'", None),
    ("type-an-object", one({**F, "type": {"float": 1}}), "params[0].type", "is unknown", None),
    ("type-a-list", one({**F, "type": ["float"]}), "params[0].type", "is unknown", None),
    ("unknown-key", one({**F, "choices": [1]}), "params[0].choices", "allowed keys are", None),
    ("unknown-key-categorical", one({**C, "low": 0}), "params[0].low", "allowed keys are", None),
    # bounds
    ("low-missing", one({"name": "x", "type": "float", "high": 1}), "params[0].low", "missing", None),
    ("high-missing", one({"name": "x", "type": "int", "low": 1}), "params[0].high", "missing", None),
    ("low-a-string", one({**F, "low": "0"}), "params[0].low", "number", None),
    ("low-a-bool", one({**F, "low": False}), "params[0].low", "boolean", None),
    ("high-a-bool", one({**I, "high": True}), "params[0].high", "boolean", None),
    ("low-nan", one({**F, "low": math.nan}), "params[0].low", "finite", None),
    ("high-inf", one({**F, "high": math.inf}), "params[0].high", "finite", None),
    ("low-above-high", one({**F, "low": 0.1, "high": 0.01}), "params[0].low", "swap them", None),
    ("low-equals-high", one({**I, "low": 3, "high": 3}), "params[0].low", "below high", None),
    ("range-too-wide", one({**F, "low": -1e308, "high": 1e308}), "params[0].high", "too wide", None),
    ("int-low-fractional", one({**I, "low": 0.5}), "params[0].low", "integer", None),
    ("int-high-fractional", one({**I, "high": 9.5}), "params[0].high", "integer", None),
    ("int-beyond-2**53", one({**I, "high": 2**53 + 1}), "params[0].high", "2**53", None),
    # log
    ("log-not-a-bool", one({**F, "log": "yes"}), "params[0].log", "true or false", None),
    ("log-float-low-zero", one({**F, "log": True}), "params[0].low", "low > 0", None),
    ("log-int-low-negative", one({**I, "low": -1, "log": True}), "params[0].low", "low > 0", None),
    ("log-with-float-step", one({**F, "low": 1.0, "high": 2.0, "log": True, "step": 0.5}),
     "params[0].step", "pick one", None),
    ("log-with-int-step", one({**I, "low": 1, "log": True, "step": 3}), "params[0].step", "pick one", None),
    ("log-int-too-large", one({**I, "low": 1, "high": 2**41, "log": True}), "params[0].high", "2**40", None),
    # step
    ("step-zero", one({**F, "step": 0}), "params[0].step", "positive", None),
    ("step-negative", one({**I, "step": -2}), "params[0].step", "positive", None),
    ("step-not-a-number", one({**F, "step": "0.1"}), "params[0].step", "number", None),
    ("step-a-bool", one({**I, "step": True}), "params[0].step", "number", None),
    ("float-step-not-dividing", one({**F, "step": 0.3}), "params[0].step", "does not divide", None),
    ("int-step-not-dividing", one({**I, "step": 3}), "params[0].step", "set high to 9 or 12", None),
    ("int-step-fractional", one({**I, "step": 2.5}), "params[0].step", "integer", None),
    ("step-larger-than-range", one({**F, "step": 2.0}), "params[0].step", "larger than", None),
    ("float-step-too-fine", one({**F, "low": 1e10, "high": 1e10 + 1, "step": 1e-5}), "params[0].step",
     "too fine", None),
    ("int-too-many-steps", one({**I, "low": -(2**52), "high": 2**52}), "params[0].step", "2**50", None),
    # categorical choices
    ("choices-missing", one({"name": "c", "type": "categorical"}), "params[0].choices", "missing", None),
    ("choices-not-a-list", one({**C, "choices": "ab"}), "params[0].choices", "list", None),
    ("choices-empty", one({**C, "choices": []}), "params[0].choices", "at least one", None),
    ("choices-too-many", one({**C, "choices": [1, 2, 3]}), "params[0].choices", "limit of 2",
     Limits(max_choices=2)),
    ("choice-null", one({**C, "choices": ["a", None]}), "params[0].choices[1]", "null", None),
    ("choice-nested", one({**C, "choices": ["a", ["b"]]}), "params[0].choices[1]", "strings", None),
    ("choice-object", one({**C, "choices": [{"a": 1}]}), "params[0].choices[0]", "strings", None),
    ("choice-nan", one({**C, "choices": [1.0, math.nan]}), "params[0].choices[1]", "finite", None),
    ("choice-duplicate", one({**C, "choices": ["a", "b", "a"]}), "params[0].choices[2]", "choices[0]", None),
    ("choice-duplicate-number", one({**C, "choices": [1, 1.0]}), "params[0].choices[1]", "duplicate", None),
    # when
    ("when-not-an-object", one(C, {**F, "when": ["c"]}), "params[1].when", "object", None),
    ("when-empty", one(C, {**F, "when": {}}), "params[1].when", "empty", None),
    ("when-self", one({**C, "when": {"c": ["a"]}}), "params[0].when.c", "itself", None),
    ("when-missing-parent", one(C, {**F, "when": {"opt": ["a"]}}), "params[1].when.opt", "not a param", None),
    ("when-numeric-parent", one(I, {**F, "when": {"n": [1]}}), "params[1].when.n", "categorical parent",
     None),
    ("when-not-a-choice", one(C, {**F, "when": {"c": ["z"]}}), "params[1].when.c", "not among the choices",
     None),
    ("when-bool-is-not-1", one({**C, "choices": [1, 2]}, {**F, "when": {"c": [True]}}), "params[1].when.c",
     "not among the choices", None),
    ("when-empty-list", one(C, {**F, "when": {"c": []}}), "params[1].when.c", "never be active", None),
    ("when-not-a-list", one(C, {**F, "when": {"c": "a"}}), "params[1].when.c", "list", None),
    ("when-duplicate-value", one(C, {**F, "when": {"c": ["a", "a"]}}), "params[1].when.c", "twice", None),
    # grid
    ("grid-not-a-list", one({**F, "grid": 0.5}), "params[0].grid", "list", None),
    ("grid-empty", one({**I, "grid": []}), "params[0].grid", "empty", None),
    ("grid-too-many", one({**I, "grid": [1, 2, 3]}), "params[0].grid", "limit of 2", Limits(max_choices=2)),
    ("grid-out-of-bounds", one({**F, "grid": [0.5, 2.0]}), "params[0].grid[1]", "outside", None),
    ("grid-off-step", one({**I, "step": 2, "grid": [3]}), "params[0].grid[0]", "nearest allowed", None),
    ("grid-float-off-step", one({**F, "step": 0.25, "grid": [0.3]}), "params[0].grid[0]", "0.25 and 0.5",
     None),
    ("grid-wrong-type", one({**I, "grid": ["1"]}), "params[0].grid[0]", "integer", None),
    ("grid-bool-for-int", one({**I, "grid": [True]}), "params[0].grid[0]", "integer", None),
    ("grid-not-a-choice", one({**C, "grid": ["a", "z"]}), "params[0].grid[1]", "not one of the choices",
     None),
    ("grid-duplicate", one({**I, "grid": [1, 2, 1.0]}), "params[0].grid[2]", "grid[0]", None),
]


@pytest.mark.parametrize(("data", "field", "needle", "limits"),
                         [pytest.param(*case[1:], id=case[0]) for case in REFUSALS])
def test_refusal_names_the_field_and_the_param(data: object, field: str, needle: str,
                                               limits: Limits | None) -> None:
    messages = refusal(data, field, limits)
    text = " ".join(messages)
    assert needle in text
    if field.startswith("params[") and isinstance(data, dict):
        index = int(field[len("params["):field.index("]")])
        name = data["params"][index].get("name") if isinstance(data["params"][index], dict) else None
        expected = f"param {name!r}" if isinstance(name, str) and name else f"params[{index}]"
        assert all(m.startswith(expected) for m in messages), messages


def test_cycle_names_every_param_in_it() -> None:
    data = one({"name": "a", "type": "categorical", "choices": [1, 2], "when": {"c": [1]}},
               {"name": "b", "type": "categorical", "choices": [1, 2], "when": {"a": [1]}},
               {"name": "c", "type": "categorical", "choices": [1, 2], "when": {"b": [2]}},
               {"name": "d", "type": "categorical", "choices": [1, 2], "when": {"a": [2]}})
    with pytest.raises(InvalidSpace) as info:
        SearchSpace.from_json(data)
    errors = info.value.errors or {}
    assert sorted(errors) == ["params[0].when", "params[1].when", "params[2].when"]
    for field, name in [("params[0].when", "a"), ("params[1].when", "b"), ("params[2].when", "c")]:
        (message,) = errors[field]
        assert message.startswith(f"param {name!r}:") and "cycle" in message
        assert "'a', 'b', 'c'" in message


def test_every_problem_is_reported_at_once() -> None:
    data = one({**F, "low": 2.0, "extra": 1}, {**C, "choices": ["a", "a"]}, {**I, "name": "x"},
               {**F, "name": "y", "when": {"nope": [1]}})
    with pytest.raises(InvalidSpace) as info:
        SearchSpace.from_json(data)
    assert set(info.value.errors or {}) == {"params[0].low", "params[0].extra", "params[1].choices[1]",
                                            "params[2].name", "params[3].when.nope"}
    assert "(and 4 more problems; see errors)" in info.value.detail


# --- accepted spaces and the canonical JSON form


def test_design_example_is_accepted_and_canonical() -> None:
    space = SearchSpace.from_json(EXAMPLE)
    assert [type(p) for p in space.params] == [FloatParam, IntParam, CategoricalParam, FloatParam]
    assert space.dimension == 1 + 1 + 3 + 1
    assert space.slices() == {"lr": slice(0, 1), "batch_size": slice(1, 2), "optimizer": slice(2, 5),
                              "momentum": slice(5, 6)}
    assert canon(space.to_json()) == canon(EXAMPLE)


def test_canonical_form_normalizes_numbers_defaults_and_when_order() -> None:
    space = SearchSpace.from_json(one(
        {"name": "c", "type": "categorical", "choices": ["a", True, 1, 2.5], "grid": [1.0, "a"]},
        {"name": "n", "type": "int", "low": 1.0, "high": 64, "log": True, "step": 1, "grid": [2.0, 4]},
        {"name": "x", "type": "float", "low": 0, "high": 1, "step": 1, "log": False,
         "when": {"c": [2.5, "a", True]}, "grid": None},
    ))
    assert space.to_json() == one(
        {"name": "c", "type": "categorical", "choices": ["a", True, 1, 2.5], "grid": [1, "a"]},
        {"name": "n", "type": "int", "low": 1, "high": 64, "log": True, "grid": [2, 4]},
        {"name": "x", "type": "float", "low": 0.0, "high": 1.0, "step": 1.0,
         "when": {"c": ["a", True, 2.5]}},
    )
    n = space["n"]
    assert isinstance(n, IntParam) and type(n.low) is int and n.grid == (2, 4)
    assert SearchSpace.from_json(space.to_json()) == space


def test_bool_and_number_choices_are_distinct() -> None:
    space = SearchSpace.from_json(one({**C, "choices": [True, 1, False, 0]}))
    assert space.dimension == 4
    for k, choice in enumerate([True, 1, False, 0]):
        u = np.zeros(4)
        u[k] = 1.0
        value = space.decode(u)["c"]
        assert type(value) is type(choice) and value == choice
        assert np.array_equal(space.encode({"c": choice}), u)
    true, one_ = (SearchSpace.from_json(one({**C, "choices": [v]})) for v in (True, 1))
    assert true != one_ and canon(true.to_json()) != canon(one_.to_json())


def test_constructor_validates_and_equality_is_by_canonical_json() -> None:
    space = SearchSpace([FloatParam(name="x", low=0, high=1), CategoricalParam(name="c", choices=("a", "b"))])
    assert space == SearchSpace.from_json(one({**F}, C))
    assert hash(space) == hash(SearchSpace.from_json(one({**F}, C)))
    assert FloatParam(name="x", low=0.0, high=1.0) == FloatParam(name="x", low=0, high=1)
    with pytest.raises(InvalidSpace):
        SearchSpace([FloatParam(name="x", low=1.0, high=0.0)])


# --- decode / encode, by hand


def test_decode_ends_of_the_cube_give_the_bounds() -> None:
    space = SearchSpace.from_json(one(
        {"name": "lin", "type": "float", "low": -2.0, "high": 3.0},
        {"name": "log", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
        {"name": "stp", "type": "float", "low": 0.0, "high": 1.0, "step": 0.1},
        {"name": "int", "type": "int", "low": 16, "high": 256, "step": 16},
        {"name": "ilog", "type": "int", "low": 1, "high": 1000, "log": True},
    ))
    assert space.decode([0.0] * 5) == {"lin": -2.0, "log": 1e-5, "stp": 0.0, "int": 16, "ilog": 1}
    assert space.decode([1.0] * 5) == {"lin": 3.0, "log": 0.1, "stp": 1.0, "int": 256, "ilog": 1000}
    assert space.decode([-5.0, -1.0, 7.0, 2.0, math.inf]) == space.decode([0.0, 0.0, 1.0, 1.0, 1.0])


def test_float_steps_decode_without_float_noise() -> None:
    space = SearchSpace.from_json(one({**F, "step": 0.1}))
    values = [space.decode([(k + 0.5) / 11])["x"] for k in range(11)]
    assert values == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert space.validate_params({"x": 0.1 * 3}) == {"x": 0.3}


def test_float_steps_stay_strict_for_large_bounds() -> None:
    space = SearchSpace.from_json(one({**F, "low": -1e6, "high": 1e6, "step": 1e-6}))
    assert space.decode([0.25])["x"] == -500000.0
    assert space.validate_params({"x": -1e6 + 1234567 * 1e-6}) == {"x": -999998.765433}
    assert "nearest allowed values are 0.0 and 1e-06" in space.check_params({"x": 0.5e-6})["x"][0]


def test_int_log_gives_every_value_a_share() -> None:
    space = SearchSpace.from_json(one({**I, "low": 1, "high": 4, "log": True}))
    seen = {space.decode([u])["n"] for u in np.linspace(0.0, 1.0, 101)}
    assert seen == {1, 2, 3, 4}
    for value in range(1, 5):
        assert space.decode(space.encode({"n": value})) == {"n": value}


def test_categorical_decodes_argmax_with_ties_to_the_first() -> None:
    space = SearchSpace.from_json(one({**C, "choices": ["a", "b", "c"]}))
    assert space.decode([0.2, 0.7, 0.7]) == {"c": "b"}
    assert space.decode([0.5, 0.5, 0.5]) == {"c": "a"}


def test_conditional_params_appear_only_when_active() -> None:
    space = SearchSpace.from_json(EXAMPLE)
    sgd = space.decode([0.5, 0.5, 1.0, 0.0, 0.0, 0.5])
    adam = space.decode([0.5, 0.5, 0.0, 1.0, 0.0, 0.5])
    assert sgd["optimizer"] == "sgd" and "momentum" in sgd
    assert adam["optimizer"] == "adam" and "momentum" not in adam
    momentum = space["momentum"]
    assert space.is_active(momentum, sgd) and not space.is_active(momentum, adam)
    assert space.is_active(space["lr"], {})


def test_inactive_params_get_a_fixed_encoding() -> None:
    space = SearchSpace.from_json(one(C, {**F, "when": {"c": ["a"]}},
                                      {"name": "k", "type": "categorical", "choices": [1, 2, 3, 4],
                                       "when": {"c": ["a"]}}))
    point = space.encode({"c": "b"})
    assert list(point) == [0.0, 1.0, 0.5, 0.25, 0.25, 0.25, 0.25]


def test_decode_refuses_a_wrong_shape_or_nan() -> None:
    space = SearchSpace.from_json(EXAMPLE)
    with pytest.raises(ValueError, match="shape"):
        space.decode([0.5] * 5)
    with pytest.raises(ValueError, match="NaN"):
        space.decode([math.nan] * 6)


def test_sample_uniform_is_deterministic_for_a_seed() -> None:
    space = SearchSpace.from_json(EXAMPLE)
    first = [sample_uniform(space, np.random.default_rng(7)) for _ in range(2)]
    assert first[0] == first[1]
    assert space.check_params(first[0]) == {}


# --- params checks


ADAM = {"lr": 0.01, "batch_size": 32, "optimizer": "adam"}


@pytest.mark.parametrize(("params", "name", "needle"), [
    pytest.param({**ADAM, "optimizer": "sgd"}, "momentum", "missing", id="missing"),
    pytest.param({**ADAM, "momentum": 0.5}, "momentum", "inactive here ('optimizer' is 'adam'",
                 id="inactive"),
    pytest.param({**ADAM, "beta": 1}, "beta", "not part", id="unknown"),
    pytest.param({**ADAM, "lr": "0.01"}, "lr", "expected a number", id="str-float"),
    pytest.param({**ADAM, "lr": True}, "lr", "expected a number", id="bool-float"),
    pytest.param({**ADAM, "lr": math.nan}, "lr", "finite", id="nan"),
    pytest.param({**ADAM, "batch_size": True}, "batch_size", "integer", id="bool-int"),
    pytest.param({**ADAM, "batch_size": 32.5}, "batch_size", "integer", id="frac-int"),
    pytest.param({**ADAM, "lr": 0.5}, "lr", "outside", id="float-bounds"),
    pytest.param({**ADAM, "batch_size": 512}, "batch_size", "outside", id="int-bounds"),
    pytest.param({**ADAM, "batch_size": 40}, "batch_size", "32 and 48", id="off-step"),
    pytest.param({**ADAM, "optimizer": "lbfgs"}, "optimizer", "not one of", id="choice"),
    pytest.param({**ADAM, "optimizer": ["sgd"]}, "optimizer", "not one of", id="list"),
])
def test_check_params_names_each_problem(params: dict[str, object], name: str, needle: str) -> None:
    space = SearchSpace.from_json(EXAMPLE)
    errors = space.check_params(params)
    assert list(errors) == [name]
    assert errors[name][0].startswith(f"param {name!r}") and needle in errors[name][0]
    with pytest.raises(InvalidParams) as info:
        space.validate_params(params)
    assert info.value.errors == errors
    with pytest.raises(InvalidParams):
        space.encode(params)  # type: ignore[arg-type]


@pytest.mark.parametrize("params", [
    pytest.param({**ADAM, "optimizer": "lbfgs", "momentum": 0.5}, id="bad-parent-value"),
    pytest.param({"lr": 0.01, "batch_size": 32, "momentum": 0.5}, id="parent-missing"),
])
def test_children_of_a_broken_parent_are_not_judged(params: dict[str, object]) -> None:
    errors = SearchSpace.from_json(EXAMPLE).check_params(params)
    assert list(errors) == ["optimizer"]


def test_validate_params_normalizes() -> None:
    space = SearchSpace.from_json(one({**I, "step": 2}, {**C, "choices": [True, 1.5, "z"]},
                                      {**F, "step": 0.1}))
    assert list(space.check_params("x")) == ["$"]  # type: ignore[arg-type]
    assert space.check_params({"n": True, "c": 1.5, "x": 0.2}) == {
        "n": ["param 'n': expected an integer, got True (boolean)"]}
    out = space.validate_params({"x": 0.30000000000000004, "c": True, "n": 4.0})
    assert out == {"n": 4, "c": True, "x": 0.3}
    assert [type(v) for v in out.values()] == [int, bool, float]
    assert type(space.validate_params({"n": 4, "c": 1.5, "x": 1})["x"]) is float


# --- properties on random valid spaces

FINITE = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.one_of(st.text(max_size=4), st.integers(-3, 3), st.floats(-10, 10), st.booleans())
NAME_CHARS = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn"))


def kind_key(value: Value) -> tuple[str, Value]:
    return (type(value).__name__ if isinstance(value, bool | str) else "number", value)


@st.composite
def float_param(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(["linear", "wide", "log", "step"]))
    param: dict[str, Any] = {"type": "float"}
    if mode == "linear":
        low = draw(st.floats(-1e6, 1e6))
        param.update(low=low, high=low + draw(st.floats(1e-3, 1e6)))
    elif mode == "wide":
        low, high = sorted(draw(st.lists(FINITE, min_size=2, max_size=2, unique=True)))
        assume(math.isfinite(high - low))
        param.update(low=low, high=high)
    elif mode == "log":
        low = 10.0 ** draw(st.floats(-12, 6))
        param.update(low=low, high=low * 10.0 ** draw(st.floats(1e-3, 12)), log=True)
    else:
        step = draw(st.sampled_from([0.1, 0.25, 0.5, 1.0, 1e-3, 0.05, 2.5, 1e-7, 3.0]))
        low = draw(st.integers(-1000, 1000)) * draw(st.sampled_from([0.1, 1.0, 0.01, 7.0]))
        param.update(low=low, high=low + draw(st.integers(1, 1000)) * step, step=step)
    if draw(st.booleans()):
        grid = draw(st.lists(st.floats(param["low"], param["high"]), min_size=1, max_size=4, unique=True))
        if "step" in param:
            grid = sorted({round((g - param["low"]) / param["step"]) for g in grid})
            grid = [param["low"] + k * param["step"] for k in grid]
        param["grid"] = grid
    return param


@st.composite
def int_param(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(["linear", "big", "log"]))
    if mode == "log":
        low = draw(st.integers(1, 1000))
        high = draw(st.integers(low + 1, 2**40))
        param: dict[str, Any] = {"type": "int", "low": low, "high": high, "log": True}
        step = 1
    else:
        low = draw(st.integers(-(10**6), 10**6) if mode == "linear" else st.integers(-(2**53), 0))
        step = draw(st.integers(1, 50) if mode == "linear" else st.integers(1, 2**30))
        n = draw(st.integers(1, 1000) if mode == "linear" else st.integers(1, 2**22))
        param = {"type": "int", "low": low, "high": low + n * step, "step": step}
    if draw(st.booleans()):
        ks = draw(st.lists(st.integers(0, (param["high"] - param["low"]) // step), min_size=1, max_size=4,
                           unique=True))
        param["grid"] = [param["low"] + k * step for k in ks]
    return param


@st.composite
def categorical_param(draw: st.DrawFn) -> dict[str, Any]:
    choices = draw(st.lists(SCALARS, min_size=1, max_size=5, unique_by=kind_key))
    param: dict[str, Any] = {"type": "categorical", "choices": choices}
    if draw(st.booleans()):
        param["grid"] = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique_by=kind_key))
    return param


@st.composite
def spaces(draw: st.DrawFn) -> dict[str, Any]:
    """Random valid spaces: mixed types, log and step, grids, conditions on earlier categoricals, shuffled."""
    count = draw(st.integers(1, 6))
    names = draw(st.lists(st.text(NAME_CHARS, min_size=1, max_size=8), min_size=count, max_size=count,
                          unique=True))
    params: list[dict[str, Any]] = []
    for name in names:
        param = {"name": name, **draw(st.one_of(float_param(), int_param(), categorical_param()))}
        parents = [p for p in params if p["type"] == "categorical"]
        conditional: bool = draw(st.booleans())
        if parents and conditional:
            chosen = draw(st.lists(st.sampled_from(parents), min_size=1, max_size=2,
                                   unique_by=lambda p: str(p["name"])))
            param["when"] = {p["name"]: draw(st.lists(st.sampled_from(p["choices"]), min_size=1,
                                                      unique_by=kind_key)) for p in chosen}
        params.append(param)
    return {"params": draw(st.permutations(params))}


def is_continuous(param: Param) -> bool:
    return isinstance(param, FloatParam) and param.step is None


def assert_same(space: SearchSpace, got: dict[str, Value], want: dict[str, Value]) -> None:
    """Discrete values exactly (type included); continuous floats within 1e-9 of the value or the range."""
    assert list(got) == list(want)
    for name, value in want.items():
        param = space[name]
        assert type(got[name]) is type(value), (name, got[name], value)
        if isinstance(param, FloatParam) and param.step is None:
            actual = got[name]
            assert isinstance(value, float) and isinstance(actual, float)
            assert math.isclose(actual, value, rel_tol=1e-9, abs_tol=1e-9 * (param.high - param.low))
        else:
            assert got[name] == value, (name, got[name], value)


def unit_points(dimension: int) -> st.SearchStrategy[list[float]]:
    return st.lists(st.floats(0.0, 1.0), min_size=dimension, max_size=dimension)


@PROPERTY
@given(spaces())
def test_random_spaces_round_trip_through_json(data: dict[str, Any]) -> None:
    space = SearchSpace.from_json(data)
    wire = json.loads(json.dumps(space.to_json()))
    again = SearchSpace.from_json(wire)
    assert again == space
    assert canon(again.to_json()) == canon(space.to_json())
    assert again.dimension == space.dimension == sum(
        len(p.choices) if isinstance(p, CategoricalParam) else 1 for p in space.params)


@PROPERTY
@given(spaces(), st.data())
def test_decode_gives_valid_params_that_round_trip(data: dict[str, Any], draw: st.DataObject) -> None:
    space = SearchSpace.from_json(data)
    point = draw.draw(unit_points(space.dimension))
    params = space.decode(point)
    assert space.check_params(params) == {}
    assert canon(space.validate_params(params)) == canon(params)
    encoded = space.encode(params)
    assert encoded.shape == (space.dimension,) and bool(np.all((encoded >= 0.0) & (encoded <= 1.0)))
    decoded = space.decode(encoded)
    assert_same(space, decoded, params)
    assert_same(space, space.decode(space.encode(decoded)), params)


@st.composite
def valid_params(draw: st.DrawFn, space: SearchSpace) -> dict[str, object]:
    """Values drawn from each active param's domain directly (not via decode), parents first."""
    values: dict[str, object] = {}
    decided: set[str] = set()
    while len(decided) < len(space.params):
        for p in space.params:
            if p.name in decided or any(parent not in decided for parent in p.when or {}):
                continue
            decided.add(p.name)
            if not space.is_active(p, values):  # type: ignore[arg-type]
                continue
            if isinstance(p, CategoricalParam):
                values[p.name] = draw(st.sampled_from(p.choices))
            elif isinstance(p, IntParam):
                values[p.name] = draw(st.integers(p.low, p.high) if p.log else
                                      st.builds(lambda k, p=p: p.low + k * p.step,
                                                st.integers(0, (p.high - p.low) // p.step)))
            elif p.step is not None:
                values[p.name] = p.low + draw(st.integers(0, round((p.high - p.low) / p.step))) * p.step
            else:
                values[p.name] = draw(st.floats(p.low, p.high))
    return values


@PROPERTY
@given(spaces(), st.data())
def test_any_valid_params_encode_and_decode_back(data: dict[str, Any], draw: st.DataObject) -> None:
    space = SearchSpace.from_json(data)
    params = space.validate_params(draw.draw(valid_params(space)))
    assert_same(space, space.decode(space.encode(params)), params)
