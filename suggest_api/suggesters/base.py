"""The suggester interface every algorithm implements.

A suggester is rebuilt from the stored study on every ask and forgotten afterwards, so any number of
workers can serve one study. It receives one generator per trial being created, seeded by
(study seed, trial number): an algorithm that draws each trial independently (random, grid) then
gives trial k the same parameters whether one worker or eight asked, and in batches of any size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from suggest_api.space import SearchSpace
from suggest_api.trials import Goal, Trial


class Suggester(Protocol):
    """Constructed with its validated options as keywords; `suggest` must not keep state."""

    #: False when the suggester never looks at past trials, so ask does not load them.
    needs_history: ClassVar[bool]

    def suggest(self, space: SearchSpace, history: Sequence[Trial], goal: Goal,
                rngs: Sequence[np.random.Generator]) -> list[dict[str, Any]]:
        """Return `len(rngs)` parameter dicts; `history` includes running trials."""
        ...


def trial_rng(seed: int, number: int) -> np.random.Generator:
    """The generator for trial `number` of a study seeded `seed`: the same on every worker."""
    return np.random.default_rng([seed, number])
