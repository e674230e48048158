"""Both importance methods on one set of trials, ranked as the API answers them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from suggest_api.errors import TooFewTrials
from suggest_api.importance.encoding import encode
from suggest_api.importance.forest import forest_importance
from suggest_api.importance.grey import RHO, grey_relational_grades
from suggest_api.space import SearchSpace, Value

#: Trials with distinct objective values that importance needs: with fewer, nothing varies with anything.
NEEDED = 2


@dataclass(frozen=True)
class ParamImportance:
    name: str
    #: The param's share of the variance the forest's main effects explain (the shares sum to 1, or all are 0).
    forest: float
    #: Its grey relational grade in [0, 1].
    grey_relational: float
    #: How many of the trials used give it a value (fewer than all for a conditional param).
    active_trials: int


@dataclass(frozen=True)
class Importance:
    #: Every param of the space, by forest share (highest first), ties by name.
    params: tuple[ParamImportance, ...]
    trials_used: int
    trees: int
    explained_variance: float
    distinguishing_coefficient: float


def assess(space: SearchSpace, params: Sequence[Mapping[str, Value]], values: Sequence[float]) -> Importance:
    """Importance of each param of `space` for `values` (one finite number per trial, in trial order).

    Raises TooFewTrials when fewer than two trials, or no two with different values, are given.
    """
    y = np.asarray(values, dtype=np.float64)
    distinct = len(np.unique(y))
    if distinct < NEEDED:
        found = "none" if not len(y) else (
            f"{len(y)}, all with the value {float(y[0])!r}" if len(y) > 1 else "only 1")
        raise TooFewTrials(f"importance needs at least {NEEDED} completed trials with different values of the "
                           f"metric; found {found}", extra={"needed": NEEDED, "have": distinct})
    encoded = encode(space, params)
    forest = forest_importance(encoded, y)
    grades = grey_relational_grades(encoded, y)
    ranked = [ParamImportance(name, float(forest.shares[j]), float(grades[j]), int(encoded.active[:, j].sum()))
             for j, name in enumerate(encoded.names)]
    ranked.sort(key=lambda p: (-p.forest, p.name))
    return Importance(tuple(ranked), len(y), forest.trees, forest.explained_variance, RHO)
