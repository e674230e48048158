"""Part (c) of benchmarks.integrations: the problems an unchanged Optuna program minimizes, and one seed's run
of it with ServiceSampler or with one of Optuna's samplers.

The run loop, the servers and the report are integrations.py's; this holds what one optimization is, so each
file stays readable on its own.
"""

from __future__ import annotations

import functools
import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.harness import BenchmarkError, log
from benchmarks.quality import optuna_sampler, suggest_in_optuna
from workloads.problems import PROBLEMS, Params, Problem

#: Our samplers (ServiceSampler, and the service suggester it creates its study with) and Optuna's, by the
#: names the report gives them; Optuna's come from benchmarks.quality.optuna_sampler.
OUR_SAMPLERS = {"ServiceSampler(bayesian)": "bayesian", "ServiceSampler(random)": "random"}
OPTUNA_SAMPLERS = {"TPESampler": "optuna-tpe", "GPSampler": "optuna-gp", "RandomSampler": "optuna-random"}
OPTUNA_BACKEND = "in-memory"  # Optuna's samplers run on Optuna's InMemoryStorage (create_study's default)
#: What ServiceSampler logs when a param is sampled at random instead of by the service.
INDEPENDENT = "is sampled independently"


def seconds(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


@dataclass
class SamplerRow:
    """(c) one problem, sampler and backend: the final simple regret of each seed's run, and its cost."""

    problem: str
    sampler: str
    backend: str  # ours: the server's database; Optuna's samplers: OPTUNA_BACKEND
    trials: int
    regrets: list[float]
    ms_per_trial: float  # mean wall time of study.optimize per trial over the runs
    discovery: float | None = None  # ours: median trials sampled before the service study existed
    independent: int = 0  # ours: params sampled at random instead of by the service, over all runs

    @property
    def median(self) -> float:
        return statistics.median(self.regrets)

    @property
    def quartiles(self) -> tuple[float, float]:
        q1, q3 = np.percentile(self.regrets, [25, 75])
        return float(q1), float(q3)


# --- the problems ----------------------------------------------------------------------------------------

#: Penalties of each choice; 0 for the best one, so the minimum of `discrete` is 0 by construction.
_ACTIVATION = {"relu": 0.1, "tanh": 0.4, "gelu": 0.0, "silu": 0.05}
_NORM = {"batch": 0.1, "layer": 0.0, "none": 0.3}
_SCHEDULE = {"constant": 0.3, "cosine": 0.0, "step": 0.1, "linear": 0.05}


def discrete(p: Params) -> float:
    """Ints and categoricals only, as a network's shape and recipe are: minimum 0 at 6 layers, width 256, batch
    128, gelu, layer norm, cosine schedule. Without normalization, depth beyond 6 costs more."""
    layers, width, batch = int(p["layers"]), int(p["width"]), int(p["batch_size"])
    value = 0.05 * (layers - 6) ** 2 + 0.2 * (math.log2(width) - 8) ** 2 + ((batch - 128) / 128) ** 2
    value += _ACTIVATION[str(p["activation"])] + _NORM[str(p["norm"])] + _SCHEDULE[str(p["schedule"])]
    if p["norm"] == "none" and layers > 6:
        value += 0.1 * (layers - 6)
    return value


DISCRETE = Problem("discrete", {"params": [
    {"name": "layers", "type": "int", "low": 1, "high": 12},
    {"name": "width", "type": "int", "low": 16, "high": 1024, "log": True},
    {"name": "batch_size", "type": "int", "low": 16, "high": 512, "step": 16},
    {"name": "activation", "type": "categorical", "choices": list(_ACTIVATION)},
    {"name": "norm", "type": "categorical", "choices": list(_NORM)},
    {"name": "schedule", "type": "categorical", "choices": list(_SCHEDULE)},
]}, discrete, 0.0)
#: (c)'s problems: smooth and continuous, conditional and mixed (shaped like a training run), discrete.
SAMPLER_PROBLEMS: dict[str, Problem] = {"branin": PROBLEMS["branin"], "mixed": PROBLEMS["mixed"],
                                        "discrete": DISCRETE}


def optuna_objective(problem: Problem) -> Callable[[Any], float]:
    """The Optuna program's objective, the same for every sampler: trial.suggest_* calls for the problem's params
    (a conditional one, such as mixed's momentum, only when its branch is taken), then the problem's function."""

    def objective(trial: Any) -> float:
        return float(problem.objective(suggest_in_optuna(trial, problem.space)))

    return objective


def optimize(sampler: Any, problem: Problem, trials: int) -> tuple[list[float], float]:
    """`trials` trials of an in-memory Optuna study with `sampler`: every trial's value, and the seconds taken."""
    import optuna

    study = optuna.create_study(direction="minimize", sampler=sampler)
    elapsed, _ = seconds(functools.partial(study.optimize, optuna_objective(problem), n_trials=trials))
    values = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    if len(values) != trials:
        raise BenchmarkError(f"{len(values)} of {trials} Optuna trials completed")
    return values, elapsed


class IndependentCount(logging.Handler):
    """Counts ServiceSampler's warnings that a param was sampled at random instead of by the service: such a run
    measures Optuna's RandomSampler, not ours."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if INDEPENDENT in message:
            self.count += 1
            self.first = self.first or message


@dataclass
class SamplerRun:
    """One seed's optimization: its values, its wall time, and (ours) how it went on the service."""

    values: list[float]
    seconds: float
    discovery: int | None = None
    independent: int = 0


def one_torch_thread() -> None:
    """GPSampler's torch on one thread, as in benchmarks.quality: faster here than two for models this small
    (40 trials of mixed: 16 s against 24 s on 2 cores), so Optuna's figure is its better one."""
    try:
        import torch
    except ImportError:  # GPSampler's runs fail and are listed; the others go on
        return
    torch.set_num_threads(1)


def run_optuna_sampler(sampler: str, problem: str, trials: int, seed: int) -> SamplerRun:
    """One of Optuna's samplers (by its OPTUNA_SAMPLERS name) on one of SAMPLER_PROBLEMS."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GPSampler's ExperimentalWarning, where Optuna still gives one
        values, elapsed = optimize(optuna_sampler(OPTUNA_SAMPLERS[sampler], seed), SAMPLER_PROBLEMS[problem], trials)
    return SamplerRun(values, elapsed)


def run_service_sampler(base_url: str, suggester: str, problem: str, trials: int, seed: int) -> SamplerRun:
    """ServiceSampler on a service study of its own, then a check that the service holds every trial as Optuna
    ran it (a run whose tells were lost would otherwise look fine)."""
    from suggest_client.optuna import ServiceSampler

    study = f"sampler-{problem}-{suggester}-{seed}"
    sampler = ServiceSampler(study=study, url=base_url, suggester=suggester, seed=seed)
    counter = IndependentCount()
    logger = logging.getLogger("suggest_client")
    logger.addHandler(counter)
    try:
        values, elapsed = optimize(sampler, SAMPLER_PROBLEMS[problem], trials)
        service = sampler.service_study
        if service is None:
            raise BenchmarkError(f"{study}: ServiceSampler never created its service study")
        stored = service.trials()
        told = sorted(t.value for t in stored if t.state == "completed" and t.value is not None)
        if told != sorted(values) or len(stored) != trials:
            raise BenchmarkError(f"{study}: the service holds {len(stored)} trials ({len(told)} completed) for "
                                 f"{trials} Optuna trials, or other values")
        if service.info["suggester"]["name"] != suggester:
            raise BenchmarkError(f"{study}: the service study's suggester is {service.info['suggester']!r}")
        discovery = sum(1 for t in stored if (t.metadata or {}).get("define_by_run") == "discovery")
    finally:
        logger.removeHandler(counter)
        sampler.client.close()
    if counter.first is not None:
        log(f"{study}: {counter.count} params sampled independently, the first: {counter.first}")
    return SamplerRun(values, elapsed, discovery, counter.count)


def sampler_row(problem: str, sampler: str, backend: str, trials: int, runs: Sequence[SamplerRun]) -> SamplerRow:
    regrets = [SAMPLER_PROBLEMS[problem].regret(min(run.values)) for run in runs]
    per_trial_ms = 1000.0 * sum(run.seconds for run in runs) / (trials * len(runs))
    discovery = [run.discovery for run in runs if run.discovery is not None]
    return SamplerRow(problem, sampler, backend, trials, regrets, per_trial_ms,
                      statistics.median(discovery) if discovery else None, sum(run.independent for run in runs))


def ratio(ours: float, theirs: float) -> float:
    """ours / theirs; both 0 (both hit the optimum) is 1, and ours above a 0 of theirs is infinite."""
    if theirs > 0:
        return ours / theirs
    return 1.0 if ours == 0 else math.inf


def figure(regret: float) -> str:
    return "0" if regret == 0 else f"{regret:.3g}"


def times(value: float | None) -> str:
    """A ratio: '-' where there is none."""
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.3g}x"
