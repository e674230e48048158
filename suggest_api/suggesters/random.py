"""Uniform random search: each trial drawn from its own (seed, number) generator, history unused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from suggest_api.space import SearchSpace
from suggest_api.trials import Goal, Trial


class RandomSuggester:
    """Uniform in the unit cube, so log scales, steps, ints and conditions come from the space's decoder."""

    needs_history: ClassVar[bool] = False

    def suggest(self, space: SearchSpace, history: Sequence[Trial], goal: Goal,
                rngs: Sequence[np.random.Generator]) -> list[dict[str, Any]]:
        return [space.decode(rng.random(space.dimension)) for rng in rngs]
