"""From `suggest_*` calls to a search space: what define-by-run and the Optuna sampler share.

A *definition* is one param's JSON as the service takes it (`{"name", "type", "low", "high", ...}`),
without `when` or `grid`; `float_param`, `int_param` and `categorical_param` build one from a call and
refuse what the service would refuse, naming the param, so a bad call fails at once rather than after
the trials that define the space. An `Observation` is one finished trial's calls, in call order.

`infer` turns observations into a space: a param asked in every trial is plain; one asked in some is
`when: {parent: [choices]}` for a categorical parent asked before it whose values explain exactly when
it is asked; anything else is a SpaceMismatch naming the param. `check_call` checks a call against a study's
space (definition, presence, `when`) and answers the service's value. Pure: no HTTP, stdlib only.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from suggest_client.errors import SpaceMismatch

#: A value a param may take: what a categorical choice may be (never None, a list or a dict).
Choice = Union[str, int, float, bool]
#: A param's JSON, as the service stores it.
ParamJSON = dict[str, Any]
KINDS = ("float", "int", "categorical")
_STEP_TOLERANCE = 1e-9  # in steps; the service's own tolerance for float noise


# --- definitions ------------------------------------------------------------------------------

def float_param(name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> ParamJSON:
    """The definition `trial.suggest_float(name, low, high, step=..., log=...)` asks for."""
    _check_name(name)
    low, high = _number(name, "low", low), _number(name, "high", high)
    if step is not None:
        step = _number(name, "step", step)
    param: ParamJSON = {"name": name, "type": "float", "low": float(low), "high": float(high)}
    if log:
        param["log"] = True
    if step is not None:
        param["step"] = float(step)
    _check_range(param)
    return param


def int_param(name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> ParamJSON:
    """The definition `trial.suggest_int(name, low, high, step=..., log=...)` asks for."""
    _check_name(name)
    bounds = [_integer(name, key, value) for key, value in (("low", low), ("high", high), ("step", step))]
    param: ParamJSON = {"name": name, "type": "int", "low": bounds[0], "high": bounds[1]}
    if log:
        param["log"] = True
    if bounds[2] != 1:
        param["step"] = bounds[2]
    _check_range(param)
    return param


def categorical_param(name: str, choices: Sequence[Choice]) -> ParamJSON:
    """The definition `trial.suggest_categorical(name, choices)` asks for."""
    _check_name(name)
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
        raise ValueError(f"param {name!r}: choices must be a list of values, not {type(choices).__name__}")
    if not choices:
        raise ValueError(f"param {name!r}: choices is empty; give at least one choice")
    seen: set[tuple[str, Choice]] = set()
    for choice in choices:
        if not is_choice(choice):
            raise ValueError(f"param {name!r}: choice {choice!r} is not allowed; choices must be strings, "
                             "finite numbers or booleans (None cannot be sent: use a string such as 'none')")
        if key(choice) in seen:
            raise ValueError(f"param {name!r}: choice {choice!r} is listed twice; remove the duplicate")
        seen.add(key(choice))
    return {"name": name, "type": "categorical", "choices": list(choices)}


def normalize(param: Mapping[str, Any]) -> ParamJSON:
    """A definition in the form the builders above give, from a service param (its `when`, `grid` dropped)."""
    kind = param.get("type")
    if kind == "categorical":
        return {"name": param["name"], "type": kind, "choices": list(param["choices"])}
    out: ParamJSON = {"name": param["name"], "type": kind}
    cast = float if kind == "float" else int
    out["low"], out["high"] = cast(param["low"]), cast(param["high"])
    if param.get("log"):
        out["log"] = True
    step = param.get("step")
    if step is not None and not (kind == "int" and step == 1):
        out["step"] = cast(step)
    return out


def call_text(param: Mapping[str, Any]) -> str:
    """The `trial.suggest_*` call that asks for this definition, for messages that say what to write."""
    name = param["name"]
    if param["type"] == "categorical":
        return f"suggest_categorical({name!r}, {list(param['choices'])!r})"
    extra = "".join(f", {k}={param[k]!r}" for k in ("step", "log") if param.get(k) not in (None, False))
    return f"suggest_{param['type']}({name!r}, {param['low']!r}, {param['high']!r}{extra})"


def differences(defined: Mapping[str, Any], asked: Mapping[str, Any]) -> list[str]:
    """How a call's definition differs from the study's, one phrase each; empty when they agree.

    Categorical choices compare as sets (true and 1 differ): their order changes nothing the service does.
    """
    defined, asked = normalize(defined), normalize(asked)
    if defined["type"] != asked["type"]:
        return [f"it is a {defined['type']} param, not {asked['type']}"]
    if defined["type"] == "categorical":
        have, want = [key(c) for c in defined["choices"]], [key(c) for c in asked["choices"]]
        missing = [c for c, k in zip(asked["choices"], want) if k not in have]
        extra = [c for c, k in zip(defined["choices"], have) if k not in want]
        said = ([f"choices {missing!r} are not in the study's"] if missing else []) + (
            [f"the study's choices {extra!r} are not asked for"] if extra else [])
        return said
    said = []
    for item in ("low", "high", "step", "log"):
        mine, theirs = asked.get(item), defined.get(item)
        if mine != theirs or type(mine) is not type(theirs):
            said.append(f"{item} is {_shown(mine)}, the study's is {_shown(theirs)}")
    return said


def is_choice(value: object) -> bool:
    """A value a categorical choice (or a param value) may be: str, bool, or a finite int or float."""
    if isinstance(value, (bool, str, int)):
        return True
    return isinstance(value, float) and math.isfinite(value)


def key(value: Choice) -> tuple[str, Choice]:
    """Identity of a value as JSON sees it: in Python True == 1, but the choices true and 1 differ."""
    return ("bool" if isinstance(value, bool) else "str" if isinstance(value, str) else "number", value)


def same_choice(choices: Iterable[Choice], value: object) -> Choice | None:
    """The element of `choices` that is `value` (true and 1 told apart), or None."""
    if not is_choice(value):
        return None
    return next((c for c in choices if key(c) == key(value)), None)  # type: ignore[arg-type]


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a param name must be a non-empty string, not {name!r}")


def _number(name: str, what: str, value: object) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"param {name!r}: {what} must be a finite number, not {value!r}")
    return value


def _integer(name: str, what: str, value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"param {name!r}: {what} of an int param must be an integer, not {value!r}")
    return value


def _check_range(param: ParamJSON) -> None:
    """What the service refuses in a numeric definition, said at the call that asks for it."""
    name, low, high, step = param["name"], param["low"], param["high"], param.get("step")
    where = f"param {name!r} ({call_text(param)})"
    if low >= high:
        raise ValueError(f"{where}: low must be below high; widen the range (a param with one value is a "
                         "constant: use the value itself)")
    if param.get("log") and low <= 0:
        raise ValueError(f"{where}: a log scale needs low > 0; raise low or drop log")
    if step is None:
        return
    if step <= 0:
        raise ValueError(f"{where}: step must be positive")
    if param.get("log"):
        raise ValueError(f"{where}: log and step cannot be combined; drop one")
    span = high - low
    if param["type"] == "int":
        if span % step:
            fit = low + (span // step) * step
            raise ValueError(f"{where}: step {step} does not divide high - low ({span}); set high to {fit} "
                             f"or {fit + step}")
        return
    q = span / step
    tolerance = max(_STEP_TOLERANCE, 64 * sys.float_info.epsilon * max(abs(low), abs(high)) / step)
    if round(q) < 1 or abs(q - round(q)) > tolerance:
        below, above = low + math.floor(q) * step, low + max(1, math.ceil(q)) * step
        raise ValueError(f"{where}: step {step!r} does not divide high - low ({span!r}); set high to about "
                         f"{below:.12g} or {above:.12g}")


def _shown(value: object) -> str:
    return "not set" if value is None else repr(value)


# --- activity under a space -------------------------------------------------------------------

def active(space: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, bool]:
    """Which params of `space` are active for these values: every parent active and holding a listed value."""
    by_name = {p["name"]: p for p in space["params"]}
    state: dict[str, bool] = {}

    def visit(name: str, path: frozenset[str]) -> bool:
        if name not in state:
            when = by_name[name].get("when") or {}
            state[name] = all(parent in by_name and parent not in path and visit(parent, path | {name})
                              and parent in params and same_choice(allowed, params[parent]) is not None
                              for parent, allowed in when.items())
        return state[name]

    for name in by_name:
        visit(name, frozenset())
    return state


def condition_text(param: Mapping[str, Any]) -> str:
    """A `when` in words: "'kind' is one of ['a']"."""
    when = param.get("when") or {}
    return " and ".join(f"{parent!r} is one of {list(allowed)!r}" for parent, allowed in when.items())


def inactive_reason(space: Mapping[str, Any], params: Mapping[str, Any], name: str) -> str:
    """Why an inactive param is inactive for these values, in words."""
    states = active(space, params)
    param = next(p for p in space["params"] if p["name"] == name)
    for parent, allowed in (param.get("when") or {}).items():
        if not states.get(parent, False):
            return f"its parent {parent!r} is itself inactive"
        if parent not in params:
            return f"{parent!r} has no value"
        if same_choice(allowed, params[parent]) is None:
            return f"{parent!r} is {params[parent]!r}"
    return "a condition does not hold"


# --- inference --------------------------------------------------------------------------------

@dataclass
class Observation:
    """One finished trial's calls, in call order: each param's definition and the value it got."""

    label: str  # "trial 3", for messages
    asked: dict[str, tuple[ParamJSON, Choice]] = field(default_factory=dict)

    def add(self, param: ParamJSON, value: Choice) -> None:
        self.asked[param["name"]] = (param, value)

    @property
    def params(self) -> dict[str, Choice]:
        return {name: value for name, (_, value) in self.asked.items()}

    def position(self, name: str) -> int:
        return list(self.asked).index(name)


@dataclass(frozen=True)
class Inference:
    """What the observations say: the space (None with an error), and what more trials could still change.

    `ambiguous` names conditional params that more than one parent explains (the one asked last before
    them is taken); `unseen` names categoricals some of whose choices no trial took, so a branch may be
    missing. Discovery goes on while either is non-empty, up to its bound.
    """

    space: dict[str, Any] | None
    error: SpaceMismatch | None = None
    ambiguous: tuple[str, ...] = ()
    unseen: tuple[str, ...] = ()

    @property
    def settled(self) -> bool:
        """Nothing more trials could change: discovery may stop."""
        return self.error is not None or (self.space is not None and not self.ambiguous and not self.unseen)

    def result(self) -> dict[str, Any]:
        """The space, or the error raised."""
        if self.error is not None:
            raise self.error
        if self.space is None:
            raise ValueError("no trial completed, so no call shows the search space; fix the objective so that "
                             "trials complete")
        return self.space


def infer(observations: Sequence[Observation]) -> Inference:
    """The search space that the calls of these trials describe (see the module's docstring)."""
    if not observations:
        return Inference(None)
    try:
        definitions = _definitions(observations)
    except SpaceMismatch as error:
        return Inference(None, error)
    params: list[ParamJSON] = []
    ambiguous: list[str] = []
    for name, definition in definitions.items():
        seen_in = [o for o in observations if name in o.asked]
        param = dict(definition)
        if len(seen_in) < len(observations):
            parents = _explaining_parents(name, observations, seen_in)
            if not parents:
                return Inference(None, _unexplained(name, observations, seen_in))
            if len(parents) > 1:
                ambiguous.append(name)
            parent, values = parents[-1]  # the one asked last before it: how `if kind == ...` reads
            choices = definitions[parent]["choices"]
            param["when"] = {parent: [c for c in choices if key(c) in values]}
        params.append(param)
    unseen = [name for name, d in definitions.items() if d["type"] == "categorical"
              and {key(c) for c in d["choices"]} - {key(o.asked[name][1]) for o in observations if name in o.asked}]
    return Inference({"params": params}, ambiguous=tuple(ambiguous), unseen=tuple(unseen))


def _definitions(observations: Sequence[Observation]) -> dict[str, ParamJSON]:
    """Each param's definition, in the order first asked; SpaceMismatch when two trials ask it differently."""
    first: dict[str, tuple[ParamJSON, str]] = {}
    for observation in observations:
        for name, (param, _) in observation.asked.items():
            if name not in first:
                first[name] = (normalize(param), observation.label)
                continue
            known, where = first[name]
            if differences(known, param):
                raise SpaceMismatch(f"param {name!r} is asked differently by two trials: {where} calls "
                                    f"{call_text(known)}, {observation.label} calls {call_text(normalize(param))}; "
                                    "ask it the same way in every trial (or give the two uses different names)")
    return {name: param for name, (param, _) in first.items()}


def _explaining_parents(name: str, observations: Sequence[Observation],
                        seen_in: Sequence[Observation]) -> list[tuple[str, set[tuple[str, Choice]]]]:
    """Categorical params asked before `name` whose values say exactly when it is asked, nearest last."""
    first = seen_in[0]
    candidates = [parent for parent in list(first.asked)[:first.position(name)]
                  if first.asked[parent][0]["type"] == "categorical"
                  and all(parent in o.asked and o.position(parent) < o.position(name) for o in seen_in)]
    explaining = []
    for parent in candidates:
        values = {key(o.asked[parent][1]) for o in seen_in}
        if all((name in o.asked) == (parent in o.asked and key(o.asked[parent][1]) in values) for o in observations):
            explaining.append((parent, values))
    return explaining


def _unexplained(name: str, observations: Sequence[Observation], seen_in: Sequence[Observation]) -> SpaceMismatch:
    asked = ", ".join(o.label for o in seen_in[:3]) + (" ..." if len(seen_in) > 3 else "")
    skipped = next(o for o in observations if name not in o.asked)
    return SpaceMismatch(
        f"param {name!r} is asked by some trials ({asked}) and not by others ({skipped.label}, params "
        f"{skipped.params!r}), and no categorical param asked before it explains when: a conditional param must "
        f"depend on one categorical (`if kind == 'a': trial.suggest_...({name!r}, ...)`); ask it in every trial, "
        "or make its condition a categorical")


# --- checking calls against a study's space -------------------------------------------------

_REDEFINE = ("a define-by-run study's space comes from its first trials, so a branch they never took is missing "
             "from it: delete the study (or use a new name) to define it again, or give create_study the whole "
             "`space=`")


def check_call(space: Mapping[str, Any], params: Mapping[str, Any], param: ParamJSON, *, study: str,
               number: int) -> Choice:
    """The service's value for `param` in trial `number` (params `params`); SpaceMismatch when the call does
    not match `space`."""
    defined = definition_of(space, param, study, f"trial {number}")
    name = param["name"]
    if name not in params:
        if defined.get("when"):
            raise SpaceMismatch(f"param {name!r} is inactive in trial {number} of study {study!r}: it applies only "
                                f"when {condition_text(defined)}, and here {inactive_reason(space, params, name)}; "
                                "ask it only in that branch (or, if it belongs in this one too, " + _REDEFINE + ")")
        raise SpaceMismatch(f"trial {number} of study {study!r} has no value for param {name!r} (a trial the service "
                            "did not suggest, e.g. one imported without it?)")
    return as_asked(param, params[name])


def check_observation(space: Mapping[str, Any], observation: Observation, study: str) -> None:
    """SpaceMismatch unless a discovery trial's calls fit `space` exactly (so it can be imported into it)."""
    for param, _ in observation.asked.values():
        definition_of(space, param, study, observation.label)
    states = active(space, observation.params)
    for name in observation.asked:
        if not states[name]:
            defined = next(p for p in space["params"] if p["name"] == name)
            raise SpaceMismatch(f"study {study!r} makes param {name!r} active only when {condition_text(defined)}, "
                                f"but {observation.label} asked it while "
                                f"{inactive_reason(space, observation.params, name)}")
    missing = [name for name, on in states.items() if on and name not in observation.asked]
    if missing:
        raise SpaceMismatch(f"study {study!r} has params {missing!r} active in {observation.label} "
                            f"(params {observation.params!r}), which that trial never asked; the study was defined "
                            "by other calls (another worker's first trials, or another program)")


def definition_of(space: Mapping[str, Any], param: ParamJSON, study: str, where: str) -> dict[str, Any]:
    """The study's definition of `param`; SpaceMismatch naming the param when it has none or another one."""
    name = param["name"]
    defined = next((p for p in space["params"] if p["name"] == name), None)
    if defined is None:
        names = ", ".join(repr(p["name"]) for p in space["params"])
        raise SpaceMismatch(f"param {name!r} ({where} calls {call_text(param)}) is not in the search space of study "
                            f"{study!r}, whose params are {names}; ask only those, or use a study whose space has "
                            f"it ({_REDEFINE})")
    said = differences(defined, param)
    if said:
        raise SpaceMismatch(f"{where} calls {call_text(param)}, but study {study!r} defines {name!r} as "
                            f"{call_text(normalize(defined))}: {'; '.join(said)}; call it as the study defines it, "
                            "or use a new study (another name) for the new definition")
    return dict(defined)


def fits(space: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    """Whether `params` hold exactly the params that `space` makes active for them: what an import needs."""
    return set(params) == {name for name, on in active(space, params).items() if on}


def as_asked(param: ParamJSON, value: Any) -> Choice:
    """The service's value as the call's type: float, int, or the caller's own choice object."""
    if param["type"] == "float":
        return float(value)
    if param["type"] == "int":
        return int(value)
    found = same_choice(param["choices"], value)
    return value if found is None else found
