"""Grey relational analysis: how closely each param's sequence over the trials follows the objective's.

Deng (1982), "Control problems of grey systems", Systems & Control Letters 1(5). The objective y and each
param x_i are normalized to [0, 1] (min-max over the trials used); per trial, delta = |y - x_i|; the
relational coefficient is xi = (delta_min + rho * delta_max) / (delta + rho * delta_max), with rho = 0.5 and
delta_min, delta_max taken over every param and trial; a param's grade is the mean of its coefficients over
the trials where it is active. 1 means the param moves exactly with the objective.

What we add, so that the grade does not depend on how the space happens to be written:
- a decreasing relation is as strong as an increasing one: each numeric param is compared as x or as 1 - x,
  whichever follows y more closely (the smaller mean delta);
- a categorical has no order, so its choices are first ranked by their mean objective, and the ranks spread
  over [0, 1];
- a param that took a single value in the trials used cannot relate to anything: its grade is 0.

It sees monotone relations only: a param whose best value is in the middle of its range (y = (x - 0.5)^2)
relates weakly however much it matters. The forest's functional ANOVA has no such blind spot; the two
together tell "matters, monotonically" from "matters, in some other shape".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from suggest_api.importance.encoding import Array, Encoded

RHO = 0.5


def grey_relational_grades(encoded: Encoded, values: Array, *, rho: float = RHO) -> Array:
    """Each param's grade in [0, 1]; `values`: the objective of each trial (not all equal)."""
    y = _min_max(values)
    count, width = encoded.columns.shape
    deltas = np.full((count, width), np.nan, dtype=np.float64)
    for j in range(width):
        active = encoded.active[:, j]
        index = encoded.choices[j]
        raw = encoded.columns[active, j] if index is None else _ranked(index[active], values[active])
        if raw.size == 0 or raw.min() == raw.max():
            continue
        x = _min_max(raw)
        plain, flipped = np.abs(y[active] - x), np.abs(y[active] - (1.0 - x))
        deltas[active, j] = flipped if flipped.mean() < plain.mean() else plain
    grades = np.zeros(width, dtype=np.float64)
    if np.isnan(deltas).all():
        return grades
    low, high = float(np.nanmin(deltas)), float(np.nanmax(deltas))
    if high == 0:  # every param equals the objective, trial by trial
        return np.where(np.isnan(deltas).all(axis=0), 0.0, 1.0)
    coefficients = (low + rho * high) / (deltas + rho * high)
    for j in range(width):
        known = ~np.isnan(coefficients[:, j])
        if known.any():
            grades[j] = float(coefficients[known, j].mean())
    return grades


def _ranked(index: npt.NDArray[np.intp], values: Array) -> Array:
    """Each trial's choice replaced by the rank of that choice's mean objective (ties: by choice order)."""
    present = np.unique(index)
    means = np.array([values[index == c].mean() for c in present])
    order = np.lexsort((present, means))
    rank = np.empty(len(present), dtype=np.float64)
    rank[order] = np.arange(len(present), dtype=np.float64)
    return rank[np.searchsorted(present, index)]


def _min_max(values: Array) -> Array:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)
