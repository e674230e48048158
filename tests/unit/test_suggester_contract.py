"""What every registered suggester promises, whatever its algorithm: valid params, determinism, the count.

Histories are random: any mix of states, values from tiny to 1e300 (negative too), ties, a single
completed trial, or none at all, so model-based suggesters meet the degenerate cases real studies hit.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest_api.domain import Goal, PluginRef, Trial, TrialState
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import SuggestRequest, trial_rng
from suggest_api.suggesters.registry import suggesters
from tests.support.spaces import TRAINING_SPACE

SPACES = {
    "conditional": TRAINING_SPACE,
    "one_float": SearchSpace.from_json({"params": [{"name": "x", "type": "float", "low": -1.0, "high": 1.0}]}),
    "one_choice": SearchSpace.from_json({"params": [
        {"name": "c", "type": "categorical", "choices": ["a", 1, True, 2.5]}]}),
}
NAMES = sorted(suggesters.specs())
VALUES = st.one_of(st.floats(-1e300, 1e300, allow_nan=False),
                   st.sampled_from([0.0, 1.0, -1.0, 1e-300, sys.float_info.max, -sys.float_info.max]))
STATES = st.sampled_from([TrialState.COMPLETED, TrialState.COMPLETED, TrialState.FAILED, TrialState.RUNNING,
                          TrialState.PRUNED])
NOW = datetime(2026, 1, 1)


@st.composite
def histories(draw: st.DrawFn, space: SearchSpace) -> list[Trial]:
    size = draw(st.integers(0, 25))
    seed = draw(st.integers(0, 2**32))
    trials = []
    for number in range(size):
        state = draw(STATES)
        value = draw(VALUES) if state is TrialState.COMPLETED else None
        params = space.decode(trial_rng(seed, number).random(space.dimension))
        trials.append(Trial(number=number, state=state, params=params, value=value, created_at=NOW))
    return trials


def suggest(name: str, space: SearchSpace, history: list[Trial], seed: int, count: int, goal: Goal,
            made: int | None = None) -> list[dict[str, Any]]:
    suggester = suggesters.build(suggesters.validate(name, {}))
    first = len(history)
    request = SuggestRequest(space=space, goal=goal, seed=seed, numbers=range(first, first + count),
                             made=first if made is None else made,
                             history=history if suggester.needs_history else ())
    return suggester.suggest(request)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("space_name", sorted(SPACES))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**63 - 1), count=st.integers(1, 4),
       goal=st.sampled_from(list(Goal)))
def test_suggestions_fit_the_space_and_repeat_for_the_same_input(
        name: str, space_name: str, data: st.DataObject, seed: int, count: int, goal: Goal) -> None:
    space = SPACES[space_name]
    history = data.draw(histories(space))
    made = len(history) if name != "grid" else 0  # a grid of 4 points may be used up by a long history
    first = suggest(name, space, history, seed, count, goal, made)
    assert 1 <= len(first) <= count
    if name != "grid":
        assert len(first) == count
    for params in first:
        assert space.check_params(params) == {}, params
    assert suggest(name, space, history, seed, count, goal, made) == first


def test_every_suggester_is_documented_with_a_summary_and_options() -> None:
    for name, spec in suggesters.specs().items():
        assert spec.summary, name
        for field_name, field in spec.options_schema().fields.items():
            assert field.metadata.get("description"), f"{name}.{field_name} has no description"


@pytest.mark.parametrize("name", NAMES)
def test_unknown_options_are_refused_naming_the_field(name: str) -> None:
    from suggest_api.errors import InvalidInput
    with pytest.raises(InvalidInput) as caught:
        suggesters.validate(name, {"no_such_option": 1})
    assert "no_such_option" in str(caught.value.errors)


def test_the_stored_options_rebuild_the_same_suggester() -> None:
    for name in NAMES:
        ref = suggesters.validate(name, {})
        assert isinstance(ref, PluginRef)
        again = suggesters.validate(name, dict(ref.options))
        assert again == ref, name
