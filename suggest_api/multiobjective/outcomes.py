"""A trial's results as numbers an algorithm compares: objectives turned so that smaller is better, and
how far the trial's metrics are outside the study's constraints.

One place for the sign convention, so that the front the API shows, the suggesters' selection and the
hypervolume all agree on which trial is better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from suggest_api.domain import Constraint, Goal, Objective, Trial

Array = npt.NDArray[np.float64]


def sign(goal: Goal) -> float:
    """+1 for minimize, -1 for maximize: a value times its sign is smaller when it is better."""
    return -1.0 if goal is Goal.MAXIMIZE else 1.0


def metric_values(trial: Trial, objectives: Sequence[Objective]) -> list[float] | None:
    """The trial's objective values in the objectives' order (their own units); None without a full result."""
    return told_values(trial.value, trial.values, objectives)


def told_values(value: float | None, values: Mapping[str, float] | None, objectives: Sequence[Objective]
                ) -> list[float] | None:
    """A result's objective values in the objectives' order; None without a full result.

    A study with one objective keeps its result in `value` (also in `values` when it has constraints); one with
    several keeps them in `values`.
    """
    if len(objectives) == 1 and value is not None:
        return [value]
    if values is None or any(o.name not in values for o in objectives):
        return None
    return [float(values[o.name]) for o in objectives]


def signed(values: Sequence[float], objectives: Sequence[Objective]) -> list[float]:
    """Values in the objectives' units turned so that smaller is better."""
    return [v * sign(o.goal) for v, o in zip(values, objectives, strict=True)]


def objective_matrix(trials: Sequence[Trial], objectives: Sequence[Objective]) -> Array:
    """One row per trial (each must have its full result), one column per objective, smaller is better."""
    signs = np.array([sign(o.goal) for o in objectives], dtype=float)
    rows = [metric_values(t, objectives) for t in trials]
    if any(row is None for row in rows):
        raise ValueError("every trial needs a value for each objective")
    matrix: Array = np.asarray(rows, dtype=float).reshape(len(trials), len(objectives)) * signs
    return matrix


def violation(values: Mapping[str, float] | None, constraints: Sequence[Constraint]) -> float:
    """The summed violation of every constraint, each in units of max(|bound|, 1) so that metrics of
    different sizes weigh alike; 0 for a feasible result. A missing metric counts as infinitely violated."""
    if not constraints:
        return 0.0
    if values is None:
        return float("inf")
    total = 0.0
    for c in constraints:
        if c.name not in values:
            return float("inf")
        total += c.violation(values[c.name]) / max(abs(c.bound), 1.0)
    return total


def violations(trials: Sequence[Trial], constraints: Sequence[Constraint]) -> Array:
    """`violation` of each trial's told metrics."""
    return np.array([violation(t.values, constraints) for t in trials], dtype=float)


def is_feasible(values: Mapping[str, float] | None, constraints: Sequence[Constraint]) -> bool:
    return violation(values, constraints) == 0.0
