"""Standard test functions as search spaces plus objectives, for the quality benchmark and the suggesters'
regret tests.

Each problem is minimized; `optimum` is its known minimum, so simple regret = best value found - optimum.
Formulas and optima are the textbook ones (Surjanovic & Bingham's Virtual Library of Simulation
Experiments); the mixed problem is defined here, with its minimum 0 by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Problem:
    """A search space, an objective to minimize on it, and the objective's known minimum."""

    name: str
    space: dict[str, Any]
    objective: Callable[[Params], float]
    optimum: float

    def regret(self, value: float) -> float:
        """Simple regret of a best value found: how far above the optimum it is (0 at the optimum)."""
        return max(value - self.optimum, 0.0)


def _box(names: list[str], low: float, high: float) -> dict[str, Any]:
    return {"params": [{"name": n, "type": "float", "low": low, "high": high} for n in names]}


def _vector(params: Params, names: list[str]) -> np.ndarray:
    return np.array([float(params[n]) for n in names])


def branin(p: Params) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_H3_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3 = ["x1", "x2", "x3"]


def hartmann3(p: Params) -> float:
    x = _vector(p, _H3)
    return float(-np.sum(_H3_ALPHA * np.exp(-np.sum(_H3_A * (x - _H3_P) ** 2, axis=1))))


_R4 = ["x1", "x2", "x3", "x4"]


def rosenbrock4(p: Params) -> float:
    x = _vector(p, _R4)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


_A5 = ["x1", "x2", "x3", "x4", "x5"]


def ackley5(p: Params) -> float:
    x = _vector(p, _A5)
    d = len(x)
    return float(-20 * math.exp(-0.2 * math.sqrt(np.sum(x**2) / d)) - math.exp(np.sum(np.cos(2 * math.pi * x)) / d)
                 + 20 + math.e)


#: The best learning rate and its penalty differ per optimizer, as they do in real training.
_MIXED_LR = {"sgd": 0.1, "adam": 0.003, "rmsprop": 0.001}
_MIXED_PENALTY = {"sgd": 0.15, "adam": 0.0, "rmsprop": 0.3}


def mixed(p: Params) -> float:
    """A training-like surface: log-scale lr per optimizer, log-scale int width, int depth, stepped dropout,
    and momentum only for sgd. Minimum 0 at adam, lr 0.003, units 128, layers 3, dropout 0.2."""
    opt = str(p["optimizer"])
    value = (math.log10(float(p["lr"])) - math.log10(_MIXED_LR[opt])) ** 2
    value += 0.25 * (math.log2(int(p["units"])) - 7) ** 2
    value += 0.1 * (int(p["layers"]) - 3) ** 2
    value += 4 * (float(p["dropout"]) - 0.2) ** 2
    value += _MIXED_PENALTY[opt]
    if opt == "sgd":
        value += 2 * (float(p["momentum"]) - 0.9) ** 2
    return value


MIXED_SPACE = {"params": [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
    {"name": "units", "type": "int", "low": 8, "high": 1024, "log": True},
    {"name": "layers", "type": "int", "low": 1, "high": 8},
    {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5, "step": 0.05},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
]}

PROBLEMS: dict[str, Problem] = {p.name: p for p in [
    Problem("branin", {"params": [{"name": "x1", "type": "float", "low": -5.0, "high": 10.0},
                                  {"name": "x2", "type": "float", "low": 0.0, "high": 15.0}]},
            branin, 0.397887357729738),
    Problem("hartmann3", _box(_H3, 0.0, 1.0), hartmann3, -3.86278214782076),
    Problem("rosenbrock4", _box(_R4, -2.048, 2.048), rosenbrock4, 0.0),
    Problem("ackley5", _box(_A5, -32.768, 32.768), ackley5, 0.0),
    Problem("mixed", MIXED_SPACE, mixed, 0.0),
]}
