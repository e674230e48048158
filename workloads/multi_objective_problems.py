"""Multi-objective test problems as search spaces plus metric functions, for the multi-objective benchmark
and the tests of its definitions.

Each problem maps params to every metric a study is told (its objectives and constraint metrics, by name),
or to None for a failed trial, and fixes the reference point its hypervolume is measured against, so two
runs are compared by one number. The analytic problems are the textbook ones: ZDT1-3 (Zitzler, Deb &
Thiele 2000) in 10 dimensions instead of 30, DTLZ2 (Deb, Thiele, Laumanns & Zitzler 2002) with 3 objectives
in 7 dimensions, and C2-DTLZ2 (Jain & Deb 2014: DTLZ2 whose feasible region is four balls of radius 0.4 on
its front). The last one is the reference trainer's accuracy against its size: the trainer's own `train`
on scikit-learn's digits for a few epochs.

Reference points, in each objective's own units (all objectives but val_accuracy are minimized):
- ZDT1-3 (1.1, 5): f1 lies in [0, 1], so 1.1 is the front's f1 range plus 10%; f2 = 5 is worse than about
  half of uniformly random points (g is 5.5 at the centre of the box), so random search's front counts, but
  most of the volume is gained by converging to g = 1, where the true front lies.
- DTLZ2 and C2-DTLZ2 (1.1, 1.1, 1.1): the true front's nadir (1, 1, 1) plus 10%, the usual choice.
- trainer (val_accuracy 0.5, n_params 20,000): a network below half the validation rows right has not
  learned; every one-hidden-layer network of the space fits under 20,000 weights, and the deeper ones add
  no accuracy that digits needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from suggest_api.domain import Constraint, ConstraintOp, Goal, Objective
from suggest_api.multiobjective.hypervolume import hypervolume
from suggest_api.multiobjective.outcomes import is_feasible, signed

Params = Mapping[str, Any]
Metrics = dict[str, float]
Array = npt.NDArray[np.float64]

ZDT_DIMENSIONS = 10
DTLZ_DIMENSIONS = 7
DTLZ_OBJECTIVES = 3
#: C2-DTLZ2's ball radius for 3 objectives (Jain & Deb use 0.4 for 3, 0.5 for more).
C2_RADIUS = 0.4
#: The trainer problem: epochs per trial, and the widest hidden_size range the space allows.
TRAINER_EPOCHS = 3
TRAINER_HIDDEN = (4, 256)
#: ZDT3's Pareto-optimal f1 intervals (the front is disconnected), from Deb's analysis of the function.
ZDT3_SEGMENTS = ((0.0, 0.0830015349), (0.1822287280, 0.2577623634), (0.4093136748, 0.4538821041),
                 (0.6183967944, 0.6525117038), (0.8233317983, 0.8518328654))


@dataclass(frozen=True)
class MultiProblem:
    """A search space, the metrics a trial of it yields, and the fixed reference point its hypervolume uses."""

    name: str
    #: Makes the search space (the trainer's is read from the client package, which imports torch: on first use).
    make_space: Callable[[], dict[str, Any]]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    #: Every objective and constraint metric by name, or None when the trial failed (a diverged network).
    evaluate: Callable[[Params], Metrics | None]
    #: One number per objective, in its own units.
    reference_point: tuple[float, ...]
    #: The true front's hypervolume against the reference, to 3 digits (C2-DTLZ2: that of a dense sample of
    #: its feasible front, a lower bound); None when unknown.
    optimal_hypervolume: float | None
    description: str

    @cached_property
    def space(self) -> dict[str, Any]:
        return self.make_space()

    @property
    def dimension(self) -> int:
        return len(self.space["params"])

    def minimized_reference(self) -> Array:
        """The reference point turned so that smaller is better, as the hypervolume takes it."""
        return np.asarray(signed(self.reference_point, self.objectives), dtype=float)

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        return is_feasible(metrics, self.constraints)

    def front_hypervolume(self, results: Sequence[Mapping[str, float] | None]) -> float:
        """The hypervolume of the feasible completed trials (a None result is a failed trial) against the
        reference, computed in the minimization orientation."""
        rows = [signed([r[o.name] for o in self.objectives], self.objectives)
                for r in results if r is not None and self.feasible(r)]
        if not rows:
            return 0.0
        return hypervolume(np.asarray(rows, dtype=float), self.minimized_reference())


def _names(count: int) -> list[str]:
    return [f"x{i}" for i in range(1, count + 1)]


def _unit_box(count: int) -> Callable[[], dict[str, Any]]:
    return lambda: {"params": [{"name": n, "type": "float", "low": 0.0, "high": 1.0} for n in _names(count)]}


def _vector(params: Params, count: int) -> Array:
    return np.array([float(params[n]) for n in _names(count)], dtype=float)


def zdt_metrics(x: Array, kind: int) -> Metrics:
    """ZDT1 (convex front f2 = 1 - sqrt(f1)), ZDT2 (concave, 1 - f1²) or ZDT3 (disconnected) at `x` in
    [0, 1]^n; the front is where x2..xn = 0 (g = 1)."""
    f1 = float(x[0])
    g = 1.0 + 9.0 * float(np.sum(x[1:])) / (len(x) - 1)
    ratio = f1 / g
    if kind == 1:
        h = 1.0 - math.sqrt(ratio)
    elif kind == 2:
        h = 1.0 - ratio**2
    else:
        h = 1.0 - math.sqrt(ratio) - ratio * math.sin(10.0 * math.pi * f1)
    return {"f1": f1, "f2": g * h}


def dtlz2_objectives(x: Array, objectives: int) -> Array:
    """DTLZ2 at `x` in [0, 1]^n: the front is the unit sphere's positive orthant, where the last
    n - objectives + 1 variables are 0.5 (g = 0)."""
    g = float(np.sum((x[objectives - 1:] - 0.5) ** 2))
    angles = x[:objectives - 1] * (math.pi / 2)
    f = np.full(objectives, 1.0 + g)
    for i in range(objectives):
        f[i] *= float(np.prod(np.cos(angles[:objectives - 1 - i])))
        if i > 0:
            f[i] *= math.sin(float(angles[objectives - 1 - i]))
    return f


def c2_violation(f: Array, radius: float = C2_RADIUS) -> float:
    """C2-DTLZ2's constraint metric, feasible when <= 0: inside the ball of `radius` around one of the
    front's corners (each axis's unit point) or around the point of equal objectives 1/sqrt(m)."""
    m = len(f)
    total = float(np.sum(f**2))
    corners = min((float(f[i]) - 1.0) ** 2 + total - float(f[i]) ** 2 - radius**2 for i in range(m))
    centre = float(np.sum((f - 1.0 / math.sqrt(m)) ** 2)) - radius**2
    return min(corners, centre)


def _zdt(kind: int) -> Callable[[Params], Metrics | None]:
    def evaluate(params: Params) -> Metrics | None:
        return zdt_metrics(_vector(params, ZDT_DIMENSIONS), kind)
    return evaluate


def dtlz2(params: Params) -> Metrics | None:
    f = dtlz2_objectives(_vector(params, DTLZ_DIMENSIONS), DTLZ_OBJECTIVES)
    return {f"f{i + 1}": float(v) for i, v in enumerate(f)}


def c2_dtlz2(params: Params) -> Metrics | None:
    f = dtlz2_objectives(_vector(params, DTLZ_DIMENSIONS), DTLZ_OBJECTIVES)
    return {**{f"f{i + 1}": float(v) for i, v in enumerate(f)}, "violation": c2_violation(f)}


# --- the reference trainer ------------------------------------------------------------------------------

_TRAINER_DATA: list[Any] = []


def trainer_space() -> dict[str, Any]:
    """The trainer's shipped default space without `epochs` (fixed at TRAINER_EPOCHS) and with hidden_size
    reaching down to 4 units, so that the small end of the front trades accuracy for size."""
    from suggest_client.torch import load_space, without_params

    space = without_params(load_space(), ["epochs"])
    for param in space["params"]:
        if param["name"] == "hidden_size":
            param["low"], param["high"] = TRAINER_HIDDEN
    return space


def n_params(params: Params, features: int = 64, classes: int = 10) -> int:
    """Weights and biases of the trainer's network for `params` (digits: 64 features, 10 classes)."""
    hidden, layers = int(params["hidden_size"]), int(params["num_layers"])
    widths = [features] + [hidden] * layers + [classes]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))


def trainer(params: Params) -> Metrics | None:
    """Train on digits (the split of seed 0) with seed 0 for TRAINER_EPOCHS epochs: a deterministic function
    of the params on the CPU, so methods differ only by what they suggest. None when the loss diverged."""
    from suggest_client.torch import Diverged, load_digits_splits, resolve_params, train

    if not _TRAINER_DATA:
        _TRAINER_DATA.append(load_digits_splits(0))
    full = resolve_params(params, {"epochs": TRAINER_EPOCHS})
    try:
        result = train(full, _TRAINER_DATA[0], device="cpu", seed=0)
    except Diverged:
        return None
    return {"val_accuracy": float(result.val_accuracy), "n_params": float(n_params(full))}


def _zdt_problem(kind: int, optimum: float, front: str) -> MultiProblem:
    return MultiProblem(f"zdt{kind}", _unit_box(ZDT_DIMENSIONS),
                        (Objective("f1", Goal.MINIMIZE), Objective("f2", Goal.MINIMIZE)), (), _zdt(kind),
                        (1.1, 5.0), optimum, f"ZDT{kind}, {ZDT_DIMENSIONS} floats in [0, 1], 2 objectives, {front}")


_MINIMIZE3 = tuple(Objective(f"f{i}", Goal.MINIMIZE) for i in (1, 2, 3))


def _trainer_problem() -> MultiProblem:
    return MultiProblem("trainer", trainer_space,
                        (Objective("val_accuracy", Goal.MAXIMIZE), Objective("n_params", Goal.MINIMIZE)), (),
                        trainer, (0.5, 20_000.0), None,
                        f"the reference trainer on digits, {TRAINER_EPOCHS} epochs a trial: val_accuracy "
                        "(maximize) against n_params (minimize)")


PROBLEMS: dict[str, MultiProblem] = {p.name: p for p in [
    _zdt_problem(1, 5.17, "convex front"),
    _zdt_problem(2, 4.83, "concave front"),
    _zdt_problem(3, 5.62, "disconnected front"),
    MultiProblem("dtlz2", _unit_box(DTLZ_DIMENSIONS), _MINIMIZE3, (), dtlz2, (1.1, 1.1, 1.1), 0.807,
                 f"DTLZ2, {DTLZ_DIMENSIONS} floats in [0, 1], 3 objectives, spherical front"),
    MultiProblem("c2dtlz2", _unit_box(DTLZ_DIMENSIONS), _MINIMIZE3,
                 (Constraint("violation", ConstraintOp.AT_MOST, 0.0),), c2_dtlz2, (1.1, 1.1, 1.1), 0.727,
                 f"C2-DTLZ2, {DTLZ_DIMENSIONS} floats in [0, 1], 3 objectives, feasible where violation <= 0 "
                 f"(balls of radius {C2_RADIUS} on the front)"),
    _trainer_problem(),
]}

