"""What a tell or an import says a trial achieved: `value` for a study with one objective and no constraints,
`values` (every objective and constraint metric, by name) otherwise. Checked here against the study's
objectives and constraints, so a wrong metric name is a 422 naming it, never a stored surprise."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suggest_api.domain import Constraint, Objective, TrialState
from suggest_api.errors import InvalidInput
from suggest_api.multiobjective.outcomes import is_feasible


@dataclass(frozen=True)
class Outcome:
    """A result as stored: the state, `value` (the objective of a single-objective study), `values` (every
    metric, for a study with several objectives or with constraints) and whether those satisfy the constraints."""

    state: TrialState
    value: float | None
    values: dict[str, float] | None
    feasible: bool | None


def outcome(objectives: Sequence[Objective], constraints: Sequence[Constraint], *, value: float | None,
            values: Mapping[str, Any] | None, state: TrialState | None) -> Outcome:
    """Check a told result against the study's objectives and constraints (InvalidInput naming the field)."""
    if value is not None and values is not None:
        raise InvalidInput("give `value` or `values`, not both", errors={"value": ["remove it, or remove values"]})
    if value is not None and not math.isfinite(value):
        raise InvalidInput("value must be a finite number; to say the run diverged, tell state 'failed'",
                           errors={"value": ["must be finite"]})
    metrics = [o.name for o in objectives] + [c.name for c in constraints]
    plain = len(objectives) == 1 and not constraints
    if values is not None:
        checked = _checked_values(values, metrics, state)
        if plain:
            return _single(checked[objectives[0].name], state)
        return _result(state, checked, objectives, constraints)
    if plain:
        return _single(value, state)
    if value is not None:
        raise InvalidInput(f"this study has {_describe(objectives, constraints)}: tell `values` with "
                           f"{_names(metrics)} instead of `value`",
                           errors={"value": [f"not accepted; give values with {_names(metrics)}"]})
    if state in (TrialState.FAILED, TrialState.PRUNED):
        return Outcome(state, None, None, None)
    raise InvalidInput(f"give `values` with {_names(metrics)} (completed), or `state` ('failed' or 'pruned')",
                       errors={"values": [f"required: {_names(metrics)}"]})


def _single(value: float | None, state: TrialState | None) -> Outcome:
    """A study with one objective and no constraints: what tells always were."""
    if state is None:
        if value is None:
            raise InvalidInput("give `value` (completed) or `state` ('failed' or 'pruned')",
                               errors={"value": ["required unless state is failed or pruned"]})
        return Outcome(TrialState.COMPLETED, value, None, None)
    _check_state(state, value is not None)
    return Outcome(state, value, None, None)


def _result(state: TrialState | None, values: dict[str, float], objectives: Sequence[Objective],
            constraints: Sequence[Constraint]) -> Outcome:
    state = state or TrialState.COMPLETED
    _check_state(state, True)
    value = values[objectives[0].name] if len(objectives) == 1 else None
    return Outcome(state, value, values, is_feasible(values, constraints) if constraints else None)


def _check_state(state: TrialState, has_result: bool) -> None:
    if state is TrialState.RUNNING:
        raise InvalidInput("a tell finishes a trial: state must be completed, failed or pruned",
                           errors={"state": ["must be one of: completed, failed, pruned"]})
    if state is TrialState.COMPLETED and not has_result:
        raise InvalidInput("a completed trial needs its `value`", errors={"value": ["required for completed"]})
    if state is TrialState.FAILED and has_result:
        raise InvalidInput("a failed trial has no value; drop `value`/`values`, or tell state 'completed'",
                           errors={"value": ["must be absent when state is failed"]})


def _checked_values(values: Mapping[str, Any], metrics: Sequence[str], state: TrialState | None) -> dict[str, float]:
    """Every metric once, each a finite number; the problems keyed `values.<metric>`."""
    if state is TrialState.FAILED:
        raise InvalidInput("a failed trial has no values; drop `values`, or tell state 'completed'",
                           errors={"values": ["must be absent when state is failed"]})
    errors: dict[str, list[str]] = {}
    for name in metrics:
        if name not in values:
            errors[f"values.{name}"] = ["missing: every objective and constraint metric needs a value"]
    for name, number in values.items():
        if name not in metrics:
            errors[f"values.{name}"] = [f"not a metric of this study; its metrics are {_names(metrics)}"]
        elif isinstance(number, bool) or not isinstance(number, int | float):
            errors[f"values.{name}"] = ["must be a number"]
        elif not math.isfinite(number):
            errors[f"values.{name}"] = ["must be finite; to say the run diverged, tell state 'failed'"]
    if errors:
        first = next(iter(errors))
        raise InvalidInput(f"{first}: {errors[first][0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1
                                                             else ""), errors=errors)
    return {name: float(values[name]) for name in metrics}


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _describe(objectives: Sequence[Objective], constraints: Sequence[Constraint]) -> str:
    text = f"{len(objectives)} objective" + ("s" if len(objectives) > 1 else "")
    if constraints:
        text += f" and {len(constraints)} constraint" + ("s" if len(constraints) > 1 else "")
    return text
