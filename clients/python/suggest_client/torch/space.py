"""The search space the trainer tunes, and the value each hyperparameter takes when it is not tuned.

A custom space (`--space FILE`) may name any subset of `DEFAULT_PARAMS`: whatever it leaves out
trains at its default, so a small space (say, only `lr`) works. A name the trainer does not know is
refused up front, before the study is created, rather than being silently ignored in every trial.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The space `suggest-train` uses unless `--space` names another (the service's space format).
DEFAULT_SPACE_PATH = Path(__file__).with_name("default_space.json")

#: Every hyperparameter the trainer knows, with the value it trains at when a trial does not set it
#: (not in the space, or inactive because its `when` does not hold).
DEFAULT_PARAMS: dict[str, Any] = {
    "lr": 1e-3,                 # learning rate
    "batch_size": 64,
    "epochs": 10,
    "optimizer": "adam",        # sgd | adam | rmsprop
    "momentum": 0.9,            # sgd only
    "l1": 0.0,                  # L1 penalty on the weights, added to the loss
    "weight_decay": 0.0,        # L2, the optimizer's weight_decay
    "dropout": 0.0,             # after each hidden layer
    "hidden_size": 64,          # units per hidden layer
    "num_layers": 2,            # hidden layers (0: a linear model)
    "activation": "relu",       # relu | tanh | sigmoid
    "lr_decay": "none",         # none | step (StepLR) | exponential (ExponentialLR), stepped each epoch
    "step_size": 5,             # step decay: epochs between decays
    "gamma": 0.5,               # step and exponential decay: the factor
}

#: The values a categorical hyperparameter may take.
CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": ("sgd", "adam", "rmsprop"),
    "activation": ("relu", "tanh", "sigmoid"),
    "lr_decay": ("none", "step", "exponential"),
}


class SpaceError(ValueError):
    """A search space (or a trial's params) that the trainer cannot train."""


def load_space(path: str | Path | None = None) -> dict[str, Any]:
    """The space in `path` (default: the shipped `default_space.json`), checked against the trainer.

    Accepts `{"params": [...]}` or the bare list, answers `{"params": [...]}`. The service checks
    the structure itself when the study is created; here we check what only the trainer knows.
    """
    source = Path(path) if path is not None else DEFAULT_SPACE_PATH
    try:
        loaded = json.loads(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise SpaceError(f"cannot read the space file {source}: {error.strerror or error}") from error
    except json.JSONDecodeError as error:
        raise SpaceError(f"the space file {source} is not valid JSON: {error}") from error
    space = {"params": loaded} if isinstance(loaded, list) else loaded
    if not isinstance(space, dict) or not isinstance(space.get("params"), list) or set(space) != {"params"}:
        raise SpaceError(f"the space file {source} must hold {{\"params\": [...]}} (the service's space format)")
    check_space(space, source=str(source))
    return space


def check_space(space: Mapping[str, Any], *, source: str = "the space") -> None:
    """Refuse params the trainer does not know, and categorical choices it cannot train."""
    for index, param in enumerate(space["params"]):
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            raise SpaceError(f"{source}: params[{index}] must be an object with a \"name\"")
        name = param["name"]
        if name not in DEFAULT_PARAMS:
            raise SpaceError(f"{source}: the trainer does not know the param {name!r}; it tunes only "
                             f"{', '.join(DEFAULT_PARAMS)}")
        if name in CHOICES:
            unknown = [c for c in param.get("choices", []) if c not in CHOICES[name]]
            if param.get("type") != "categorical" or unknown:
                raise SpaceError(f"{source}: {name!r} must be a categorical whose choices are among "
                                 f"{', '.join(CHOICES[name])}" + (f" (not {unknown})" if unknown else ""))


def without_params(space: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The space minus `names` (the params the caller fixes, such as `--epochs`)."""
    drop = set(names)
    kept = [p for p in space["params"] if p["name"] not in drop]
    for param in kept:
        parents = drop.intersection(param.get("when", {}))
        if parents:
            raise SpaceError(f"cannot fix {', '.join(sorted(parents))}: {param['name']!r} depends on it (\"when\")")
    if not kept:
        raise SpaceError(f"nothing is left to tune once {', '.join(sorted(drop))} is fixed")
    return {"params": kept}


def resolve_params(params: Mapping[str, Any], fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every hyperparameter's value for one run: `fixed`, else the trial's, else the default."""
    unknown = [name for name in [*params, *(fixed or {})] if name not in DEFAULT_PARAMS]
    if unknown:
        raise SpaceError(f"unknown params {unknown}; the trainer tunes only {', '.join(DEFAULT_PARAMS)}")
    resolved = {**DEFAULT_PARAMS, **params, **(fixed or {})}
    for name, choices in CHOICES.items():
        if resolved[name] not in choices:
            raise SpaceError(f"{name} must be one of {', '.join(choices)}, not {resolved[name]!r}")
    for name, (low, high, integer) in _RANGES.items():
        value = resolved[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (integer and not float(value).is_integer()):
            raise SpaceError(f"{name} must be {'an integer' if integer else 'a finite number'}, not {value!r}")
        if not low <= value <= high or (name in _POSITIVE and value <= 0):
            raise SpaceError(f"{name} must lie in [{low}, {high}]" + (" and be > 0" if name in _POSITIVE else "")
                             + f", not {value!r}")
        resolved[name] = int(value) if integer else float(value)
    return resolved


#: Numeric hyperparameters: (lowest, highest, integer) of the values that make sense to train with.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (0.0, float("inf"), False), "batch_size": (1, float("inf"), True), "epochs": (1, float("inf"), True),
    "momentum": (0.0, 1.0, False), "l1": (0.0, float("inf"), False), "weight_decay": (0.0, float("inf"), False),
    "dropout": (0.0, 0.99, False), "hidden_size": (1, float("inf"), True), "num_layers": (0, float("inf"), True),
    "step_size": (1, float("inf"), True), "gamma": (0.0, 1.0, False),
}
_POSITIVE = {"lr", "gamma"}
