"""Noisy neighbour, on PostgreSQL: 8 client processes loop Bayesian asks on a study with 500
completed trials while a random study's ask and tell latency is measured, unloaded then loaded.

The latencies and their ratio are figures (printed, never asserted: they depend on the machine).
What is asserted is that every answer was a correct one: Bayesian asks get 201, or 503 with
Retry-After as problem+json when the worker's model fits are all busy, never a 500; the random
study's asks and tells all succeed; and the database holds every acknowledged result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from suggest_api.storage.database import make_engine
from suggest_api.storage.models import StudyRow, TrialRow
from tests.reliability.support import POOL_ENV, Figures, gaps, server_failures, stored
from tests.support.servers import StartServer
from workloads import noisy_neighbour

CLIENTS = 8
IMPORTED = 500
UNLOADED_S = 3.0
LOADED_S = 6.0


def completed(database_url: str, study: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(
                select(func.count()).select_from(TrialRow).join(StudyRow, TrialRow.study_id == StudyRow.id)
                .where(StudyRow.name == study, TrialRow.state == "completed")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_busy_bayesian_study_answers_correctly_beside_a_random_one(
        serve: StartServer, scratch_postgres: Callable[[str], str], tmp_path: Path, figures: Figures) -> None:
    database_url = scratch_postgres("noisy")
    server = serve(database_url, workers=2, env=POOL_ENV)

    result = noisy_neighbour.run(server.base_url, tmp_path, unloaded_s=UNLOADED_S, loaded_s=LOADED_S,
                                 clients=CLIENTS, imported=IMPORTED)
    for line in noisy_neighbour.report("PostgreSQL", result, CLIENTS):
        print(line)

    bayes = result.bayesian
    random_pairs = result.unloaded.pairs + result.loaded.pairs
    random_rows = stored(database_url, noisy_neighbour.RANDOM_STUDY)
    random_completed = sum(row["state"] == "completed" for row in random_rows)
    bayes_completed = completed(database_url, noisy_neighbour.BAYESIAN_STUDY)
    bayes_told = bayes.tell.get("200", 0)
    errors = {f"bayesian ask {s}": n for s, n in bayes.ask.items() if s != "201"}
    errors |= {f"bayesian tell {s}": n for s, n in bayes.tell.items() if s != "200"}
    for window in (result.unloaded, result.loaded):
        for status, count in (window.ask_statuses + window.tell_statuses).items():
            if status not in (200, 201):
                errors[f"random {status}"] = errors.get(f"random {status}", 0) + count
    warm_up_pairs = random_completed - random_pairs  # measure()'s warm-up pairs are not in the windows
    figures.record("noisy neighbour postgres", requests=result.requests, errors=errors,
                   lost=max(0, IMPORTED + bayes_told - bayes_completed) + max(0, -warm_up_pairs),
                   duplicates=gaps(random_rows),
                   random_ask_p99_ratio=round(result.ratio("ask"), 2),
                   random_tell_p99_ratio=round(result.ratio("tell"), 2),
                   random_ask_ms={"unloaded p50": round(result.unloaded.p("ask", 50), 1),
                                  "unloaded p99": round(result.unloaded.p("ask", 99), 1),
                                  "loaded p50": round(result.loaded.p("ask", 50), 1),
                                  "loaded p99": round(result.loaded.p("ask", 99), 1)},
                   random_tell_ms={"unloaded p50": round(result.unloaded.p("tell", 50), 1),
                                   "unloaded p99": round(result.unloaded.p("tell", 99), 1),
                                   "loaded p50": round(result.loaded.p("tell", 50), 1),
                                   "loaded p99": round(result.loaded.p("tell", 99), 1)},
                   bayesian_asks=dict(bayes.ask), bayesian_tells=dict(bayes.tell),
                   server_failures=len(server_failures(server.log_text)))

    assert set(bayes.ask) <= {"201", "503"}, (dict(bayes.ask), bayes.problems)
    assert bayes.ask.get("201", 0) > 0, "no Bayesian ask was answered: the load never ran"
    assert bayes.no_retry_after == 0 and bayes.not_problem == 0, bayes.problems
    assert set(bayes.tell) <= {"200"}, (dict(bayes.tell), bayes.problems)
    for window in (result.unloaded, result.loaded):
        assert set(window.ask_statuses) == {201}, window.ask_statuses
        assert set(window.tell_statuses) == {200}, window.tell_statuses
        assert window.pairs > 0
    assert bayes_completed == IMPORTED + bayes_told
    assert [row["number"] for row in random_rows] == list(range(len(random_rows)))
    assert random_completed == len(random_rows) and warm_up_pairs >= 0
    assert server_failures(server.log_text) == []
