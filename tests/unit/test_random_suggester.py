"""The random suggester: valid, per-trial deterministic, uniform, and blind to history."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from suggest_api.domain import Goal, PluginRef
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.random import RandomSuggester
from suggest_api.suggesters.registry import suggesters
from tests.support.spaces import TRAINING_SPACE

SPACE = TRAINING_SPACE


def draw(numbers: range, seed: int = 3) -> list[dict[str, Any]]:
    return RandomSuggester().suggest(SuggestRequest(space=SPACE, goal=Goal.MINIMIZE, seed=seed, numbers=numbers))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), first=st.integers(0, 10**6), count=st.integers(1, 20))
def test_every_suggestion_fits_the_space(seed: int, first: int, count: int) -> None:
    for params in draw(range(first, first + count), seed):
        assert SPACE.check_params(params) == {}


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), split=st.integers(1, 9))
def test_trial_k_is_the_same_in_any_batch(seed: int, split: int) -> None:
    """What makes eight parallel workers reproduce a serial run: params depend on (seed, k) only."""
    whole = draw(range(10), seed)
    assert draw(range(split), seed) + draw(range(split, 10), seed) == whole
    assert [draw(range(k, k + 1), seed)[0] for k in range(10)] == whole


def test_different_seeds_and_numbers_differ() -> None:
    assert draw(range(5), seed=1) != draw(range(5), seed=2)
    assert len({repr(p) for p in draw(range(50))}) == 50


def test_draws_are_uniform_on_the_encoded_scale() -> None:
    """Log params are uniform in log space, categoricals uniform over choices, conditions respected."""
    samples = draw(range(3000))
    logs = np.log10([s["lr"] for s in samples])
    assert stats.kstest((logs + 5) / 4, "uniform").pvalue > 1e-3
    counts = Counter(s["optimizer"] for s in samples)
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3
    assert all(("nesterov" in s) == (s["optimizer"] == "sgd") for s in samples)
    assert all(("momentum" in s) == (s.get("nesterov") is True) for s in samples)
    assert {s["batch_size"] for s in samples} == set(range(16, 257, 16))
    assert min(s["layers"] for s in samples) == 1 and max(s["layers"] for s in samples) >= 500


def test_the_registry_builds_random_and_refuses_unknown_names_and_options() -> None:
    ref = suggesters.validate("random", {})
    assert ref == PluginRef(name="random", options={})
    assert suggesters.build(ref).needs_history is False
    for name, options, field in [("nope", {}, "suggester.name"), ("random", {"x": 1}, "suggester.options")]:
        try:
            suggesters.validate(name, options)
        except Exception as exc:  # InvalidInput
            assert field in getattr(exc, "errors", {})
        else:
            raise AssertionError("accepted")
