"""Transforms between trial data and the Gaussian process's view of it, in both directions.

Outputs: objective values often span orders of magnitude (a diverging learning rate, Rosenbrock's walls),
which a stationary GP models badly: a few huge values flatten everything else. `OutputWarp` applies a
Yeo-Johnson power transform between two standardizations: monotone, so the minimum stays the minimum, with
its lambda chosen by maximum likelihood in [0, 1] only, between the identity and a log. Such a transform
is concave: it may squeeze the bad (high) tail, never the good one; a long tail of good values, as a study
near its optimum has, is exactly where the model needs detail, and a normality-seeking lambda > 1 would
flatten it. Below 0 it would squash the bad tail so hard that valley walls vanish (Rosenbrock got worse).

Inputs: trials can only take some points of the unit cube: a categorical is exactly one-hot, ints and
steps sit at bin centres, inactive conditional params hold a fixed encoding. `CubeGeometry` projects any
point onto that set (vectorized, mirroring `SearchSpace.encode(decode(u))`), tells which columns a
gradient optimizer may move, and lists the discrete alternatives of a point for a coordinate search, so
the acquisition is always judged at the point the trial will really have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suggest_api.space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace

Array = npt.NDArray[np.float64]

#: Discrete numeric params with at most this many values are searched exhaustively by the coordinate step.
EXHAUSTIVE_LEVELS = 16


#: Yeo-Johnson exponents tried (concave ones only, see above); the likelihood is flat enough that a 0.025
#: grid loses nothing.
_LAMBDAS = np.linspace(0.0, 1.0, 41)


def _yeo_johnson(x: Array, lmbdas: Array) -> Array:
    """psi(x, lambda) of Yeo & Johnson (2000) for every lambda (rows) and x (columns)."""
    lm = lmbdas[:, None]
    pos, neg = np.log1p(np.maximum(x, 0.0)), np.log1p(np.maximum(-x, 0.0))
    with np.errstate(all="ignore"):
        upper = np.where(np.abs(lm) < 1e-12, pos, np.expm1(lm * pos) / lm)
        lower = np.where(np.abs(lm - 2.0) < 1e-12, -neg, -np.expm1((2.0 - lm) * neg) / (2.0 - lm))
    return np.where(x >= 0, upper, lower)


def _best_lambda(x: Array) -> float:
    """The exponent maximizing the normal profile log likelihood of the transformed data (Yeo & Johnson):
    -n/2 log var(psi) + (lambda - 1) sum sign(x) log(1 + |x|)."""
    psi = _yeo_johnson(x, _LAMBDAS)
    with np.errstate(all="ignore"):
        llf = -0.5 * len(x) * np.log(psi.var(axis=1)) + (_LAMBDAS - 1.0) * np.sum(np.sign(x) * np.log1p(np.abs(x)))
    llf = np.where(np.isfinite(llf), llf, -np.inf)
    return float(_LAMBDAS[int(np.argmax(llf))])


class OutputWarp:
    """Standardize, Yeo-Johnson, standardize again: values (to minimize) to roughly N(0, 1) scores."""

    def __init__(self, values: Array) -> None:
        values = np.asarray(values, dtype=np.float64)
        # Any finite float is a valid value, and the std of values near 1e300 overflows: work on values
        # divided by the largest magnitude, which the transform's own standardization makes irrelevant.
        self.magnitude = float(np.max(np.abs(values))) if len(values) else 1.0
        self.magnitude = self.magnitude if self.magnitude > 0 else 1.0
        unit = values / self.magnitude
        self.center = float(np.median(unit))
        spread = float(np.std(unit))
        self.scale = spread if spread > 0 else 1.0
        scaled = (unit - self.center) / self.scale
        self.lmbda = _best_lambda(scaled) if len(values) >= 3 and np.ptp(scaled) > 0 else 1.0
        warped = self._power(scaled)
        self.mean = float(np.mean(warped))
        std = float(np.std(warped))
        self.std = std if std > 0 else 1.0

    def _power(self, scaled: Array) -> Array:
        return np.asarray(_yeo_johnson(scaled, np.array([self.lmbda]))[0], dtype=np.float64)

    def __call__(self, values: Array) -> Array:
        """Scores of `values`: monotone increasing, about zero mean and unit variance on the fitted data."""
        scaled = (np.asarray(values, dtype=np.float64) / self.magnitude - self.center) / self.scale
        return (self._power(scaled) - self.mean) / self.std


@dataclass(frozen=True)
class _Column:
    """One param's place in the cube and how its encoded values are snapped."""

    param: Param
    cols: slice
    #: Encoded values of every level for a discrete numeric param with few levels; None otherwise.
    levels: Array | None


def _bin_count(param: FloatParam | IntParam) -> int | None:
    """Number of values of a stepped param (bins of the cube), None when continuous or log-int."""
    if isinstance(param, IntParam) and not param.log:
        return (param.high - param.low) // param.step + 1
    if isinstance(param, FloatParam) and param.step is not None:
        return round((param.high - param.low) / param.step) + 1
    return None


def _level_values(param: Param) -> Array | None:
    if isinstance(param, CategoricalParam):
        return None
    bins = _bin_count(param)
    if bins is not None:
        return (np.arange(bins) + 0.5) / bins if bins <= EXHAUSTIVE_LEVELS else None
    if isinstance(param, IntParam) and param.high - param.low < EXHAUSTIVE_LEVELS:
        a, b = _log_int_bounds(param)
        return (np.log(np.arange(param.low, param.high + 1)) - a) / (b - a)
    return None


def _log_int_bounds(param: IntParam) -> tuple[float, float]:
    """The log range a log-int is spread on, half a unit beyond each bound (as the space encodes it)."""
    return math.log(param.low - 0.5), math.log(param.high + 0.5)


class CubeGeometry:
    """Where in the unit cube a trial of `space` can be, and how to move between such points."""

    def __init__(self, space: SearchSpace) -> None:
        self.dimension = space.dimension
        slices = space.slices()
        self._columns = [_Column(p, slices[p.name], _level_values(p)) for p in space.order]
        self._numeric = np.zeros(self.dimension, dtype=bool)
        for c in self._columns:
            if not isinstance(c.param, CategoricalParam):
                self._numeric[c.cols] = True

    @property
    def numeric_columns(self) -> npt.NDArray[np.bool_]:
        """Columns of float and int params (categorical one-hot columns excluded)."""
        return self._numeric.copy()

    def project(self, points: Array) -> Array:
        """Snap each row onto a point a trial can have: exact one-hot, bin centres, fixed inactive encodings."""
        u = np.clip(np.asarray(points, dtype=np.float64), 0.0, 1.0).reshape(-1, self.dimension).copy()
        active, _ = self._activity(u)
        for c in self._columns:
            p, block = c.param, u[:, c.cols]
            if isinstance(p, CategoricalParam):
                block = np.eye(p.width)[np.argmax(block, axis=1)]
                inactive: Array = np.full(p.width, 1.0 / p.width)
            else:
                block = self._snap_numeric(p, block)
                inactive = np.array([0.5])
            block[~active[p.name]] = inactive
            u[:, c.cols] = block
        return u

    def _activity(self, u: Array) -> tuple[dict[str, npt.NDArray[np.bool_]], dict[str, npt.NDArray[np.intp]]]:
        """Per param, which rows have it active; per categorical, the chosen index of each row."""
        active: dict[str, npt.NDArray[np.bool_]] = {}
        chosen: dict[str, npt.NDArray[np.intp]] = {}
        for c in self._columns:
            p = c.param
            mask = np.ones(len(u), dtype=bool)
            for parent, allowed in (p.when or {}).items():
                parent_param = next(col.param for col in self._columns if col.param.name == parent)
                assert isinstance(parent_param, CategoricalParam)
                allowed_idx = [k for v in allowed if (k := parent_param.index_of(v)) is not None]
                mask &= active[parent] & np.isin(chosen[parent], allowed_idx)
            active[p.name] = mask
            if isinstance(p, CategoricalParam):
                chosen[p.name] = np.argmax(u[:, c.cols], axis=1)
        return active, chosen

    @staticmethod
    def _snap_numeric(param: FloatParam | IntParam, block: Array) -> Array:
        bins = _bin_count(param)
        if bins is not None:
            k = np.minimum(np.floor(block * bins), bins - 1)
            return (k + 0.5) / bins
        if isinstance(param, IntParam):  # log scale
            a, b = _log_int_bounds(param)
            value = np.clip(np.round(np.exp(a + block * (b - a))), param.low, param.high)
            return np.clip((np.log(value) - a) / (b - a), 0.0, 1.0)
        return block

    def free_columns(self, point: Array) -> npt.NDArray[np.bool_]:
        """Columns a gradient optimizer may move at `point`: numeric params that are active there."""
        active, _ = self._activity(point.reshape(1, -1))
        free = np.zeros(self.dimension, dtype=bool)
        for c in self._columns:
            if not isinstance(c.param, CategoricalParam) and active[c.param.name][0]:
                free[c.cols] = True
        return free

    def discrete_moves(self, point: Array) -> Array:
        """Projected copies of `point` with one categorical (or few-valued numeric) param set to each other
        value: the neighbourhood of a coordinate search. Shape (k, d), possibly k = 0."""
        active, _ = self._activity(point.reshape(1, -1))
        moves: list[Array] = []
        for c in self._columns:
            p = c.param
            if not active[p.name][0]:
                continue
            if isinstance(p, CategoricalParam):
                options: Array = np.eye(p.width)
            elif c.levels is not None:
                options = c.levels[:, None]
            else:
                continue
            for option in options:
                if not np.array_equal(point[c.cols], option):
                    moved = point.copy()
                    moved[c.cols] = option
                    moves.append(moved)
        if not moves:
            return np.empty((0, self.dimension))
        return self.project(np.array(moves))
