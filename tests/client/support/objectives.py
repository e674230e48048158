"""Objectives for `Study.optimize` tests, in a module of their own so worker processes can import them."""

from __future__ import annotations

import math
import sys
import time
from fractions import Fraction

from suggest_client import Client, Trial, TrialPruned


def quadratic(trial: Trial) -> float:
    value: float = (trial.params["x"] - 0.3) ** 2
    return value


def by_number(trial: Trial) -> float:
    """Trial 1 raises, 2 prunes, 3 returns NaN, 4 a string, 5 a Fraction; the rest complete."""
    if trial.number == 1:
        raise ValueError("diverged")
    if trial.number == 2:
        trial.report(0, 9.0)
        raise TrialPruned()
    if trial.number == 3:
        return math.nan
    if trial.number == 4:
        return "0.5"  # type: ignore[return-value]
    if trial.number == 5:
        return Fraction(1, 2)  # type: ignore[return-value]  # any real number will do
    return float(trial.number)


def forever(trial: Trial) -> float:
    """Trains until told to stop: `report` answers True once an interrupted optimize wants it to end."""
    for step in range(3000):
        time.sleep(0.2)
        if trial.report(step, 1.0):
            raise TrialPruned()
    return 0.0


if __name__ == "__main__":
    # python -m tests.client.support.objectives URL STUDY WORKERS threads|processes: optimize `forever`.
    url, name, workers, mode = sys.argv[1:5]
    study = Client(url).study(name)
    print("optimizing", flush=True)
    study.optimize(forever, 10, int(workers), processes=mode == "processes")
