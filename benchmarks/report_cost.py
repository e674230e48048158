"""What a report costs once a study is big: ours (the whole request) beside Optuna's report + should_prune.

    .venv/bin/python -m benchmarks.report_cost [--trials 1000] [--reports 100] [--probes 3] [--quick]
                                               [--postgres-url URL | --no-postgres]

For each backend (a SQLite file; a scratch PostgreSQL database) and each pruner (median; successive
halving), a study gets `--trials` finished trials with `--reports` intermediate values each (1% failed),
the same on our side and in an Optuna RDB study. Then `--probes` new trials each report every step
0..reports-1, timed one by one: ours as POST …/report through an app on the Flask test client (routing,
the trial's lock, the pruner's indexed peer reads, the writes, JSON), Optuna's as `trial.report` +
`trial.should_prune` on its storage. Optuna is timed twice: as a long-lived process sees it (its study
caches finished trials after the first read, "warm"), and as a new process does on its first report
("cold": every trial and intermediate value loaded), which is what each report costs us, stateless, every
time. The issue's target: our report in milliseconds at 1,000 trials × 100 reports (p95 under 20 ms here).
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import flask
import numpy as np
from sqlalchemy import insert, select

from benchmarks.costly_reads import analyze, failed, fill_optuna
from benchmarks.harness import SPACE, BenchmarkRun, add_postgres_arguments, log, ms, run_benchmark, table
from benchmarks.throughput import random_params
from suggest_api.app import create_app
from suggest_api.config import Settings
from suggest_api.storage.database import make_engine
from suggest_api.storage.migrate import upgrade
from suggest_api.storage.reports import RUNGS
from suggest_api.storage.rows import REPORTS, STUDIES, TRIALS

P95_TARGET_MS = 20.0
PRUNERS = {"median": {"name": "median", "options": {"min_trials": 5}},
           "successive_halving": {"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 3}}}


def curve(rng: random.Random, steps: int) -> list[float]:
    """A falling loss with noise: what a trainer reports (minimize)."""
    floor, rate = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.4)
    return [floor + np.exp(-rate * step) + rng.gauss(0, 0.01) for step in range(steps)]


def leading_curve(rng: random.Random, steps: int) -> list[float]:
    """A probe's curve: below every filled one, so no pruner stops it and every report is a real decision
    (a stopped trial's later reports only repeat the stored answer, which is cheaper)."""
    return [value - 0.06 for value in curve(rng, steps)]


def rung_steps(steps: int, factor: int = 3) -> list[int]:
    found, step = [], 1
    while step < steps:
        found.append(step)
        step *= factor
    return found


# --- our side --------------------------------------------------------------------------------------

def fill_ours(app: flask.Flask, name: str, pruner: dict[str, Any], trials: int, reports: int) -> None:
    """The study through the API (create, imports), its reports and rung entries in bulk inserts: 100,000
    report requests would make the set-up the benchmark."""
    rng = random.Random(1)
    client = app.test_client()
    created = client.post("/v1/studies", json={"name": name, "space": SPACE, "objective": {"goal": "minimize"},
                                               "suggester": {"name": "random"}, "pruner": pruner})
    assert created.status_code == 201, created.json
    curves = [curve(rng, reports) for _ in range(trials)]
    for start in range(0, trials, 1000):
        items = [{"params": random_params(rng), **({"state": "failed"} if failed(n) else {"value": curves[n][-1]})}
                 for n in range(start, min(trials, start + 1000))]
        answer = client.post(f"/v1/studies/{name}/trials", json={"trials": items})
        assert answer.status_code == 201, answer.json
    sessions = app.extensions["suggest_api"].sessions
    now = datetime.now(UTC).replace(tzinfo=None)
    with sessions.begin() as session:
        study_id = session.execute(select(STUDIES.c.id).where(STUDIES.c.name == name)).scalar_one()
        ids = session.execute(select(TRIALS.c.id).where(TRIALS.c.study_id == study_id)
                              .order_by(TRIALS.c.number)).scalars().all()
        rows, rungs = [], []
        for trial_id, values in zip(ids, curves, strict=True):
            best = float("inf")
            for step, value in enumerate(values):
                best = min(best, value)
                rows.append({"trial_id": trial_id, "study_id": study_id, "step": step, "value": value, "best": best,
                             "created_at": now})
            rungs += [{"trial_id": trial_id, "study_id": study_id, "rung": k, "value": values[step], "created_at": now}
                      for k, step in enumerate(rung_steps(reports))]
        session.execute(insert(REPORTS), rows)
        if pruner["name"] == "successive_halving":
            session.execute(insert(RUNGS), rungs)


def probe_ours(client: Any, name: str, reports: int, rng: random.Random) -> tuple[list[float], int]:
    """One new trial reporting every step until told to stop: each report's milliseconds, and the prunes."""
    asked = client.post(f"/v1/studies/{name}/ask", json={})
    assert asked.status_code == 201, asked.json
    number = asked.json["trials"][0]["number"]
    seconds, prunes = [], 0
    for step, value in enumerate(leading_curve(rng, reports)):
        started = time.perf_counter()
        answer = client.post(f"/v1/studies/{name}/trials/{number}/report", json={"step": step, "value": value})
        seconds.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.json
        prunes += answer.json["prune"]
    client.post(f"/v1/studies/{name}/tell", json={"number": number, "state": "pruned"})
    return seconds, prunes


# --- Optuna's side ---------------------------------------------------------------------------------

def optuna_pruner(kind: str) -> Any:
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5)
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)


def probe_optuna(url: str, kind: str, reports: int, rng: random.Random) -> tuple[list[float], float]:
    """A new trial of a freshly loaded study: each report + should_prune in ms (warm), and the first one (cold)."""
    import optuna

    study = optuna.load_study(study_name="big", storage=url, pruner=optuna_pruner(kind))
    trial = study.ask()
    seconds = []
    for step, value in enumerate(leading_curve(rng, reports)):
        started = time.perf_counter()
        trial.report(value, step)
        trial.should_prune()
        seconds.append((time.perf_counter() - started) * 1000)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return seconds[1:], seconds[0]


# --- the run ---------------------------------------------------------------------------------------

@dataclass
class Row:
    backend: str
    pruner: str
    p50: float
    p95: float
    worst: float
    prunes: int
    peer_p50: float
    peer_p95: float
    peer_cold: float


class ReportCost(BenchmarkRun):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.trials: int = args.trials or (300 if args.quick else 1000)
        self.reports: int = args.reports or (30 if args.quick else 100)
        self.probes: int = args.probes
        self.rows: list[Row] = []

    def run(self) -> None:
        backends: list[tuple[str, Callable[[str], str]]] = [
            ("sqlite", lambda purpose: f"sqlite:///{self.workdir / purpose}.db")]
        if self.postgres is not None:
            backends.append(("postgres", self.postgres.create))
        for backend, make_url in backends:
            for kind in PRUNERS:
                self.section(f"{backend} {kind}", functools.partial(
                    self.measure, backend, kind, make_url(f"ours_{kind}"), make_url(f"optuna_{kind}")))

    def measure(self, backend: str, kind: str, ours_url: str, optuna_url: str) -> None:
        engine = make_engine(ours_url)
        upgrade(engine)
        engine.dispose()
        app = create_app(Settings(database_url=ours_url, log_level="WARNING"))
        try:
            started = time.perf_counter()
            fill_ours(app, "big", PRUNERS[kind], self.trials, self.reports)
            log(f"{backend} {kind}: ours filled in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            peer = fill_optuna(optuna_url, self.trials, self.reports, random.Random(1))
            peer.storage.engine.dispose()
            log(f"{backend} {kind}: Optuna filled in {time.perf_counter() - started:.1f} s")
            analyze(app.extensions["suggest_api"].engine)
            client = app.test_client()
            ours, theirs, colds, prunes = [], [], [], 0
            for probe in range(self.probes):
                seconds, pruned = probe_ours(client, "big", self.reports, random.Random(100 + probe))
                ours += seconds
                prunes += pruned
                warm, cold = probe_optuna(optuna_url, kind, self.reports, random.Random(100 + probe))
                theirs += warm
                colds.append(cold)
            self.rows.append(Row(backend, kind, statistics.median(ours), float(np.percentile(ours, 95)), max(ours),
                                 prunes, statistics.median(theirs), float(np.percentile(theirs, 95)),
                                 statistics.median(colds)))
            if np.percentile(ours, 95) > P95_TARGET_MS:
                self.failed(f"{backend} {kind}: report p95 {np.percentile(ours, 95):.1f} ms, above {P95_TARGET_MS} ms")
        finally:
            app.extensions["suggest_api"].engine.dispose()

    def report(self) -> str:
        rows = [[r.backend, r.pruner, ms(r.p50), ms(r.p95), ms(r.worst), str(r.prunes), ms(r.peer_p50), ms(r.peer_p95),
                 ms(r.peer_cold), f"{r.p50 / r.peer_p50:.2f}x", f"{r.p50 / r.peer_cold:.3f}x"] for r in self.rows]
        lines = [f"report cost: {self.trials:,} finished trials x {self.reports} reports; {self.probes} new trials "
                 f"reporting every step; PostgreSQL {self.postgres_note}",
                 *table(["backend", "pruner", "p50 ms", "p95 ms", "worst", "prunes", "Optuna warm p50",
                         "warm p95", "Optuna cold", "ours/warm", "ours/cold"], rows, left=2)]
        if self.failures:
            lines += ["FAILED", *(f"  {failure}" for failure in self.failures)]
        return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, help="finished trials in the study (default 1,000; --quick 300)")
    parser.add_argument("--reports", type=int, help="intermediate values per trial (default 100; --quick 30)")
    parser.add_argument("--probes", type=int, default=3, help="new trials timed, each reporting every step")
    parser.add_argument("--quick", action="store_true", help="300 trials x 30 reports")
    add_postgres_arguments(parser)
    args = parser.parse_args(argv)
    args.duration = None
    return args


def main() -> int:
    return run_benchmark(ReportCost, parse_args())


if __name__ == "__main__":
    sys.exit(main())
