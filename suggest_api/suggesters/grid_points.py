"""The grid of a search space as a numbered sequence: point n is computed from n, never stored.

Each param contributes an axis of values (its explicit `grid`; else every int or choice, every step
of a stepped float, or `grid_points` evenly spaced floats). Points are numbered in mixed radix over
the params in declared order (parents before their conditional children), the last param turning
fastest. A param that is inactive on a branch contributes nothing there, so the number of points
below a value is not a fixed radix but the count of completions of the remaining params, which
depends only on which of them the values chosen so far have switched off.

Counting exploits independence: the params after any position fall into groups that no condition
links, and the completions of independent groups multiply. Each group is counted once per set of
its members that are switched off, so spaces with many conditional params in separate families stay
cheap whatever their declaration order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from suggest_api.errors import InvalidInput
from suggest_api.space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace, Value

#: Above this many (group, switched-off set) states the conditions are too entangled to count quickly.
MAX_STATES = 50_000
#: Caps the memo of suffix counts that numbering points fills as it goes (it is rebuilt on demand).
_SUFFIX_MEMO_SIZE = 65_536
#: Evenly spaced floats are tidied to the shortest decimal within this fraction of their spacing.
_TIDY_FRACTION = 1e-9

Group = frozenset[int]


def value_key(value: object) -> tuple[bool, object]:
    """A dict key that tells the choice true from the choice 1 (equal in Python) but 1 from 1.0."""
    return isinstance(value, bool), value


class Axis(Protocol):
    """The values one param takes on the grid, in grid order."""

    def __len__(self) -> int: ...

    def __getitem__(self, k: int) -> Value: ...

    def find(self, value: object) -> int | None:
        """The position of `value` on the axis; None when it is not one of the axis's values."""
        ...


class ListedAxis:
    """Values given one by one: an explicit grid, the choices, or evenly spaced floats."""

    __slots__ = ("_index", "values")

    def __init__(self, values: Sequence[Value]) -> None:
        self.values = tuple(values)
        self._index = {value_key(v): k for k, v in reversed(list(enumerate(self.values)))}

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, k: int) -> Value:
        return self.values[k]

    def find(self, value: object) -> int | None:
        try:
            return self._index.get(value_key(value))
        except TypeError:  # unhashable: a list or an object is no grid value
            return None


class IntAxis:
    """low, low + step, ..., high: counted, not listed, since an int param may have 2**50 values."""

    __slots__ = ("_size", "low", "step")

    def __init__(self, low: int, high: int, step: int) -> None:
        self.low, self.step = low, step
        self._size = (high - low) // step + 1

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, k: int) -> int:
        return self.low + k * self.step

    def find(self, value: object) -> int | None:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        k, offset = divmod(value - self.low, self.step)
        return k if offset == 0 and 0 <= k < self._size else None


class SteppedFloatAxis:
    """Every step of a stepped float, through the param's own tidy k-th value."""

    __slots__ = ("_size", "_step", "param")

    def __init__(self, param: FloatParam, step: float) -> None:
        self.param, self._step = param, step
        self._size = round((param.high - param.low) / step) + 1

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, k: int) -> float:
        return self.param._at(k, self._step)

    def find(self, value: object) -> int | None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        try:
            k = round((value - self.param.low) / self._step)
        except (OverflowError, ValueError):  # too large for a float, or not finite
            return None
        return k if 0 <= k < self._size and self[k] == value else None


def axis_of(param: Param, grid_points: int, *, explicit_grid: bool = True) -> Axis:
    """The values `param` takes on the grid: its explicit `grid` first (unless told to ignore it), then
    its type's default."""
    if explicit_grid and param.grid is not None:
        return ListedAxis(param.grid)
    if isinstance(param, CategoricalParam):
        return ListedAxis(param.choices)
    if isinstance(param, IntParam):
        return IntAxis(param.low, param.high, 1 if param.log else param.step)
    if param.step is not None:
        return SteppedFloatAxis(param, param.step)
    return ListedAxis(spaced(param.low, param.high, grid_points, log=param.log))


def spaced(low: float, high: float, count: int, *, log: bool) -> list[float]:
    """`count` evenly (log-evenly) spaced floats from low to high, both ends exact, each the shortest decimal
    close to its ideal value (1e-4, not 0.00010000000000000009); values float64 cannot tell apart are kept once."""
    values: list[float] = []
    for k in range(count):
        if log:
            a, b = math.log(low), math.log(high)
            ideal = math.exp(a + (b - a) * k / (count - 1))
            tolerance = ideal * (b - a) / (count - 1) * _TIDY_FRACTION
        else:
            ideal = low + (high - low) * k / (count - 1)
            tolerance = (high - low) / (count - 1) * _TIDY_FRACTION
        x = low if k == 0 else high if k == count - 1 else min(max(_shortest(ideal, tolerance), low), high)
        if not values or x != values[-1]:
            values.append(x)
    return values


def _shortest(x: float, tolerance: float) -> float:
    for digits in range(1, 18):
        rounded = float(f"{x:.{digits}g}")
        if abs(rounded - x) <= tolerance:
            return rounded
    return x


class GridPoints:
    """Every point of a space's grid, numbered 0..size-1; `point(n)` and `position_of(params)` are inverses."""

    def __init__(self, space: SearchSpace, grid_points: int, *, explicit_grid: bool = True) -> None:
        self.space = space
        self.grid_points = grid_points
        # Parents before children, otherwise as declared: the order decode uses.
        self._params: tuple[Param, ...] = space.order
        self.axes: tuple[Axis, ...] = tuple(axis_of(p, grid_points, explicit_grid=explicit_grid)
                                            for p in self._params)
        position = {p.name: i for i, p in enumerate(self._params)}
        children: list[set[int]] = [set() for _ in self._params]
        for i, p in enumerate(self._params):
            for parent in p.when or {}:
                children[position[parent]].add(i)
        self._children = tuple(frozenset(c) for c in children)
        #: For a parent at i and its k-th value: the children that value switches off.
        self._switched_off = tuple(self._switches(i) for i in range(len(self._params)))
        #: The same, each distinct set once with how many values switch it off: what counting sums over.
        self._switch_counts = tuple(tuple(Counter(s).items()) if s is not None else None
                                    for s in self._switched_off)
        self._groups = self._suffix_groups()
        self._pending = tuple(frozenset().union(*groups) for groups in self._groups)
        self._inner: dict[Group, tuple[Group, ...]] = {}
        self._group_counts: dict[tuple[Group, Group], int] = {}
        self._suffix_counts: dict[tuple[int, Group], int] = {}
        self.size = self._count_from(0, frozenset())

    @classmethod
    def every_point(cls, space: SearchSpace) -> GridPoints | None:
        """Every point a discrete space has (`grid` lists ignored); None when a float param is continuous."""
        if any(isinstance(p, FloatParam) and p.step is None for p in space.params):
            return None
        return cls(space, 2, explicit_grid=False)

    # -- public ------------------------------------------------------------------------------------

    def value_counts(self) -> list[tuple[str, int]]:
        """(param name, number of grid values) in declared order: what makes the grid big."""
        counts = {p.name: len(axis) for p, axis in zip(self._params, self.axes, strict=True)}
        return [(p.name, counts[p.name]) for p in self.space.params]

    def point(self, n: int) -> dict[str, Any]:
        """The n-th point: at each param, skip whole blocks of completions until n falls inside one."""
        if not 0 <= n < self.size:
            raise IndexError(f"point {n} is outside a grid of {self.size} points")
        off: frozenset[int] = frozenset()
        chosen: dict[str, Value] = {}
        for i, p in enumerate(self._params):
            if i in off:
                off |= self._children[i]
                continue
            switched = self._switched_off[i]
            if switched is None:
                k, n = divmod(n, self._count_from(i + 1, off))
            else:
                k = 0
                while n >= (block := self._count_from(i + 1, off | switched[k])):
                    n -= block
                    k += 1
                off |= switched[k]
            chosen[p.name] = self.axes[i][k]
        return {p.name: chosen[p.name] for p in self.space.params if p.name in chosen}

    def position_of(self, params: Mapping[str, object]) -> int | None:
        """The n with point(n) == params, or None when `params` is not a point of this grid."""
        off: frozenset[int] = frozenset()
        n = 0
        used = 0
        for i, p in enumerate(self._params):
            if i in off:
                if p.name in params:
                    return None
                off |= self._children[i]
                continue
            k = self.axes[i].find(params[p.name]) if p.name in params else None
            if k is None:
                return None
            used += 1
            switched = self._switched_off[i]
            if switched is None:
                n += k * self._count_from(i + 1, off)
            else:
                n += sum(self._count_from(i + 1, off | switched[j]) for j in range(k))
                off |= switched[k]
        return n if used == len(params) else None

    # -- structure ---------------------------------------------------------------------------------

    def _switches(self, i: int) -> tuple[frozenset[int], ...] | None:
        """Per value of the param at i, its children whose `when` excludes that value; None if it has none."""
        if not self._children[i]:
            return None
        name = self._params[i].name
        allowed = {c: {value_key(v) for v in (self._params[c].when or {})[name]} for c in self._children[i]}
        axis = self.axes[i]
        return tuple(frozenset(c for c in self._children[i] if value_key(axis[k]) not in allowed[c])
                     for k in range(len(axis)))

    def _suffix_groups(self) -> tuple[tuple[Group, ...], ...]:
        """For each position i, the params from i on split into groups that no condition links."""
        links: list[set[int]] = [set(c) for c in self._children]
        for parent, kids in enumerate(self._children):
            for kid in kids:
                links[kid].add(parent)
        groups: list[tuple[Group, ...]] = [()]
        member: dict[int, Group] = {}
        for i in reversed(range(len(self._params))):
            merged = {i}
            for j in links[i]:
                if j > i:
                    merged |= member[j]
            group = frozenset(merged)
            for j in group:
                member[j] = group
            groups.append(tuple(g for g in groups[-1] if not g <= group) + (group,))
        return tuple(reversed(groups))

    # -- counting ----------------------------------------------------------------------------------

    def _count_from(self, i: int, off: frozenset[int]) -> int:
        """Completions of the params from position i on, given the ones already switched off."""
        key = (i, off & self._pending[i])
        found = self._suffix_counts.get(key)
        if found is None:
            found = math.prod(self._count_group(g, off & g) for g in self._groups[i])
            if len(self._suffix_counts) >= _SUFFIX_MEMO_SIZE:
                self._suffix_counts.clear()
            self._suffix_counts[key] = found
        return found

    def _count_group(self, group: Group, off: Group) -> int:
        """Completions of one group: sum over its first param's values of the product over what remains."""
        key = (group, off)
        found = self._group_counts.get(key)
        if found is not None:
            return found
        if len(self._group_counts) >= MAX_STATES:
            raise InvalidInput(
                "the `when` conditions of this space are too entangled to number its grid (more than "
                f"{MAX_STATES} combinations of switched-off params); give conditional params fewer parents, "
                "or give them explicit `grid` values with fewer entries",
                errors={"space": ["conditions too entangled for the grid suggester"]})
        first = min(group)
        inner = self._inner_groups(group, first)
        switched = self._switch_counts[first]
        if first in off:
            total = self._count_groups(inner, off | self._children[first])
        elif switched is None:
            total = len(self.axes[first]) * self._count_groups(inner, off)
        else:
            total = sum(times * self._count_groups(inner, off | s) for s, times in switched)
        self._group_counts[key] = total
        return total

    def _count_groups(self, groups: tuple[Group, ...], off: frozenset[int]) -> int:
        total = 1
        for g in groups:
            total *= self._count_group(g, off & g)
        return total

    def _inner_groups(self, group: Group, first: int) -> tuple[Group, ...]:
        """What remains of a group without its first param: the groups after `first` that lie inside it."""
        inner = self._inner.get(group)
        if inner is None:
            inner = self._inner[group] = tuple(g for g in self._groups[first + 1] if g <= group)
        return inner
