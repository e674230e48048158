"""Trials as a matrix both importance methods read: one column per param, each in a bounded domain.

Why not the suggesters' unit cube: it gives a categorical one column per choice, and importance is asked
per param. Here every param is one column:

- float and int params through their own unit transform (`Param.encode`: log scales and steps respected),
  so a column's spread is the space's, not the raw numbers';
- a categorical as its choice index spread over [0, 1] at cell centres, (i + 0.5) / k, so each choice owns
  an equal share of the domain (a tree separates any choice with two splits);
- a conditional param (one with `when`) has the domain [-1, 1]: the trials where it is active fill [0, 1] as
  above, and every trial where it is inactive sits at -1, the end of the reserved part [-1, 0). A tree then
  tells "inactive" from every active value with one split, whose threshold (halfway to an active value) is
  always below 0; no threshold between active values is.

The functional ANOVA integrates over the domain with a measure (`Domain`): uniform on [0, 1] for each param,
except that a conditional param's inactive point carries the share of the trials in which it was inactive,
and its active range the rest. Being inactive then weighs what it weighed in the study.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suggest_api.space import CategoricalParam, Param, SearchSpace, Value

Array = npt.NDArray[np.float64]

#: Where an inactive conditional param sits: the low end of its reserved part of the domain, [-1, 0).
INACTIVE = -1.0


@dataclass(frozen=True)
class Domain:
    """What the columns range over: [low[j], high[j]] (high is 1; low is INACTIVE for a conditional param),
    the share of the measure on the inactive point, and the columns of each param's `when` parents."""

    low: Array
    high: Array
    inactive_share: Array
    parents: tuple[tuple[int, ...], ...]

    @classmethod
    def unit(cls, width: int) -> Domain:
        """The unit cube, every param always active."""
        return cls(np.zeros(width), np.ones(width), np.zeros(width), ((),) * width)


@dataclass(frozen=True)
class Encoded:
    """The encoded trials: `columns[t, j]` is param j of trial t, in `domain`."""

    names: tuple[str, ...]
    columns: Array
    #: Whether param j was active (given a value) in trial t.
    active: npt.NDArray[np.bool_]
    domain: Domain
    #: The choice index of each trial's value for categorical params (-1 where inactive); None for numbers.
    choices: tuple[npt.NDArray[np.intp] | None, ...]


def encode(space: SearchSpace, trials: Sequence[Mapping[str, Value]]) -> Encoded:
    """Each trial's params (valid for the space: stored trials are) as one row of the matrix."""
    count, width = len(trials), len(space.params)
    columns = np.full((count, width), INACTIVE, dtype=np.float64)
    active = np.zeros((count, width), dtype=np.bool_)
    choices: list[npt.NDArray[np.intp] | None] = []
    for j, param in enumerate(space.params):
        index = np.full(count, -1, dtype=np.intp) if isinstance(param, CategoricalParam) else None
        units: dict[tuple[str, Value], float] = {}  # ints, steps and choices repeat: map each value once
        for t, params in enumerate(trials):
            if param.name in params:
                value = params[param.name]
                key = (type(value).__name__, value)
                if key not in units:
                    units[key] = unit(param, value)
                active[t, j] = True
                columns[t, j] = units[key]
                if index is not None and isinstance(param, CategoricalParam):
                    index[t] = _choice(param, value)
        choices.append(index)
    position = {name: j for j, name in enumerate(space.names)}
    conditional = np.array([bool(p.when) for p in space.params], dtype=np.bool_)
    inactive = 1.0 - active.mean(axis=0) if count else np.zeros(width)
    domain = Domain(low=np.where(conditional, INACTIVE, 0.0), high=np.ones(width, dtype=np.float64),
                    inactive_share=np.where(conditional, inactive, 0.0),
                    parents=tuple(tuple(position[parent] for parent in p.when or ()) for p in space.params))
    return Encoded(space.names, columns, active, domain, tuple(choices))


def unit(param: Param, value: Value) -> float:
    """One value of a param in [0, 1]: the space's own transform, or a categorical's choice cell centre."""
    if isinstance(param, CategoricalParam):
        return (_choice(param, value) + 0.5) / len(param.choices)
    return float(param.encode(value)[0])


def _choice(param: CategoricalParam, value: Value) -> int:
    found = param.index_of(value)
    if found is None:
        raise ValueError(f"{value!r} is not a choice of param {param.name!r}")
    return found
