"""The model-based suggesters find good points, measured through the service's own code (create, ask and
tell in one transaction each, history read back from the database) on SQLite and on PostgreSQL.

Regret = best value found - the known optimum; each bound is far below what random search reaches with
the same budget.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

import pytest

from tests.support.databases import sessions_on
from workloads.problems import PROBLEMS
from workloads.study_loop import run_study

FORRESTER_MIN = -6.020740055767083
GENETIC_SEEDS = (0, 1, 2, 3)


def forrester(params: Mapping[str, Any]) -> float:
    """Forrester et al. (2008): one-dimensional, multimodal, minimum -6.0207 at x = 0.7572."""
    x = float(params["x"])
    return (6 * x - 2) ** 2 * math.sin(12 * x - 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bayesian_regret_on_a_one_dimensional_function(database_url: str, seed: int) -> None:
    """Within 20 trials (10 Sobol, 10 model-based), regret below 1e-3; random search needs ~1000 for that."""
    with sessions_on(database_url) as sessions:
        run = run_study(sessions, name="forrester", space={"params": [{"name": "x", "type": "float", "low": 0.0,
                                                                       "high": 1.0}]},
                        objective=forrester, suggester="bayesian", budget=20, seed=seed)
    assert min(run.values) - FORRESTER_MIN < 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bayesian_regret_on_branin(database_url: str, seed: int) -> None:
    """Within 35 trials, regret below 0.01 (random search typically sits near 0.5 there)."""
    problem = PROBLEMS["branin"]
    with sessions_on(database_url) as sessions:
        run = run_study(sessions, name="branin", space=problem.space, objective=problem.objective,
                        suggester="bayesian", budget=35, seed=seed)
    assert problem.regret(min(run.values)) < 0.01


def test_genetic_evolution_beats_its_initial_population_and_random_search(database_url: str) -> None:
    """100 trials of Hartmann-3 (4 fixed seeds)."""
    problem = PROBLEMS["hartmann3"]
    genetic_regret, random_regret = [], []
    with sessions_on(database_url) as sessions:
        for seed in GENETIC_SEEDS:
            run = run_study(sessions, name=f"ga-{seed}", space=problem.space, objective=problem.objective,
                            suggester="genetic", budget=100, seed=seed)
            baseline = run_study(sessions, name=f"random-{seed}", space=problem.space, objective=problem.objective,
                                 suggester="random", budget=100, seed=seed)
            initial = 10  # the default population_size
            assert min(run.values) < min(run.values[:initial]), seed
            genetic_regret.append(problem.regret(min(run.values)))
            random_regret.append(problem.regret(min(baseline.values)))
    assert statistics.mean(genetic_regret) < 0.5 * statistics.mean(random_regret), (genetic_regret, random_regret)
