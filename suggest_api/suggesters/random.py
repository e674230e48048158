"""Uniform random search: each trial drawn from its own (seed, number) generator, history unused."""

from __future__ import annotations

from typing import Any

from suggest_api.config import Limits
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import SuggestRequest


class RandomSuggester:
    """Uniform in the unit cube, so log scales, steps, ints and conditions come from the space's decoder."""

    needs_history = False
    costly = False

    def check(self, space: SearchSpace, limits: Limits) -> None:
        """Any valid space can be sampled."""

    def suggest(self, request: SuggestRequest) -> list[dict[str, Any]]:
        space = request.space
        return [space.decode(rng.random(space.dimension)) for rng in request.rngs]
