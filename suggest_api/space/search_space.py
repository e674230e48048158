"""The search space: a validated list of params, and the unit-cube encoding suggesters work in.

Suggesters only ever see points of [0, 1]^d. This is the one place that maps such points to typed,
in-bounds, on-step parameter values (and back), so bounds, steps, log scales and `when` conditions are
enforced once rather than in every suggester. Pure domain code: no Flask, no SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from suggest_api.config import Limits
from suggest_api.errors import InvalidParams
from suggest_api.space.params import BadValue, Param, Unit, Value, canonical, matches, show, show_list
from suggest_api.space.parse import parse_space

_DEFAULT_LIMITS = Limits()


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
        self._setup(parse_space({"params": [p.to_json() for p in params]}, limits))

    @classmethod
    def from_json(cls, data: object, *, limits: Limits = _DEFAULT_LIMITS) -> SearchSpace:
        """Validate a JSON space; raises InvalidSpace listing every problem found, keyed by JSON path."""
        space = cls.__new__(cls)
        space._setup(parse_space(data, limits))
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
        return canonical(self.to_json()) == canonical(other.to_json())

    def __hash__(self) -> int:
        return hash(canonical(self.to_json()))

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
            if not p.when or all(parent in out and matches(out[parent], allowed)
                                 for parent, allowed in p.when.items()):
                out[p.name] = p.decode_columns(point[self._slices[p.name]])
        return {p.name: out[p.name] for p in self.params if p.name in out}

    def encode(self, params: Mapping[str, Value]) -> Unit:
        """Map valid params to the cube; inactive params get a fixed point (0.5, or 1/k per choice).

        Raises InvalidParams when the params do not validate, so bad history never reaches a model.
        """
        values = self.validate_params(params)
        point = np.empty(self._dimension, dtype=np.float64)
        for p in self.params:
            cols = self._slices[p.name]
            point[cols] = p.encode(values[p.name]) if p.name in values else p.inactive_point()
        return point

    def _active(self, params: Mapping[str, object]) -> dict[str, bool]:
        """Active-ness of every param in one pass (parents first), so shared ancestors are checked once."""
        active: dict[str, bool] = {}
        for p in self._order:
            active[p.name] = not p.when or all(
                active[parent] and parent in params and matches(params[parent], allowed)
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
            return {"$": [f"params must be an object mapping param names to values, got {show(params)}"]}
        errors: dict[str, list[str]] = {}
        for key in params:
            if key not in self._by_name:
                known = ", ".join(repr(n) for n in self.names[:20])
                known += ", ..." if len(self.params) > 20 else ""
                errors[str(key)] = [f"param {show(key)} is not part of the search space; remove it "
                                    f"(the space defines {known})"]
        for p in self.params:
            if p.name in params:
                try:
                    p.normalize(params[p.name])
                except BadValue as exc:
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
            elif not matches(params[parent], allowed):
                return False
        return None if unknown else True

    def validate_params(self, params: Mapping[str, object]) -> dict[str, Value]:
        """Params normalized (3.0 -> 3 for ints, floats snapped to their step); raises InvalidParams."""
        errors = self.check_params(params)
        if errors:
            messages = [m for ms in errors.values() for m in ms]
            more = f" (and {len(messages) - 1} more problems)" if len(messages) > 1 else ""
            raise InvalidParams(f"params do not fit the search space: {messages[0]}{more}", errors=errors)
        return {p.name: p.normalize(params[p.name]) for p in self.params if p.name in params}

    @staticmethod
    def _condition(p: Param) -> str:
        assert p.when
        return " and ".join(f"{parent!r} is one of {show_list(values)}" for parent, values in p.when.items())

    @staticmethod
    def _inactive_reason(p: Param, params: Mapping[str, object], state: Mapping[str, bool | None]) -> str:
        assert p.when
        for parent, allowed in p.when.items():
            if state[parent] is False:
                return f"its parent {parent!r} is itself inactive"
            if parent in params and not matches(params[parent], allowed):
                return f"{parent!r} is {show(params[parent])}"
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
