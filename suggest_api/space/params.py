"""Parameter value classes: one per type of the search space JSON (float, int, categorical).

Each class knows its bounds and how to map its values to columns of the unit cube and back (log
scales, steps, int rounding, one-hot choices), and how to normalize a value a caller sends (3.0 -> 3
for an int, a float snapped to its step) or say why it does not fit. The space (search_space.py)
puts the columns side by side; the parser (parse.py) builds these from JSON. Pure: no Flask, no SQL.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeGuard

import numpy as np
import numpy.typing as npt

Value: TypeAlias = float | int | str | bool
Unit: TypeAlias = npt.NDArray[np.float64]

#: Integers beyond this lose precision in JSON clients (JavaScript numbers are doubles).
MAX_INT_MAGNITUDE = 2**53
#: Above this many steps, (k + 0.5) / (n + 1) no longer decodes back to k exactly in float64.
MAX_STEPS = 2**50
#: Log-scale ints are rounded from exp(...); above this the rounding is no longer exact.
MAX_LOG_INT = 2**40
#: A float step finer than max(|low|, |high|) / this cannot be told apart from float64 noise.
MAX_STEP_RESOLUTION = 1e12
#: How far (in steps) a float may sit off its grid and still count as on it, when float64 noise is smaller.
STEP_TOLERANCE = 1e-9

_NUDGE_STEPS = 8


class BadValue(Exception):
    """A value does not fit a param; the message says why, without the param's name (callers add it)."""


def json_kind(value: object) -> str:
    """bool before int: in Python True == 1, but a choice `true` and a choice `1` are different values."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return "other"


def value_key(value: Value) -> tuple[str, Value]:
    return (json_kind(value), value)


def is_scalar(value: object) -> TypeGuard[Value]:
    """A value a categorical choice may take: str, bool, or a finite number (never null or nested)."""
    if isinstance(value, bool | str | int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def is_number(value: object) -> TypeGuard[int | float]:
    """bool is not a number here, although Python makes it an int."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def show(value: object) -> str:
    """A short, safe rendering of a user value for messages (truncated, with its JSON-ish type)."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kind = {"bool": "boolean", "number": "number", "str": "string"}.get(json_kind(value))
    if value is None:
        kind = "null"
    return f"{text} ({kind or type(value).__name__})"


def show_list(values: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def canonical(data: object) -> str:
    """JSON text that tells true from 1 and 1.0 from 1, which Python's == does not."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def step_tolerance(low: float, high: float, step: float) -> float:
    """How far (in steps) a float may sit off the grid: 1e-9, or well above float64 noise (|bounds| / step).

    At most 64 * 2.2e-16 * 1e12 = 0.014 steps, given MAX_STEP_RESOLUTION.
    """
    return max(STEP_TOLERANCE, 64 * sys.float_info.epsilon * max(abs(low), abs(high)) / step)


def _nudge(u: float, target: float, decode: Callable[[float], float]) -> float:
    """Move u by a few ulps until decode(u) == target, so stored values survive encode/decode unchanged."""
    candidate = u
    for _ in range(_NUDGE_STEPS):
        got = decode(candidate)
        if got == target:
            return candidate
        candidate = math.nextafter(candidate, 1.0 if got < target else 0.0)
    return u


def tidy(x: float, step: float, scale: float) -> float:
    """The shortest decimal within float64 noise of x, so that 0.1 * 3 reads 0.3, not 0.30000000000000004.

    `scale` is max(|low|, |high|): the noise of low + k * step is a few ulps of it, not of x.
    """
    slack = 4 * math.ulp(scale)
    first = -math.floor(math.log10(step))
    for digits in range(first, first + 13):
        rounded = round(x, digits)
        if abs(rounded - x) <= slack:
            return rounded
    return x


def _as_float(x: object) -> object:
    """1 -> 1.0 for float params built by hand, so they compare equal to parsed ones; the rest as is."""
    return float(x) if is_number(x) else x


def _clip01(u: float) -> float:
    return min(max(u, 0.0), 1.0)


def _when_json(when: Mapping[str, tuple[Value, ...]] | None) -> dict[str, list[Value]] | None:
    return {parent: list(values) for parent, values in when.items()} if when else None



class _ParamBase:
    """Equality and hashing by canonical JSON, so that choices `true` and `1` (equal in Python) differ."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _ParamBase) or type(other) is not type(self):
            return NotImplemented
        return canonical(self.to_json()) == canonical(other.to_json())

    def __hash__(self) -> int:
        return hash(canonical(self.to_json()))


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class FloatParam(_ParamBase):
    """A real number in [low, high]; on a log scale, or on the grid low + k * step (not both)."""

    name: str
    low: float
    high: float
    log: bool = False
    step: float | None = None
    when: dict[str, tuple[Value, ...]] | None = None
    grid: tuple[float, ...] | None = None

    @property
    def width(self) -> int:
        return 1

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": "float", "low": _as_float(self.low),
                                "high": _as_float(self.high)}
        if self.log:
            data["log"] = True
        if self.step is not None:
            data["step"] = _as_float(self.step)
        if self.when:
            data["when"] = _when_json(self.when)
        if self.grid is not None:
            data["grid"] = [_as_float(x) for x in self.grid]
        return data

    def _steps(self, step: float) -> int:
        return round((self.high - self.low) / step)

    def _at(self, k: int, step: float) -> float:
        """The k-th grid value, rounded well below the step so 0.1 * 3 reads 0.3, not 0.30000000000000004."""
        n = self._steps(step)
        if k <= 0:
            return self.low
        if k >= n:
            return self.high
        x = tidy(self.low + k * step, step, max(abs(self.low), abs(self.high)))
        return min(max(x, self.low), self.high)

    def _decode_u(self, u: float) -> float:
        if self.step is not None:
            n = self._steps(self.step)
            return self._at(min(int(u * (n + 1)), n), self.step)
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            x = math.exp(a + u * (b - a))
        else:
            x = self.low + u * (self.high - self.low)
        return min(max(x, self.low), self.high)

    def decode_columns(self, cols: Unit) -> float:
        return self._decode_u(float(cols[0]))

    def encode(self, value: Value) -> list[float]:
        x = float(value)
        if self.step is not None:
            n = self._steps(self.step)
            k = min(max(round((x - self.low) / self.step), 0), n)
            return [(k + 0.5) / (n + 1)]
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            u = (math.log(x) - a) / (b - a)
        else:
            u = (x - self.low) / (self.high - self.low)
        return [_nudge(_clip01(u), x, self._decode_u)]

    def inactive_point(self) -> list[float]:
        return [0.5]

    def normalize(self, value: object) -> float:
        if not is_number(value):
            raise BadValue(f"expected a number, got {show(value)}")
        try:
            x = float(value)
        except OverflowError:
            raise BadValue(f"{show(value)} is too large for a float") from None
        if not math.isfinite(x):
            raise BadValue(f"expected a finite number, got {x!r}")
        bounds = f"[{self.low!r}, {self.high!r}]"
        if self.step is None:
            if not self.low <= x <= self.high:
                raise BadValue(f"{x!r} is outside {bounds}; pick a value between low and high")
            return x
        n = self._steps(self.step)
        q = (x - self.low) / self.step
        tol = step_tolerance(self.low, self.high, self.step)
        if q < -tol or q > n + tol:
            raise BadValue(f"{x!r} is outside {bounds}; pick a value between low and high")
        k = round(q)
        if abs(q - k) > tol:
            below, above = self._at(math.floor(q), self.step), self._at(math.ceil(q), self.step)
            raise BadValue(f"{x!r} is not on the grid low + k * step (step {self.step!r}); "
                            f"the nearest allowed values are {below!r} and {above!r}")
        return self._at(k, self.step)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class IntParam(_ParamBase):
    """An integer in [low, high] on the grid low + k * step, or spread on a log scale (step 1)."""

    name: str
    low: int
    high: int
    log: bool = False
    step: int = 1
    when: dict[str, tuple[Value, ...]] | None = None
    grid: tuple[int, ...] | None = None

    @property
    def width(self) -> int:
        return 1

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": "int", "low": self.low, "high": self.high}
        if self.log:
            data["log"] = True
        if self.step != 1:
            data["step"] = self.step
        if self.when:
            data["when"] = _when_json(self.when)
        if self.grid is not None:
            data["grid"] = list(self.grid)
        return data

    def _log_bounds(self) -> tuple[float, float]:
        """Half a unit beyond each bound, so low and high get as much of the cube as their neighbours."""
        return math.log(self.low - 0.5), math.log(self.high + 0.5)

    def _decode_u(self, u: float) -> int:
        if self.log:
            a, b = self._log_bounds()
            return min(max(round(math.exp(a + u * (b - a))), self.low), self.high)
        n = (self.high - self.low) // self.step
        return self.low + min(int(u * (n + 1)), n) * self.step

    def decode_columns(self, cols: Unit) -> int:
        return self._decode_u(float(cols[0]))

    def encode(self, value: Value) -> list[float]:
        x = int(value)
        if self.log:
            a, b = self._log_bounds()
            return [_nudge(_clip01((math.log(x) - a) / (b - a)), x, self._decode_u)]
        n = (self.high - self.low) // self.step
        k = min(max((x - self.low) // self.step, 0), n)
        return [(k + 0.5) / (n + 1)]

    def inactive_point(self) -> list[float]:
        return [0.5]

    def normalize(self, value: object) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadValue(f"expected an integer, got {show(value)}")
        if not self.low <= value <= self.high:
            raise BadValue(f"{value} is outside [{self.low}, {self.high}]; "
                            "pick a value between low and high")
        offset = (value - self.low) % self.step
        if offset:
            below = value - offset
            raise BadValue(f"{value} is not on the grid low + k * step (step {self.step}); "
                            f"the nearest allowed values are {below} and {below + self.step}")
        return value


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class CategoricalParam(_ParamBase):
    """One of a fixed list of choices, one-hot encoded so no order is imposed on them."""

    name: str
    choices: tuple[Value, ...]
    when: dict[str, tuple[Value, ...]] | None = None
    grid: tuple[Value, ...] | None = None
    _index: dict[tuple[str, Value], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {value_key(c): i for i, c in enumerate(self.choices)})

    @property
    def width(self) -> int:
        return len(self.choices)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": "categorical", "choices": list(self.choices)}
        if self.when:
            data["when"] = _when_json(self.when)
        if self.grid is not None:
            data["grid"] = list(self.grid)
        return data

    def index_of(self, value: object) -> int | None:
        """Position of `value` among the choices, telling true from 1; None when it is not a choice."""
        if not is_scalar(value):
            return None
        return self._index.get(value_key(value))

    def decode_columns(self, cols: Unit) -> Value:
        return self.choices[int(np.argmax(cols))]

    def encode(self, value: Value) -> list[float]:
        k = self.index_of(value)
        return [1.0 if i == k else 0.0 for i in range(len(self.choices))]

    def inactive_point(self) -> list[float]:
        return [1.0 / len(self.choices)] * len(self.choices)

    def normalize(self, value: object) -> Value:
        k = self.index_of(value)
        if k is None:
            raise BadValue(f"{show(value)} is not one of the choices {show_list(self.choices)}")
        return self.choices[k]


Param: TypeAlias = FloatParam | IntParam | CategoricalParam


def matches(value: object, allowed: Iterable[Value]) -> bool:
    """Whether a parent's value is in a `when` list, telling true from 1."""
    if not is_scalar(value):
        return False
    key = value_key(value)
    return any(value_key(a) == key for a in allowed)
