"""The search space's JSON form: which keys each param type has, and the parser that checks them.

`FORMS` is the one definition of the JSON form: the parser accepts exactly its keys, and
space/schema.py renders the OpenAPI components from it, so the document cannot drift from what is
accepted. The parser reports every problem it finds at once, each keyed by its JSON path
(`params[2].step`) with a message that says what to change.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from suggest_api.config import Limits
from suggest_api.errors import InvalidSpace
from suggest_api.space.params import (
    MAX_INT_MAGNITUDE,
    MAX_LOG_INT,
    MAX_STEP_RESOLUTION,
    MAX_STEPS,
    BadValue,
    CategoricalParam,
    FloatParam,
    IntParam,
    Param,
    Value,
    is_number,
    is_scalar,
    show,
    show_list,
    step_tolerance,
    tidy,
    value_key,
)

#: The name of the OpenAPI component a `when` refers to (space/schema.py defines it).
CONDITION = "Condition"
#: A value a categorical choice (or a param value) may be: never null, an array or an object.
SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}


@dataclass(frozen=True)
class Key:
    """One key of a param's JSON form, with the JSON Schema of its value as the API documents it."""

    name: str
    schema: Mapping[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Form:
    """A param type: its `type` value, the value class it parses into, and the keys of its own."""

    kind: str
    param_class: type[Param]
    keys: tuple[Key, ...]

    @property
    def all_keys(self) -> tuple[Key, ...]:
        """Every key a param of this type may have: name and type, its own, then when and grid."""
        common = common_keys(self)
        return (*common[:2], *self.keys, *common[2:])


def common_keys(form: Form) -> tuple[Key, ...]:
    """The keys every param type has: name, type, when and grid (whose values are the type's own)."""
    grid_items = {"type": "number"} if form.kind == "float" else {"type": "integer"} if form.kind == "int" else SCALAR
    grid_hint = ("The choices the grid suggester tries (default: all)." if form.kind == "categorical"
                 else "The values the grid suggester tries (in bounds, on step).")
    return (
        Key("name", {"type": "string", "minLength": 1, "description": "Unique within the space; printable.",
                     "example": "lr"}, required=True),
        Key("type", {"type": "string", "const": form.kind}, required=True),
        Key("when", {"anyOf": [{"$ref": f"#/components/schemas/{CONDITION}"}, {"type": "null"}],
                     "description": "Categorical parent name -> the choices of it for which this param is active."}),
        Key("grid", {"type": ["array", "null"], "minItems": 1, "items": grid_items, "description": grid_hint}),
    )


def _numeric_keys(number: str) -> tuple[Key, ...]:
    return (
        Key("low", {"type": number}, required=True),
        Key("high", {"type": number, "description": "Above low; included."}, required=True),
        Key("log", {"type": ["boolean", "null"], "description": "Sample on a log scale (needs low > 0)."}),
        Key("step", {"type": [number, "null"], "exclusiveMinimum": 0,
                     "description": "Only values low + k * step, dividing high - low (not with log)."}),
    )


FORMS: dict[str, Form] = {form.kind: form for form in (
    Form("float", FloatParam, _numeric_keys("number")),
    Form("int", IntParam, _numeric_keys("integer")),
    Form("categorical", CategoricalParam, (
        Key("choices", {"type": "array", "minItems": 1, "items": SCALAR, "description": "Distinct values."},
            required=True),)),
)}
_KINDS = ", ".join(repr(kind) for kind in list(FORMS)[:-1]) + f" or {list(FORMS)[-1]!r}"


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


def parse_space(data: object, limits: Limits) -> tuple[Param, ...]:
    problems = _Problems()
    if not isinstance(data, Mapping):
        problems.add("$", 'the search space must be a JSON object like {"params": [...]}, '
                          f"got {show(data)}")
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
        problems.add("params", f"params must be a list of param objects, got {show(raw)}")
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
        problems.add(path, f"params[{index}] must be an object with name and type, got {show(item)}")
        return _Draft(index=index, name=None, label=path, kind=None)
    raw_name = item.get("name")
    label = _label(index, raw_name)
    name = _parse_name(path, label, item, limits, problems)

    kind = item.get("type")
    if not isinstance(kind, str) or kind not in FORMS:  # a dict is no type, and no dict key either
        got = "is missing" if "type" not in item else f"{show(kind)} is unknown"
        problems.add(f"{path}.type", f"{label}: type {got}; use {_KINDS}")
        kind = None
    assert kind is None or isinstance(kind, str)
    draft = _Draft(index=index, name=name, label=label, kind=kind, raw_when=item.get("when"))
    if kind is None:
        return draft

    allowed = [key.name for key in FORMS[kind].all_keys]
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
        problems.add(where, f"{label}: name must be a string, got {show(name)}; {fix}")
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
    if not is_number(raw):
        problems.add(where, f"{label}: {key} must be a number, got {show(raw)}")
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
        problems.add(where, f"{label}: {key} must be a finite number, got {show(raw)}")
        return None
    return number


def _parse_numeric(path: str, label: str, kind: str, item: Mapping[str, object],
                   problems: _Problems) -> FloatParam | IntParam | None:
    low = _parse_bound(path, label, kind, item, "low", problems)
    high = _parse_bound(path, label, kind, item, "high", problems)
    raw_log = item.get("log")
    log = False
    if raw_log is not None and not isinstance(raw_log, bool):
        problems.add(f"{path}.log", f"{label}: log must be true or false, got {show(raw_log)}")
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
    if not is_number(raw):
        problems.add(where, f"{label}: step must be a number, got {show(raw)}")
        return None
    if kind == "int":
        if isinstance(raw, float) and not raw.is_integer():
            problems.add(where, f"{label}: step of an int param must be an integer, got {raw!r}")
            return None
        step: float | int = int(raw)
    else:
        try:
            step = float(raw)
        except OverflowError:  # an integer beyond float64, as a bound is (_parse_bound)
            step = math.inf if raw > 0 else -math.inf
        if not math.isfinite(step):
            problems.add(where, f"{label}: step must be a finite number, got {show(raw)}")
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
    tol = step_tolerance(low, high, step)
    if n < 1:
        problems.add(where, f"{label}: step ({step!r}) is larger than high - low ({span!r}); "
                            f"use a step of at most {span!r}")
    elif abs(q - n) > tol:
        scale = max(abs(low), abs(high), abs(low + math.ceil(q) * step))
        below = tidy(low + math.floor(q) * step, step, scale)
        above = tidy(low + math.ceil(q) * step, step, scale)
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
        problems.add(where, f"{label}: {what} must be a list of values, got {show(raw)}")
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
        if not is_scalar(choice):
            problems.add(f"{where}[{j}]", f"{label}: choice {show(choice)} is not allowed; choices must be "
                                          "strings, finite numbers or booleans")
            ok = False
            continue
        if isinstance(choice, str) and len(choice) > limits.max_name_length:
            problems.add(f"{where}[{j}]", f"{label}: choice {show(choice)} is {len(choice)} characters long, above "
                                          f"the limit of {limits.max_name_length}; shorten it")
            ok = False
            continue
        key = value_key(choice)
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
            value = base.normalize(raw_value)
        except BadValue as exc:
            problems.add(f"{where}[{j}]", f"{label}: grid value {exc}")
            continue
        key = value_key(value)
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
                            f'choices, e.g. {{"optimizer": ["sgd"]}}; got {show(raw)}')
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
                             f"got {show(allowed)}")
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
            problems.add(at, f"{d.label}: {show(value)} is not among the choices of {parent_name!r} "
                             f"{show_list(parent.choices)}; fix or remove it")
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
