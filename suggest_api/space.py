"""Search space: parameter definitions, their validation, and the unit-cube encoding suggesters work in.

Suggesters only ever see points of [0, 1]^d. This module is the one place that maps such points to typed,
in-bounds, on-step parameter values (and back), so bounds, steps, log scales and `when` conditions are
enforced once rather than in every suggester. Pure domain code: no Flask, no SQL.
"""

from __future__ import annotations

import json
import math
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, TypeGuard

import numpy as np
import numpy.typing as npt

from suggest_api.config import Limits
from suggest_api.errors import InvalidParams, InvalidSpace

__all__ = [
    "MAX_INT_MAGNITUDE", "MAX_LOG_INT", "MAX_STEPS", "MAX_STEP_RESOLUTION", "STEP_TOLERANCE",
    "CategoricalParam", "FloatParam", "IntParam", "Param", "SearchSpace", "Unit", "Value", "sample_uniform",
]

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

_TYPES = ("float", "int", "categorical")
_COMMON_KEYS = ("name", "type", "when", "grid")
_TYPE_KEYS = {"float": ("low", "high", "log", "step"), "int": ("low", "high", "log", "step"),
              "categorical": ("choices",)}
_NUDGE_STEPS = 8
_DEFAULT_LIMITS = Limits()


class _BadValue(Exception):
    """A value does not fit a param; the message says why, without the param's name (callers add it)."""


# ---------------------------------------------------------------------------------------------------------
# small helpers


def _kind(value: object) -> str:
    """bool before int: in Python True == 1, but a choice `true` and a choice `1` are different values."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return "other"


def _key(value: Value) -> tuple[str, Value]:
    return (_kind(value), value)


def _is_scalar(value: object) -> TypeGuard[Value]:
    """A value a categorical choice may take: str, bool, or a finite number (never null or nested)."""
    if isinstance(value, bool | str | int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _is_number(value: object) -> TypeGuard[int | float]:
    """bool is not a number here, although Python makes it an int."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: object) -> str:
    """A short, safe rendering of a user value for messages (truncated, with its JSON-ish type)."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kind = {"bool": "boolean", "number": "number", "str": "string"}.get(_kind(value))
    if value is None:
        kind = "null"
    return f"{text} ({kind or type(value).__name__})"


def _show_list(values: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def _canonical(data: object) -> str:
    """JSON text that tells true from 1 and 1.0 from 1, which Python's == does not."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _step_tolerance(low: float, high: float, step: float) -> float:
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


def _tidy(x: float, step: float, scale: float) -> float:
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
    return float(x) if _is_number(x) else x


def _clip01(u: float) -> float:
    return min(max(u, 0.0), 1.0)


def _when_json(when: Mapping[str, tuple[Value, ...]] | None) -> dict[str, list[Value]] | None:
    return {parent: list(values) for parent, values in when.items()} if when else None


# ---------------------------------------------------------------------------------------------------------
# params


class _ParamBase:
    """Equality and hashing by canonical JSON, so that choices `true` and `1` (equal in Python) differ."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _ParamBase) or type(other) is not type(self):
            return NotImplemented
        return _canonical(self.to_json()) == _canonical(other.to_json())

    def __hash__(self) -> int:
        return hash(_canonical(self.to_json()))


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
        x = _tidy(self.low + k * step, step, max(abs(self.low), abs(self.high)))
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

    def _decode(self, cols: Unit) -> float:
        return self._decode_u(float(cols[0]))

    def _encode(self, value: Value) -> list[float]:
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

    def _inactive(self) -> list[float]:
        return [0.5]

    def _normalize(self, value: object) -> float:
        if not _is_number(value):
            raise _BadValue(f"expected a number, got {_show(value)}")
        try:
            x = float(value)
        except OverflowError:
            raise _BadValue(f"{_show(value)} is too large for a float") from None
        if not math.isfinite(x):
            raise _BadValue(f"expected a finite number, got {x!r}")
        bounds = f"[{self.low!r}, {self.high!r}]"
        if self.step is None:
            if not self.low <= x <= self.high:
                raise _BadValue(f"{x!r} is outside {bounds}; pick a value between low and high")
            return x
        n = self._steps(self.step)
        q = (x - self.low) / self.step
        tol = _step_tolerance(self.low, self.high, self.step)
        if q < -tol or q > n + tol:
            raise _BadValue(f"{x!r} is outside {bounds}; pick a value between low and high")
        k = round(q)
        if abs(q - k) > tol:
            below, above = self._at(math.floor(q), self.step), self._at(math.ceil(q), self.step)
            raise _BadValue(f"{x!r} is not on the grid low + k * step (step {self.step!r}); "
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

    def _decode(self, cols: Unit) -> int:
        return self._decode_u(float(cols[0]))

    def _encode(self, value: Value) -> list[float]:
        x = int(value)
        if self.log:
            a, b = self._log_bounds()
            return [_nudge(_clip01((math.log(x) - a) / (b - a)), x, self._decode_u)]
        n = (self.high - self.low) // self.step
        k = min(max((x - self.low) // self.step, 0), n)
        return [(k + 0.5) / (n + 1)]

    def _inactive(self) -> list[float]:
        return [0.5]

    def _normalize(self, value: object) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _BadValue(f"expected an integer, got {_show(value)}")
        if not self.low <= value <= self.high:
            raise _BadValue(f"{value} is outside [{self.low}, {self.high}]; "
                            "pick a value between low and high")
        offset = (value - self.low) % self.step
        if offset:
            below = value - offset
            raise _BadValue(f"{value} is not on the grid low + k * step (step {self.step}); "
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
        object.__setattr__(self, "_index", {_key(c): i for i, c in enumerate(self.choices)})

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
        if not _is_scalar(value):
            return None
        return self._index.get(_key(value))

    def _decode(self, cols: Unit) -> Value:
        return self.choices[int(np.argmax(cols))]

    def _encode(self, value: Value) -> list[float]:
        k = self.index_of(value)
        return [1.0 if i == k else 0.0 for i in range(len(self.choices))]

    def _inactive(self) -> list[float]:
        return [1.0 / len(self.choices)] * len(self.choices)

    def _normalize(self, value: object) -> Value:
        k = self.index_of(value)
        if k is None:
            raise _BadValue(f"{_show(value)} is not one of the choices {_show_list(self.choices)}")
        return self.choices[k]


Param: TypeAlias = FloatParam | IntParam | CategoricalParam


def _matches(value: object, allowed: Iterable[Value]) -> bool:
    """Whether a parent's value is in a `when` list, telling true from 1."""
    if not _is_scalar(value):
        return False
    key = _key(value)
    return any(_key(a) == key for a in allowed)


# ---------------------------------------------------------------------------------------------------------
# the space


class SearchSpace:
    """An immutable, validated list of params, with the unit-cube encoding suggesters work in.

    Build it with `from_json` (or the constructor, which re-validates); equality compares canonical JSON.
    """

    __slots__ = ("_by_name", "_dimension", "_order", "_slices", "params")

    params: tuple[Param, ...]
    _by_name: dict[str, Param]
    _order: tuple[Param, ...]
    _slices: dict[str, slice]
    _dimension: int

    def __init__(self, params: Iterable[Param], *, limits: Limits = _DEFAULT_LIMITS) -> None:
        self._setup(_parse_space({"params": [p.to_json() for p in params]}, limits))

    @classmethod
    def from_json(cls, data: object, *, limits: Limits = _DEFAULT_LIMITS) -> SearchSpace:
        """Validate a JSON space; raises InvalidSpace listing every problem found, keyed by JSON path."""
        space = cls.__new__(cls)
        space._setup(_parse_space(data, limits))
        return space

    def _setup(self, params: tuple[Param, ...]) -> None:
        self.params = params
        self._by_name = {p.name: p for p in params}
        self._order = _topological(params)
        self._slices = {}
        start = 0
        for p in params:
            self._slices[p.name] = slice(start, start + p.width)
            start += p.width
        self._dimension = start

    def to_json(self) -> dict[str, Any]:
        """Canonical JSON (defaults omitted, numbers normalized): from_json(s.to_json()) == s."""
        return {"params": [p.to_json() for p in self.params]}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return _canonical(self.to_json()) == _canonical(other.to_json())

    def __hash__(self) -> int:
        return hash(_canonical(self.to_json()))

    def __repr__(self) -> str:
        return f"SearchSpace({', '.join(p.name for p in self.params)})"

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def dimension(self) -> int:
        """Width of the unit cube: one column per numeric param, one per choice of each categorical."""
        return self._dimension

    @property
    def order(self) -> tuple[Param, ...]:
        """The params with parents before children (otherwise declared order): the order decode fills them."""
        return self._order

    def slices(self) -> dict[str, slice]:
        """Which columns of the cube belong to each param (declared order)."""
        return dict(self._slices)

    def decode(self, u: Sequence[float] | npt.NDArray[Any]) -> dict[str, Value]:
        """Map a point of the cube (clipped into it) to valid params holding only the active ones."""
        point = np.asarray(u, dtype=np.float64)
        if point.shape != (self._dimension,):
            raise ValueError(f"expected a point of shape ({self._dimension},), got {point.shape}")
        if np.isnan(point).any():
            raise ValueError("cannot decode a point containing NaN")
        point = np.clip(point, 0.0, 1.0)
        out: dict[str, Value] = {}
        for p in self._order:
            if not p.when or all(parent in out and _matches(out[parent], allowed)
                                 for parent, allowed in p.when.items()):
                out[p.name] = p._decode(point[self._slices[p.name]])
        return {p.name: out[p.name] for p in self.params if p.name in out}

    def encode(self, params: Mapping[str, Value]) -> Unit:
        """Map valid params to the cube; inactive params get a fixed point (0.5, or 1/k per choice).

        Raises InvalidParams when the params do not validate, so bad history never reaches a model.
        """
        values = self.validate_params(params)
        point = np.empty(self._dimension, dtype=np.float64)
        for p in self.params:
            cols = self._slices[p.name]
            point[cols] = p._encode(values[p.name]) if p.name in values else p._inactive()
        return point

    def _active(self, params: Mapping[str, object]) -> dict[str, bool]:
        """Active-ness of every param in one pass (parents first), so shared ancestors are checked once."""
        active: dict[str, bool] = {}
        for p in self._order:
            active[p.name] = not p.when or all(
                active[parent] and parent in params and _matches(params[parent], allowed)
                for parent, allowed in p.when.items())
        return active

    def is_active(self, param: Param, params: Mapping[str, Value]) -> bool:
        """Whether every parent of `param` is active and holds one of the values its `when` lists."""
        return self._active(params)[param.name]

    def check_params(self, params: Mapping[str, object]) -> dict[str, list[str]]:
        """Every problem with a params dict, keyed by param name; {} when it fits the space.

        A param whose parent is absent or has a bad value is neither required nor refused: the parent's
        own error is the one to fix, and guessing about its children would only add noise.
        """
        if not isinstance(params, Mapping):
            return {"$": [f"params must be an object mapping param names to values, got {_show(params)}"]}
        errors: dict[str, list[str]] = {}
        for key in params:
            if key not in self._by_name:
                known = ", ".join(repr(n) for n in self.names[:20])
                known += ", ..." if len(self.params) > 20 else ""
                errors[str(key)] = [f"param {_show(key)} is not part of the search space; remove it "
                                    f"(the space defines {known})"]
        for p in self.params:
            if p.name in params:
                try:
                    p._normalize(params[p.name])
                except _BadValue as exc:
                    errors[p.name] = [f"param {p.name!r}: {exc}"]
        state: dict[str, bool | None] = {}  # active, inactive, or None: unknown (a parent is absent or bad)
        for p in self._order:
            state[p.name] = self._state(p, params, state, errors)
            present = p.name in params
            if state[p.name] is True and not present:
                because = f" (it is active because {self._condition(p)})" if p.when else ""
                errors[p.name] = [f"param {p.name!r} is missing; give it a value{because}"]
            elif state[p.name] is False and present:
                errors.setdefault(p.name, []).append(
                    f"param {p.name!r} is inactive here ({self._inactive_reason(p, params, state)}; "
                    f"it applies only when {self._condition(p)}); remove it")
        return errors

    @staticmethod
    def _state(p: Param, params: Mapping[str, object], state: Mapping[str, bool | None],
               errors: Mapping[str, list[str]]) -> bool | None:
        if not p.when:
            return True
        unknown = False
        for parent, allowed in p.when.items():
            if state[parent] is False:
                return False
            if state[parent] is None or parent not in params or parent in errors:
                unknown = True
            elif not _matches(params[parent], allowed):
                return False
        return None if unknown else True

    def validate_params(self, params: Mapping[str, object]) -> dict[str, Value]:
        """Params normalized (3.0 -> 3 for ints, floats snapped to their step); raises InvalidParams."""
        errors = self.check_params(params)
        if errors:
            messages = [m for ms in errors.values() for m in ms]
            more = f" (and {len(messages) - 1} more problems)" if len(messages) > 1 else ""
            raise InvalidParams(f"params do not fit the search space: {messages[0]}{more}", errors=errors)
        return {p.name: p._normalize(params[p.name]) for p in self.params if p.name in params}

    @staticmethod
    def _condition(p: Param) -> str:
        assert p.when
        return " and ".join(f"{parent!r} is one of {_show_list(values)}" for parent, values in p.when.items())

    @staticmethod
    def _inactive_reason(p: Param, params: Mapping[str, object], state: Mapping[str, bool | None]) -> str:
        assert p.when
        for parent, allowed in p.when.items():
            if state[parent] is False:
                return f"its parent {parent!r} is itself inactive"
            if parent in params and not _matches(params[parent], allowed):
                return f"{parent!r} is {_show(params[parent])}"
        return "a condition does not hold"  # pragma: no cover - only called for inactive params


def sample_uniform(space: SearchSpace, rng: np.random.Generator) -> dict[str, Value]:
    """One uniformly random point of the cube, decoded: what the random suggester returns."""
    return space.decode(rng.random(space.dimension))


def _topological(params: tuple[Param, ...]) -> tuple[Param, ...]:
    """Parents before children, otherwise declared order (stable), so decode sees parent values first."""
    remaining = list(params)
    done: set[str] = set()
    order: list[Param] = []
    while remaining:
        for i, p in enumerate(remaining):
            if not p.when or all(parent in done for parent in p.when):
                order.append(p)
                done.add(p.name)
                del remaining[i]
                break
        else:
            raise ValueError("cyclic `when` conditions")  # from_json refuses these first
    return tuple(order)


# ---------------------------------------------------------------------------------------------------------
# parsing and validation of the JSON form


@dataclass(kw_only=True)
class _Draft:
    """One param while parsing: what validated so far, so cross-param checks can still run."""

    index: int
    name: str | None
    label: str
    kind: str | None
    param: Param | None = None
    raw_when: object = None


class _Problems:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    @property
    def count(self) -> int:
        return sum(len(messages) for messages in self.errors.values())

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            messages = [m for ms in self.errors.values() for m in ms]
            more = f" (and {len(messages) - 1} more problems; see errors)" if len(messages) > 1 else ""
            raise InvalidSpace(f"invalid search space: {messages[0]}{more}", errors=self.errors)


def _parse_space(data: object, limits: Limits) -> tuple[Param, ...]:
    problems = _Problems()
    if not isinstance(data, Mapping):
        problems.add("$", 'the search space must be a JSON object like {"params": [...]}, '
                          f"got {_show(data)}")
        problems.raise_if_any()
    assert isinstance(data, Mapping)
    for key in data:
        if key != "params":
            problems.add(str(key), f"unknown key {key!r} in the search space; "
                                   "the only allowed key is 'params'")
    raw = data.get("params")
    if raw is None:
        problems.add("params", 'the search space needs a "params" list, e.g. '
                               '[{"name": "lr", "type": "float", "low": 0.0001, "high": 0.1}]')
    elif not isinstance(raw, list):
        problems.add("params", f"params must be a list of param objects, got {_show(raw)}")
    elif not raw:
        problems.add("params", "params is empty; declare at least one param")
    elif len(raw) > limits.max_params:
        problems.add("params", f"{len(raw)} params is above the limit of {limits.max_params}; "
                               "remove some (or raise the server's max_params)")
    problems.raise_if_any()
    assert isinstance(raw, list)

    drafts = [_parse_param(i, item, limits, problems) for i, item in enumerate(raw)]
    by_name: dict[str, _Draft] = {}
    for d in drafts:
        if d.name is None:
            continue
        if d.name in by_name:
            first = by_name[d.name].index
            problems.add(f"params[{d.index}].name", f"{d.label}: name is already used by params[{first}]; "
                                                    "give every param a unique name")
        else:
            by_name[d.name] = d

    whens = {d.index: _parse_when(d, by_name, problems) for d in drafts if d.raw_when is not None}
    _check_cycles(drafts, by_name, problems)
    problems.raise_if_any()

    params: list[Param] = []
    for d in drafts:
        assert d.param is not None
        params.append(replace(d.param, when=whens[d.index]) if d.index in whens else d.param)
    return tuple(params)


def _label(index: int, name: object) -> str:
    if isinstance(name, str) and name:
        shown = name if len(name) <= 40 else name[:37] + "..."
        return f"param {shown!r}"
    return f"params[{index}]"


def _parse_param(index: int, item: object, limits: Limits, problems: _Problems) -> _Draft:
    path = f"params[{index}]"
    if not isinstance(item, Mapping):
        problems.add(path, f"params[{index}] must be an object with name and type, got {_show(item)}")
        return _Draft(index=index, name=None, label=path, kind=None)
    raw_name = item.get("name")
    label = _label(index, raw_name)
    name = _parse_name(path, label, item, limits, problems)

    kind = item.get("type")
    if kind not in _TYPES:
        got = "is missing" if "type" not in item else f"{_show(kind)} is unknown"
        problems.add(f"{path}.type", f"{label}: type {got}; use 'float', 'int' or 'categorical'")
        kind = None
    assert kind is None or isinstance(kind, str)
    draft = _Draft(index=index, name=name, label=label, kind=kind, raw_when=item.get("when"))
    if kind is None:
        return draft

    allowed = _COMMON_KEYS + _TYPE_KEYS[kind]
    for key in item:
        if key not in allowed:
            problems.add(f"{path}.{key}", f"{label}: unknown key {key!r} for a {kind} param; "
                                          f"allowed keys are {', '.join(allowed)}")
    before = problems.count
    base: Param | None
    if kind == "categorical":
        base = _parse_categorical(path, label, item, limits, problems)
    else:
        base = _parse_numeric(path, label, kind, item, problems)
    if base is None or name is None or problems.count != before:
        return draft
    grid = _parse_grid(path, label, base, item.get("grid"), limits, problems)
    if problems.count == before:
        draft.param = replace(base, name=name, grid=grid)  # type: ignore[arg-type]
    return draft


def _parse_name(path: str, label: str, item: Mapping[str, object], limits: Limits,
                problems: _Problems) -> str | None:
    name = item.get("name")
    where = f"{path}.name"
    fix = "give every param a unique, printable string name"
    if "name" not in item or name is None:
        problems.add(where, f"{label}: name is missing; {fix}")
    elif not isinstance(name, str):
        problems.add(where, f"{label}: name must be a string, got {_show(name)}; {fix}")
    elif not name:
        problems.add(where, f"{label}: name is empty; {fix}")
    elif len(name) > limits.max_name_length:
        problems.add(where, f"{label}: name is {len(name)} characters long, above the limit of "
                            f"{limits.max_name_length}; shorten it")
    elif any(unicodedata.category(ch).startswith("C") for ch in name):
        problems.add(where, f"{label}: name contains control or invisible characters; {fix}")
    else:
        return name
    return None


def _parse_bound(path: str, label: str, kind: str, item: Mapping[str, object], key: str,
                 problems: _Problems) -> float | int | None:
    raw = item.get(key)
    where = f"{path}.{key}"
    if raw is None:
        problems.add(where, f"{label}: {key} is missing; give a number")
        return None
    if not _is_number(raw):
        problems.add(where, f"{label}: {key} must be a number, got {_show(raw)}")
        return None
    if kind == "int":
        if isinstance(raw, float) and not raw.is_integer():
            problems.add(where, f"{label}: {key} of an int param must be an integer, got {raw!r}")
            return None
        value = int(raw)
        if abs(value) > MAX_INT_MAGNITUDE:
            problems.add(where, f"{label}: {key} ({value}) is beyond ±2**53, which JSON clients cannot "
                                "represent exactly; use a smaller bound")
            return None
        return value
    try:
        number = float(raw)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        problems.add(where, f"{label}: {key} must be a finite number, got {_show(raw)}")
        return None
    return number


def _parse_numeric(path: str, label: str, kind: str, item: Mapping[str, object],
                   problems: _Problems) -> FloatParam | IntParam | None:
    low = _parse_bound(path, label, kind, item, "low", problems)
    high = _parse_bound(path, label, kind, item, "high", problems)
    raw_log = item.get("log")
    log = False
    if raw_log is not None and not isinstance(raw_log, bool):
        problems.add(f"{path}.log", f"{label}: log must be true or false, got {_show(raw_log)}")
    else:
        log = bool(raw_log)
    step = _parse_step(path, label, kind, item.get("step"), log, problems)
    if low is None or high is None:
        return None
    if low >= high:
        hint = ("swap them or widen the range" if low > high
                else "widen the range (for a constant, use a categorical with one choice)")
        problems.add(f"{path}.low", f"{label}: low ({low!r}) must be below high ({high!r}); {hint}")
        return None
    if log and low <= 0:
        problems.add(f"{path}.low", f"{label}: a log scale needs low > 0, got {low!r}; "
                                    "raise low or drop log")
        return None
    if kind == "float" and not math.isfinite(high - low):
        problems.add(f"{path}.high", f"{label}: the range [{low!r}, {high!r}] is too wide for float64; "
                                     "narrow it or use a log scale")
        return None
    if kind == "int":
        assert isinstance(low, int) and isinstance(high, int)
        if log and high > MAX_LOG_INT:
            problems.add(f"{path}.high", f"{label}: a log-scale int cannot exceed 2**40 ({MAX_LOG_INT}), "
                                         f"got {high}; lower high or drop log")
            return None
        if step is None:
            return None
        assert isinstance(step, int)
        return _check_int_step(path, label, low, high, step, log, problems)
    if step is None:
        if item.get("step") is not None:
            return None
        return FloatParam(name="", low=float(low), high=float(high), log=log)
    return _check_float_step(path, label, float(low), float(high), float(step), problems)


def _parse_step(path: str, label: str, kind: str, raw: object, log: bool,
                problems: _Problems) -> float | int | None:
    """The step as given, 1 for an int without one, None for a float without one (or on error)."""
    where = f"{path}.step"
    if raw is None:
        return 1 if kind == "int" else None
    if not _is_number(raw):
        problems.add(where, f"{label}: step must be a number, got {_show(raw)}")
        return None
    if kind == "int":
        if isinstance(raw, float) and not raw.is_integer():
            problems.add(where, f"{label}: step of an int param must be an integer, got {raw!r}")
            return None
        step: float | int = int(raw)
    else:
        step = float(raw)
        if not math.isfinite(step):
            problems.add(where, f"{label}: step must be a finite number, got {_show(raw)}")
            return None
    if step <= 0:
        problems.add(where, f"{label}: step must be positive, got {step!r}")
        return None
    if log and not (kind == "int" and step == 1):
        problems.add(where, f"{label}: log and step cannot be combined; pick one (drop step for a log "
                            "scale, or drop log for evenly spaced values)")
        return None
    return step


def _check_int_step(path: str, label: str, low: int, high: int, step: int, log: bool,
                    problems: _Problems) -> IntParam | None:
    span = high - low
    where = f"{path}.step"
    if step > span:
        problems.add(where, f"{label}: step ({step}) is larger than high - low ({span}); "
                            f"use a step of at most {span}")
    elif span % step:
        fit = low + (span // step) * step
        problems.add(where, f"{label}: step ({step}) does not divide high - low ({span}); "
                            f"set high to {fit} or {fit + step}, or choose another step")
    elif span // step > MAX_STEPS:
        problems.add(where, f"{label}: {span // step + 1} values is more than the 2**50 a param may have; "
                            "use a larger step or a narrower range")
    else:
        return IntParam(name="", low=low, high=high, log=log, step=step)
    return None


def _check_float_step(path: str, label: str, low: float, high: float, step: float,
                      problems: _Problems) -> FloatParam | None:
    span = high - low
    where = f"{path}.step"
    if max(abs(low), abs(high)) / step > MAX_STEP_RESOLUTION:
        problems.add(where, f"{label}: step ({step!r}) is too fine for bounds of this size: float64 cannot "
                            "tell the values apart; use a step of at least max(|low|, |high|) * 1e-12")
        return None
    q = span / step
    n = round(q)
    tol = _step_tolerance(low, high, step)
    if n < 1:
        problems.add(where, f"{label}: step ({step!r}) is larger than high - low ({span!r}); "
                            f"use a step of at most {span!r}")
    elif abs(q - n) > tol:
        scale = max(abs(low), abs(high), abs(low + math.ceil(q) * step))
        below = _tidy(low + math.floor(q) * step, step, scale)
        above = _tidy(low + math.ceil(q) * step, step, scale)
        problems.add(where, f"{label}: step ({step!r}) does not divide high - low ({span!r}); set high to "
                            f"about {below!r} or {above!r}, or choose another step")
    else:
        return FloatParam(name="", low=low, high=high, step=step)
    return None


def _bounded_list(where: str, label: str, what: str, raw: object, limits: Limits, problems: _Problems, *,
                  empty: str, too_many: str) -> list[object] | None:
    """`raw` when it is a non-empty list of at most `max_choices` values (choices, grid); else None, with
    a problem that says what to do."""
    if not isinstance(raw, list):
        problems.add(where, f"{label}: {what} must be a list of values, got {_show(raw)}")
        return None
    if not raw:
        problems.add(where, f"{label}: {what} is empty; {empty}")
        return None
    if len(raw) > limits.max_choices:
        problems.add(where, f"{label}: {what} has {len(raw)} values, above the limit of {limits.max_choices}; "
                            f"{too_many}")
        return None
    return raw


def _parse_categorical(path: str, label: str, item: Mapping[str, object], limits: Limits,
                       problems: _Problems) -> CategoricalParam | None:
    raw = item.get("choices")
    where = f"{path}.choices"
    if raw is None:
        problems.add(where, f'{label}: choices is missing; give a list such as ["sgd", "adam"]')
        return None
    choices = _bounded_list(where, label, "choices", raw, limits, problems,
                            empty="give at least one choice", too_many="remove some (or use an int or float param)")
    if choices is None:
        return None
    seen: dict[tuple[str, Value], int] = {}
    ok = True
    for j, choice in enumerate(choices):
        if not _is_scalar(choice):
            problems.add(f"{where}[{j}]", f"{label}: choice {_show(choice)} is not allowed; choices must be "
                                          "strings, finite numbers or booleans")
            ok = False
            continue
        key = _key(choice)
        if key in seen:
            problems.add(f"{where}[{j}]", f"{label}: choice {choice!r} repeats choices[{seen[key]}]; "
                                          "remove the duplicate")
            ok = False
        else:
            seen[key] = j
    return CategoricalParam(name="", choices=tuple(value for _, value in seen)) if ok else None  # all, in order


def _parse_grid(path: str, label: str, base: Param, raw: object, limits: Limits,
                problems: _Problems) -> tuple[Value, ...] | None:
    where = f"{path}.grid"
    if raw is None:
        return None
    listed = _bounded_list(where, label, "grid", raw, limits, problems,
                           empty="list at least one value or remove grid", too_many="remove some")
    if listed is None:
        return None
    values: list[Value] = []
    seen: dict[tuple[str, Value], int] = {}
    for j, raw_value in enumerate(listed):
        try:
            value = base._normalize(raw_value)
        except _BadValue as exc:
            problems.add(f"{where}[{j}]", f"{label}: grid value {exc}")
            continue
        key = _key(value)
        if key in seen:
            problems.add(f"{where}[{j}]", f"{label}: grid value {raw_value!r} repeats grid[{seen[key]}]; "
                                          "remove the duplicate")
            continue
        seen[key] = j
        values.append(value)
    return tuple(values) if len(values) == len(listed) else None


def _parse_when(d: _Draft, by_name: Mapping[str, _Draft],
                problems: _Problems) -> dict[str, tuple[Value, ...]] | None:
    where = f"params[{d.index}].when"
    raw = d.raw_when
    if not isinstance(raw, Mapping):
        problems.add(where, f'{d.label}: when must be an object mapping parent names to lists of their '
                            f'choices, e.g. {{"optimizer": ["sgd"]}}; got {_show(raw)}')
        return None
    if not raw:
        problems.add(where, f"{d.label}: when is empty; name at least one parent or remove when")
        return None
    when: dict[str, tuple[Value, ...]] = {}
    for parent_name, allowed in raw.items():
        at = f"{where}.{parent_name}"
        parent = by_name.get(parent_name) if isinstance(parent_name, str) else None
        if parent_name == d.name:
            problems.add(at, f"{d.label}: a param cannot depend on itself; remove {parent_name!r} from when")
        elif parent is None:
            problems.add(at, f"{d.label}: when names {parent_name!r}, which is not a param of this space; "
                             "declare it or fix the name")
        elif parent.kind != "categorical":
            problems.add(at, f"{d.label}: parent {parent_name!r} is a {parent.kind or 'untyped'} param; "
                             "conditions need a categorical parent")
        elif not isinstance(allowed, list):
            problems.add(at, f"{d.label}: when.{parent_name} must be a list of choices of {parent_name!r}, "
                             f"got {_show(allowed)}")
        elif not allowed:
            problems.add(at, f"{d.label}: when.{parent_name} is empty, so the param could never be active; "
                             f"list at least one choice of {parent_name!r}")
        elif isinstance(parent.param, CategoricalParam):
            picked = _parse_when_values(d, parent_name, parent.param, allowed, at, problems)
            if picked is not None:
                when[parent_name] = picked
    return when if len(when) == len(raw) else None


def _parse_when_values(d: _Draft, parent_name: str, parent: CategoricalParam, allowed: list[object],
                       at: str, problems: _Problems) -> tuple[Value, ...] | None:
    """The listed values as the parent's own choice objects, in the parent's order (a canonical form)."""
    picked: set[int] = set()
    ok = True
    for value in allowed:
        k = parent.index_of(value)
        if k is None:
            problems.add(at, f"{d.label}: {_show(value)} is not among the choices of {parent_name!r} "
                             f"{_show_list(parent.choices)}; fix or remove it")
            ok = False
        elif k in picked:
            problems.add(at, f"{d.label}: {value!r} is listed twice in when.{parent_name}; "
                             "remove the duplicate")
            ok = False
        else:
            picked.add(k)
    return tuple(parent.choices[k] for k in sorted(picked)) if ok else None


def _check_cycles(drafts: Sequence[_Draft], by_name: Mapping[str, _Draft], problems: _Problems) -> None:
    """Refuse params that (indirectly) depend on themselves, naming every param of each cycle."""
    parents: dict[int, set[int]] = {}
    for d in drafts:
        if isinstance(d.raw_when, Mapping):
            parents[d.index] = {by_name[p].index for p in d.raw_when
                                if isinstance(p, str) and p in by_name and p != d.name}
    reach: dict[int, set[int]] = {}
    for start in parents:
        seen: set[int] = set()
        stack = list(parents[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(parents.get(node, ()))
        reach[start] = seen
    reported: set[int] = set()
    for i in sorted(reach):
        if i in reported or i not in reach[i]:
            continue
        cycle = [j for j in sorted(reach) if j in reach[i] and i in reach[j]]
        reported.update(cycle)
        names = ", ".join(repr(drafts[j].name) for j in cycle)
        for j in cycle:
            problems.add(f"params[{j}].when", f"{drafts[j].label}: when conditions form a cycle among "
                                              f"{names}; remove one of these conditions")
