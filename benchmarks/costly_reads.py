"""The costliest reads of one big study, through the service's own request path, beside Optuna's RDB storage.

    .venv/bin/python -m benchmarks.costly_reads [--trials 10000] [--reports 10] [--repeats 7] [--quick]
                                                [--postgres-url URL | --no-postgres]

For each backend (a SQLite file; a scratch PostgreSQL database) a study gets `--trials` finished trials (one in
a hundred failed, the others completed), each with `--reports` intermediate values and a small metadata
object, and the same trials go into an Optuna study on the same backend (Optuna's RDB storage, one bulk
transaction through its models). Then each read runs once untimed and `--repeats` times timed, in this process:
ours through the whole request (routing, the read transaction, marshmallow, JSON) of an app on the Flask test
client, Optuna's through its storage API. The table gives the median and the worst milliseconds, the answer's
size, and for reads with a peer the ratio of our median to Optuna's (below 1: we are faster). "all trials" pages
through every trial (1,000 a page, one request each) against Optuna's `get_all_trials`; the reads without a
peer have none in Optuna (it keeps no counts, audit trail or cursors). A read whose median passes 500 ms a
request is listed under FAILED (exit status 1).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import flask
from sqlalchemy import insert, select

from benchmarks.harness import SPACE, BenchmarkRun, add_postgres_arguments, log, ms, run_benchmark, table
from benchmarks.throughput import optuna_completed_trial, random_params
from suggest_api.app import create_app
from suggest_api.config import Settings
from suggest_api.paging import encode_cursor
from suggest_api.storage.database import make_engine
from suggest_api.storage.migrate import upgrade
from suggest_api.storage.rows import REPORTS, STUDIES, TRIALS

STUDY = "big"
PAGE = 1000  # the largest page a listing answers
READ_TARGET_MS = 500.0  # any read above this on this machine is worth a fix


@dataclass
class Read:
    name: str
    ours: Callable[[], int]  # returns the answer's size in bytes
    peer: Callable[[], object] | None = None
    requests: int = 1  # the time budget is per request


@dataclass
class Row:
    backend: str
    read: str
    median_ms: float
    worst_ms: float
    size: int
    peer_ms: float = float("nan")


def timed(action: Callable[[], object], repeats: int) -> list[float]:
    action()  # warm: caches, the parsed space, the pool
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        seconds.append((time.perf_counter() - started) * 1000)
    return seconds


def record(sizes: list[int], read: Callable[[], int]) -> None:
    sizes.append(read())


def failed(number: int) -> bool:
    """One trial in a hundred failed: a state that is rare, as in a healthy study."""
    return number % 100 == 0


def metadata(number: int) -> dict[str, Any]:
    return {"host": f"node-{number % 16:02d}", "run": number, "git": "3f9c2ab", "tags": ["sweep", "v2"]}


# --- our side --------------------------------------------------------------------------------------

def fill_ours(app: flask.Flask, trials: int, reports: int, rng: random.Random) -> None:
    """The study through the API (create, then imports of 1,000), its reports in one insert: a report is one
    request each, and 100,000 of them would make the set-up the benchmark."""
    client = app.test_client()
    created = client.post("/v1/studies", json={"name": STUDY, "space": SPACE, "objective": {"goal": "minimize"}})
    assert created.status_code == 201, created.json
    for start in range(0, trials, PAGE):
        items = [{"params": random_params(rng), "metadata": metadata(n),
                  **({"state": "failed"} if failed(n) else {"value": rng.random()})}
                 for n in range(start, min(trials, start + PAGE))]
        answer = client.post(f"/v1/studies/{STUDY}/trials", json={"trials": items})
        assert answer.status_code == 201, answer.json
    sessions = app.extensions["suggest_api"].sessions
    with sessions.begin() as session:
        study_id = session.execute(select(STUDIES.c.id).where(STUDIES.c.name == STUDY)).scalar_one()
        ids = session.execute(select(TRIALS.c.id).where(TRIALS.c.study_id == study_id)).scalars().all()
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = [{"trial_id": trial_id, "study_id": study_id, "step": step, "value": value, "best": value,
                 "created_at": now}
                for trial_id in ids for step, value in ((step, rng.random()) for step in range(reports))]
        if rows:
            session.execute(insert(REPORTS), rows)


def analyze(engine: Any) -> None:
    """PostgreSQL: table statistics, as autovacuum gathers them within a minute of the fill (without them the
    planner guesses, and a guess is not what a study that has been around gets)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


def get(client: Any, path: str) -> int:
    response = client.get(path)
    if response.status_code != 200:
        raise AssertionError(f"GET {path}: {response.status_code} {response.get_data(as_text=True)[:200]}")
    return len(response.data)


def all_pages(client: Any) -> int:
    size, cursor = 0, None
    while True:
        response = client.get(f"/v1/studies/{STUDY}/trials", query_string={"limit": PAGE, "cursor": cursor})
        size += len(response.data)
        cursor = response.json["next_cursor"]
        if cursor is None:
            return size


# --- Optuna's side ---------------------------------------------------------------------------------

@dataclass
class Peer:
    """Optuna's RDB storage itself: a `Study` wraps it in a cache of finished trials, which would answer
    from memory, not from the database."""

    storage: Any
    study_id: int


def fill_optuna(url: str, trials: int, reports: int, rng: random.Random) -> Peer:
    """The same trials (params, value, reports as intermediate values, metadata as user attributes), in one
    transaction through Optuna's models (its `add_trials` commits each trial, ~20 ms apiece)."""
    import optuna
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name=STUDY, storage=storage)
    session = storage.scoped_session()
    try:
        for number in range(trials):
            frozen = optuna_completed_trial(rng)
            state = optuna.trial.TrialState.FAIL if failed(number) else optuna.trial.TrialState.COMPLETE
            row = models.TrialModel(study_id=study._study_id, number=number, state=state,
                                    datetime_start=frozen.datetime_start, datetime_complete=frozen.datetime_complete)
            row.params = [models.TrialParamModel(param_name=name,
                                                 param_value=frozen.distributions[name].to_internal_repr(value),
                                                 distribution_json=distribution_to_json(frozen.distributions[name]))
                          for name, value in frozen.params.items()]
            row.values = [] if failed(number) else [models.TrialValueModel(
                objective=0, value=frozen.value, value_type=models.TrialValueModel.TrialValueType.FINITE)]
            finite = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
            row.intermediate_values = [models.TrialIntermediateValueModel(step=step, intermediate_value=rng.random(),
                                                                          intermediate_value_type=finite)
                                       for step in range(reports)]
            row.user_attributes = [models.TrialUserAttributeModel(key=key, value_json=json.dumps(value))
                                   for key, value in metadata(number).items()]
            session.add(row)
        session.commit()
    finally:
        session.close()
    return Peer(storage, study._study_id)



# --- the run ---------------------------------------------------------------------------------------

class CostlyReads(BenchmarkRun):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.trials: int = 2000 if args.quick and args.trials is None else args.trials or 10_000
        self.reports: int = args.reports
        self.repeats: int = 3 if args.quick and args.repeats is None else args.repeats or 7
        self.rows: list[Row] = []

    def run(self) -> None:
        backends = [("sqlite", f"sqlite:///{self.workdir / 'ours.db'}", f"sqlite:///{self.workdir / 'optuna.db'}")]
        if self.postgres is not None:
            backends.append(("postgres", self.postgres.create("ours"), self.postgres.create("optuna")))
        for backend, ours_url, optuna_url in backends:
            self.section(backend, functools.partial(self.measure, backend, ours_url, optuna_url))

    def measure(self, backend: str, ours_url: str, optuna_url: str) -> None:
        engine = make_engine(ours_url)
        upgrade(engine)
        engine.dispose()
        app = create_app(Settings(database_url=ours_url, log_level="WARNING"))
        try:
            started = time.perf_counter()
            fill_ours(app, self.trials, self.reports, random.Random(1))
            log(f"{backend}: ours filled with {self.trials:,} trials in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            peer = fill_optuna(optuna_url, self.trials, self.reports, random.Random(1))
            log(f"{backend}: Optuna filled in {time.perf_counter() - started:.1f} s")
            self.cleanup.callback(peer.storage.engine.dispose)
            for engine in (app.extensions["suggest_api"].engine, peer.storage.engine):
                analyze(engine)
            for read in self.reads(app.test_client(), peer):
                log(f"{backend}: {read.name}")
                sizes: list[int] = []
                ours = timed(functools.partial(record, sizes, read.ours), self.repeats)
                row = Row(backend, read.name, statistics.median(ours), max(ours), sizes[-1])
                if read.peer is not None:
                    row.peer_ms = statistics.median(timed(read.peer, self.repeats))
                self.rows.append(row)
                if row.median_ms / read.requests > READ_TARGET_MS:
                    self.failed(f"{backend} {read.name}: median {row.median_ms / read.requests:.0f} ms a request, "
                                f"above {READ_TARGET_MS:.0f} ms")
        finally:
            app.extensions["suggest_api"].engine.dispose()

    def reads(self, client: Any, peer: Peer) -> list[Read]:
        trials = f"/v1/studies/{STUDY}/trials"
        deep = encode_cursor(self.trials - PAGE - 1)
        middle = self.trials // 2
        storage, study_id = peer.storage, peer.study_id
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, middle)
        return [
            Read("trials, first page (1,000)", lambda: get(client, f"{trials}?limit={PAGE}")),
            Read("trials, last page by cursor", lambda: get(client, f"{trials}?limit={PAGE}&cursor={deep}")),
            Read("trials, completed, last page", lambda: get(client, f"{trials}?state=completed&limit={PAGE}"
                                                                     f"&cursor={deep}")),
            Read("trials, running (none of them)", lambda: get(client, f"{trials}?state=running&limit={PAGE}")),
            Read("trials, failed (1 in 100), last page", lambda: get(client, f"{trials}?state=failed&limit={PAGE}"
                                                                             f"&cursor={deep}")),
            Read("all trials, page by page", lambda: all_pages(client),
                 lambda: storage.get_all_trials(study_id, deepcopy=False), requests=-(-self.trials // PAGE)),
            Read("one trial", lambda: get(client, f"{trials}/{middle}"),
                 lambda: storage.get_trial(trial_id)),
            Read("study summary (counts, best)", lambda: get(client, f"/v1/studies/{STUDY}")),
            Read("studies page", lambda: get(client, f"/v1/studies?limit={PAGE}")),
            Read("best trial", lambda: get(client, f"/v1/studies/{STUDY}/best"),
                 lambda: storage.get_best_trial(study_id)),
            Read("study audit, first page", lambda: get(client, f"/v1/studies/{STUDY}/audit?limit={PAGE}")),
            Read("study audit, last page", lambda: get(client, f"/v1/studies/{STUDY}/audit?limit={PAGE}"
                                                              f"&cursor={deep}")),
            Read("team audit", lambda: get(client, f"/v1/audit?limit={PAGE}")),
        ]

    def report(self) -> str:
        rows = [[row.backend, row.read, ms(row.median_ms), ms(row.worst_ms), f"{row.size:,}", ms(row.peer_ms),
                 "-" if row.peer_ms != row.peer_ms else f"{row.median_ms / row.peer_ms:.2f}x"] for row in self.rows]
        lines = [f"costly reads: {self.trials:,} finished trials (1% failed), {self.reports} reports each, small "
                 f"metadata; median of {self.repeats} (after one untimed), PostgreSQL {self.postgres_note}",
                 *table(["backend", "read", "median ms", "worst ms", "bytes", "Optuna ms", "ours/Optuna"], rows,
                        left=2)]
        if self.failures:
            lines += ["FAILED", *(f"  {failure}" for failure in self.failures)]
        return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.costly_reads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, help="completed trials in the study (default 10,000; --quick 2,000)")
    parser.add_argument("--reports", type=int, default=10, help="intermediate values per trial (default 10)")
    parser.add_argument("--repeats", type=int, help="timed runs of each read (default 7; --quick 3)")
    parser.add_argument("--quick", action="store_true", help="2,000 trials, 3 repeats")
    add_postgres_arguments(parser)
    args = parser.parse_args(argv)
    args.duration = None  # BenchmarkRun's; this benchmark counts repeats, not seconds
    if args.trials is not None and not PAGE < args.trials <= 1_000_000:
        parser.error(f"--trials must be between {PAGE + 1} and 1,000,000")
    return args


def main() -> int:
    return run_benchmark(CostlyReads, parse_args())


if __name__ == "__main__":
    sys.exit(main())
