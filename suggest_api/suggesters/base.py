"""The suggester interface every algorithm implements.

A suggester is rebuilt from the stored study on every ask and forgotten afterwards, so any number of
workers can serve one study. Everything it may use arrives in one `SuggestRequest`: the space, the
study's past (only for suggesters that read it), the seed, the numbers of the trials being created and
how many trials it made before. An algorithm that draws each trial independently (random, grid) then
gives trial k the same parameters whether one worker or eight asked, and in batches of any size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from suggest_api.config import Limits
from suggest_api.domain import Constraint, Goal, Objective, Trial
from suggest_api.space import SearchSpace


def trial_rng(seed: int, number: int) -> np.random.Generator:
    """The generator for trial `number` of a study seeded `seed`: the same on every worker."""
    return np.random.default_rng([seed, number])


@dataclass(frozen=True, kw_only=True)
class SuggestRequest:
    """One ask's worth of input; the suggester returns up to `count` parameter dicts for it."""

    space: SearchSpace
    goal: Goal
    seed: int
    #: Numbers of the trials being created, ascending; one suggestion is wanted per number.
    numbers: Sequence[int]
    #: How many trials this study's suggester made before this ask (enqueued and imported ones not
    #: counted): the position of a sequence (grid points, Sobol design) to continue from.
    made: int = 0
    #: Every trial of the study, running ones included, oldest first; empty unless `needs_history`.
    history: Sequence[Trial] = ()
    #: A `time.monotonic()` value after which optional model work stops and the best answer so far is given:
    #: the worker has a request timeout, and an ask must finish well before it. None: no limit.
    deadline: float | None = None
    #: Every objective of the study (empty: one objective, `goal`). With several, each trial's results are in
    #: `Trial.values` by objective name and `goal` is the first objective's.
    objectives: tuple[Objective, ...] = ()
    #: Outcome constraints: a completed trial is feasible when each of its `values[c.name]` satisfies `c`.
    constraints: tuple[Constraint, ...] = ()

    @property
    def objective_list(self) -> tuple[Objective, ...]:
        """The objectives, at least one (a request made without them has one objective, `goal`)."""
        return self.objectives or (Objective("value", self.goal),)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def count(self) -> int:
        return len(self.numbers)

    @cached_property
    def rngs(self) -> list[np.random.Generator]:
        """One generator per trial being created, seeded by (study seed, trial number)."""
        return [trial_rng(self.seed, number) for number in self.numbers]

    @cached_property
    def rng(self) -> np.random.Generator:
        """One generator for the whole ask, seeded by (study seed, first number): for algorithms whose
        suggestions depend on each other (a batch of model-based points)."""
        return trial_rng(self.seed, self.numbers[0] if self.numbers else 0)


class Suggester(Protocol):
    """Constructed with its validated options as keywords; `suggest` must not keep state."""

    #: False when the suggester never looks at past trials, so ask does not load them.
    @property
    def needs_history(self) -> bool: ...

    #: True when a suggestion may take long (a model fit): it then runs in a model-fit process, under
    #: the worker's limit on concurrent fits and a time budget (see suggest_api/service/model_fits.py).
    @property
    def costly(self) -> bool: ...

    def check(self, space: SearchSpace, limits: Limits) -> None:
        """Refuse, at study creation, a space these options cannot serve (InvalidInput naming the field)."""
        ...

    def suggest(self, request: SuggestRequest) -> list[dict[str, Any]]:
        """Up to `request.count` parameter dicts, each valid for the space.

        Fewer means the space is used up (a finished grid); none at all raises `GridExhausted`.
        """
        ...
