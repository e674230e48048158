"""Throughput and latency of suggest_api over HTTP, with Optuna's RDB storage as the baseline.

    .venv/bin/python -m benchmarks.throughput [--quick] [--duration S] [--postgres-url URL] [--no-postgres]

Every figure comes from this one run on this machine:

1. ask+tell pairs per second and ask / tell latency of a real `suggest-api serve` process, for
   {SQLite file, PostgreSQL} x {1, 4} gunicorn workers x {1, 8} client processes;
2. Optuna's RDB storage on the same PostgreSQL, 8 client processes, loading the study once, and
   reloading it for every ask from a study that holds 1,000 trials; with suggest_api's PostgreSQL
   8-client rate divided by each (target: at least 5x);
3. ask latency on a study with 0 trials and on one with 10,000 (target: at most 1.2x);
4. CPU time per ask+tell pair of the server, the PostgreSQL backends and the clients, and how busy the
   machine's cores were (by this run and by everything else) during each timed window of 1. and 2.

Servers, client processes, the temporary SQLite file and the scratch PostgreSQL databases are
removed on exit, on Ctrl-C and on SIGTERM. Progress goes to stderr, the report to stdout.
See docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import platform
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from benchmarks.harness import (
    DEFAULT_POSTGRES_URL,
    SERVER_THREADS,
    SUGGEST_WARMUP_PAIRS,
    BenchmarkError,
    BenchmarkRun,
    Measured,
    Postgres,
    Server,
    ask_one,
    create_study,
    log,
    ms,
    run_benchmark,
    suggest_pair,
    table,
    tell_one,
)
from benchmarks.machine import cpu_model, load_average, usable_cores, version
from workloads.percentiles import percentile

OPTIMIZERS = ("sgd", "adam", "rmsprop")  # the choices of harness.SPACE's `optimizer`

RATE_TARGET = 5.0  # suggest_api PostgreSQL 8-client pairs/s over Optuna's, at least
GROWTH_TARGET = 1.2  # ask latency at 10,000 trials over at 0 trials, at most
BIG_STUDY_TRIALS = 10_000
IMPORT_BATCH = 1_000  # the service's per-request import limit (SUGGEST_MAX_IMPORT)
OPTUNA_PREFILL = 1_000
CLIENTS = (1, 8)
WORKERS = (1, 4)
OPTUNA_CLIENTS = 8

OPTUNA_WARMUP_PAIRS = 1  # untimed pairs each Optuna client makes before the clock starts
LATENCY_WARMUP_ASKS = 5
MAX_LATENCY_ROUNDS = 100_000
IMPORT_TIMEOUT_S = 120.0


def _optuna_suggest(trial: Any) -> None:
    """The same space as harness.SPACE, through Optuna's define-by-run API."""
    trial.suggest_float("lr", 1e-5, 0.1, log=True)
    trial.suggest_int("batch_size", 16, 256, step=16)
    if trial.suggest_categorical("optimizer", list(OPTIMIZERS)) == "sgd":
        trial.suggest_float("momentum", 0.0, 0.99)


def optuna_pair(config: dict[str, Any], seed: int) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """Optuna ask/tell on config's `storage_url` and `study`: the study loaded once, or (`reload`) per ask."""
    import optuna

    storage_url, study_name, reload = config["storage_url"], config["study"], bool(config["reload"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(seed)
    if not reload:
        study = optuna.load_study(study_name=study_name, storage=storage_url,
                                  sampler=optuna.samplers.RandomSampler(seed=seed))

        def ask() -> Any:
            trial = study.ask()
            _optuna_suggest(trial)
            return trial

        def tell(trial: Any) -> None:
            study.tell(trial, rng.random())

        return ask, tell

    # A stateless service built on Optuna: keep the connection pool (one RDBStorage per process), but
    # load the study again for every ask, as a request handler without per-study state would.
    storage = optuna.storages.RDBStorage(storage_url)

    def reload_ask() -> Any:
        loaded = optuna.load_study(study_name=study_name, storage=storage,
                                   sampler=optuna.samplers.RandomSampler(seed=rng.randrange(2**31)))
        trial = loaded.ask()
        _optuna_suggest(trial)
        return loaded, trial

    def reload_tell(handle: Any) -> None:
        loaded, trial = handle
        loaded.tell(trial.number, rng.random())

    return reload_ask, reload_tell


def optuna_completed_trial(rng: random.Random) -> Any:
    """A completed Optuna trial at random params of the space, for the fill."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    params = random_params(rng)
    distributions: dict[str, Any] = {
        "lr": FloatDistribution(1e-5, 0.1, log=True),
        "batch_size": IntDistribution(16, 256, step=16),
        "optimizer": CategoricalDistribution(list(OPTIMIZERS)),
    }
    if "momentum" in params:
        distributions["momentum"] = FloatDistribution(0.0, 0.99)
    return optuna.trial.create_trial(params=params, distributions=distributions, value=rng.random())


def optuna_fill(storage_url: str, study_name: str, count: int, rng: random.Random) -> str:
    """`count` completed trials in one transaction; returns how. Optuna's own `add_trials` commits each
    trial separately (about 20 ms a trial here), which would spend most of a quick run on setup."""
    import optuna

    storage = optuna.storages.RDBStorage(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
        trials = [optuna_completed_trial(rng) for _ in range(count)]
        try:
            _optuna_bulk_insert(storage, study._study_id, trials)
            how = "one bulk transaction through Optuna's SQLAlchemy models"
        except Exception as exc:  # Optuna's private models changed: take the slow, public path
            log(f"  bulk fill through Optuna's models failed ({type(exc).__name__}: {exc}); using add_trials")
            study.add_trials(trials)
            how = "study.add_trials"
        found = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
        if found != count:
            raise BenchmarkError(f"the Optuna study holds {found} completed trials after the fill, not {count}")
        return how
    finally:
        storage.engine.dispose()


def _optuna_bulk_insert(storage: Any, study_id: int, trials: Sequence[Any]) -> None:
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    session = storage.scoped_session()
    try:
        for number, frozen in enumerate(trials):
            row = models.TrialModel(study_id=study_id, number=number, state=TrialState.COMPLETE,
                                    datetime_start=frozen.datetime_start,
                                    datetime_complete=frozen.datetime_complete)
            row.params = [models.TrialParamModel(param_name=name, param_value=frozen.distributions[name]
                                                 .to_internal_repr(value),
                                                 distribution_json=distribution_to_json(frozen.distributions[name]))
                          for name, value in frozen.params.items()]
            row.values = [models.TrialValueModel(objective=0, value=frozen.value,
                                                 value_type=models.TrialValueModel.TrialValueType.FINITE)]
            session.add(row)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def random_params(rng: random.Random) -> dict[str, Any]:
    """Params drawn at random from harness.SPACE (momentum only with sgd), for imports and fills."""
    params: dict[str, Any] = {"lr": 10 ** rng.uniform(-5, -1), "batch_size": 16 * rng.randint(1, 16),
                              "optimizer": rng.choice(OPTIMIZERS)}
    if params["optimizer"] == "sgd":
        params["momentum"] = rng.uniform(0.0, 0.99)
    return params



def import_trials(session: requests.Session, base_url: str, name: str, total: int, rng: random.Random) -> float:
    """Completed trials through POST /trials in batches of IMPORT_BATCH; returns the seconds it took."""
    started = time.perf_counter()
    for offset in range(0, total, IMPORT_BATCH):
        batch: list[dict[str, Any]] = [{"params": random_params(rng), "value": rng.random()}
                                       for _ in range(min(IMPORT_BATCH, total - offset))]
        response = session.post(f"{base_url}/v1/studies/{name}/trials", json={"trials": batch},
                                timeout=IMPORT_TIMEOUT_S)
        if response.status_code != 201:
            raise BenchmarkError(f"import into {name} answered {response.status_code}: {response.text[:300]}")
    return time.perf_counter() - started


@dataclass
class PairRow:
    """Part 1: one backend x workers x clients measurement."""

    backend: str
    workers: int
    clients: int
    measured: Measured


@dataclass
class OptunaRow:
    """Part 2: one Optuna variant."""

    label: str
    clients: int
    measured: Measured


@dataclass
class GrowthRow:
    """Part 3: ask latencies (ms) at 0 and at BIG_STUDY_TRIALS trials, and the import's seconds."""

    backend: str
    small: list[float]
    big: list[float]
    fill_s: float


@dataclass
class Results:
    """Every measurement of the run, by part (the failures are the BenchmarkRun's)."""

    pairs: list[PairRow] = field(default_factory=list)
    optuna: list[OptunaRow] = field(default_factory=list)
    growth: list[GrowthRow] = field(default_factory=list)


class Throughput(BenchmarkRun):
    """The four parts of this benchmark (see the module docstring) and their report."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.results = Results()

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> None:
        backends: list[tuple[str, Callable[[], str]]] = [
            ("sqlite", lambda: f"sqlite:///{self.workdir / 'suggest.db'}")]
        if self.postgres is not None:
            postgres = self.postgres
            backends.append(("postgres", lambda: postgres.create("suggest")))
        for backend, make_url in backends:
            try:
                database_url = make_url()
            except Exception as exc:
                self.failed(f"{backend}: could not create the database: {exc}")
                continue
            for workers in WORKERS:
                self._with_server(backend, database_url, workers)
        if self.postgres is not None:
            self._optuna(self.postgres)

    def _with_server(self, backend: str, database_url: str, workers: int) -> None:
        server = Server(database_url, workers, self.workdir / f"server-{backend}-{workers}.log", self.workdir)
        self.cleanup.callback(server.stop)
        try:
            log(f"starting suggest-api serve: {backend}, {workers} worker(s) x {SERVER_THREADS} threads")
            server.start()
        except BenchmarkError as exc:
            self.failed(f"{backend}, {workers} workers: {exc}")
            return
        try:
            with requests.Session() as session:
                for clients in CLIENTS:
                    study = f"pairs-{backend}-w{workers}-c{clients}"
                    self.section(f"{backend} w={workers} c={clients}", functools.partial(
                        self._pairs, session, server, backend, database_url, workers, clients, study))
                if workers == WORKERS[0]:
                    self.section(f"{backend} ask latency vs size",
                                 lambda: self._growth(session, server, backend))
        finally:
            server.stop()
            if server.log_tail(200).count("Traceback"):
                log(f"the {backend} server logged tracebacks; see the log tail:\n{server.log_tail()}")

    def _pairs(self, session: requests.Session, server: Server, backend: str, database_url: str, workers: int,
               clients: int, study: str) -> None:
        create_study(session, server.base_url, study, seed=clients * 100 + workers)
        config = {"base_url": server.base_url, "study": study, "seed": clients}
        measured = self.run_clients(suggest_pair, SUGGEST_WARMUP_PAIRS, [config] * clients, server,
                                    database_url if backend == "postgres" else None)
        self.results.pairs.append(PairRow(backend, workers, clients, measured))
        log(f"  {backend}, {workers} worker(s), {clients} client(s): {measured.rate:.1f} pairs/s "
            f"(ask p50 {percentile(measured.ask_ms, 50):.1f} ms, {measured.errors} errors)")

    def _growth(self, session: requests.Session, server: Server, backend: str) -> None:
        """Ask latency on an empty study and a 10,000-trial one, asks alternating between the two."""
        small, big, warm = f"size0-{backend}", f"size10k-{backend}", f"warmup-{backend}"
        rng = random.Random(7)
        for seed, name in enumerate((small, big, warm)):
            create_study(session, server.base_url, name, seed=seed)
        log(f"  importing {BIG_STUDY_TRIALS:,} trials into {big} ({IMPORT_BATCH:,} per request)")
        fill_s = import_trials(session, server.base_url, big, BIG_STUDY_TRIALS, rng)
        samples: dict[str, list[float]] = {small: [], big: []}
        with requests.Session() as client:
            for name in (warm, big):  # warm the connection and the worker; the small study keeps 0 trials
                for _ in range(LATENCY_WARMUP_ASKS):
                    tell_one(client, server.base_url, name, ask_one(client, server.base_url, name), rng.random())
            deadline = time.perf_counter() + self.duration_s
            rounds = 0
            while time.perf_counter() < deadline and rounds < MAX_LATENCY_ROUNDS:
                for name, times in samples.items():
                    t0 = time.perf_counter()
                    number = ask_one(client, server.base_url, name)
                    times.append((time.perf_counter() - t0) * 1000.0)
                    tell_one(client, server.base_url, name, number, rng.random())
                rounds += 1
        row = GrowthRow(backend, samples[small], samples[big], fill_s)
        self.results.growth.append(row)
        log(f"  {backend}: ask p50 {percentile(row.small, 50):.2f} ms at 0 trials, "
            f"{percentile(row.big, 50):.2f} ms at {BIG_STUDY_TRIALS:,}")

    def _optuna(self, postgres: Postgres) -> None:
        try:
            import optuna
        except ImportError as exc:
            self.failed(f"optuna is not installed ({exc}); pip install -e '.[benchmark]'")
            return
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            storage_url = postgres.create("optuna")
            storage = optuna.storages.RDBStorage(storage_url)
            for name in ("optuna-once", "optuna-reload"):
                optuna.create_study(study_name=name, storage=storage, direction="minimize")
            storage.engine.dispose()
        except Exception as exc:
            self.failed(f"optuna: could not create its studies: {type(exc).__name__}: {exc}")
            return
        variants = [
            ("Optuna, load_study once, then ask/tell", "optuna-once", False),
            (f"Optuna, load_study per ask ({OPTUNA_PREFILL:,} trials)", "optuna-reload", True),
        ]
        for label, study, reload in variants:
            log(f"Optuna RDB storage, {OPTUNA_CLIENTS} clients: {label}")
            config = {"storage_url": storage_url, "study": study, "reload": reload, "seed": 9}
            if reload:
                try:
                    started = time.perf_counter()
                    how = optuna_fill(storage_url, study, OPTUNA_PREFILL, random.Random(11))
                    log(f"  filled {OPTUNA_PREFILL:,} trials in {time.perf_counter() - started:.1f} s ({how})")
                except Exception as exc:
                    self.failed(f"{label}: could not fill the study: {type(exc).__name__}: {exc}")
                    continue

            def measure(label: str = label, config: dict[str, Any] = config) -> None:
                measured = self.run_clients(optuna_pair, OPTUNA_WARMUP_PAIRS, [config] * OPTUNA_CLIENTS, None,
                                            storage_url)
                self.results.optuna.append(OptunaRow(label, OPTUNA_CLIENTS, measured))
                log(f"  {measured.rate:.1f} pairs/s ({measured.errors} errors)")

            self.section(label, measure)

    # -- reporting -------------------------------------------------------------------------------

    def report(self) -> str:
        lines = [
            f"suggest_api throughput benchmark - {'quick' if self.quick else 'full'} run, "
            f"{self.duration_s:g} s per measurement, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            *machine_facts(f"{self.postgres_note} (scratch databases)" if self.postgres else self.postgres_note),
            f"  load:       1-minute load average {self.load_at_start} at the start, {load_average()} at the end "
            "(other processes on this machine share its cores)",
            f"  server:     suggest-api serve (gunicorn gthread, {SERVER_THREADS} threads per worker, service "
            "defaults otherwise: log level INFO), 127.0.0.1, fresh port",
            "  clients:    separate processes (multiprocessing fork), one requests.Session each; all warm "
            f"({SUGGEST_WARMUP_PAIRS} untimed pairs; Optuna: {OPTUNA_WARMUP_PAIRS}) before a common start",
            "",
            "1. suggest_api over HTTP: each client loops ask(count=1) -> tell(value) on one shared "
            "random-suggester study",
            "",
        ]
        rows = [[r.backend, str(r.workers), str(r.clients), *_rate_cells(r.measured)] for r in self.results.pairs]
        lines += table(["backend", "workers", "clients", *RATE_HEADERS], rows, left=1)
        lines += _error_notes([(f"{r.backend}, {r.workers} workers, {r.clients} clients", r.measured)
                               for r in self.results.pairs])
        lines += ["", f"2. Optuna {version('optuna')} RDB storage on the same PostgreSQL server, "
                  f"{OPTUNA_CLIENTS} client processes, RandomSampler, the same search space", ""]
        rows = [[r.label, str(r.clients), *_rate_cells(r.measured)] for r in self.results.optuna]
        rows += [[f"suggest_api, postgres, {r.workers} worker(s)", str(r.clients), *_rate_cells(r.measured)]
                 for r in self.results.pairs if r.backend == "postgres" and r.clients == OPTUNA_CLIENTS]
        lines += table(["variant", "clients", *RATE_HEADERS], rows, left=1)
        lines += _error_notes([(r.label, r.measured) for r in self.results.optuna])
        lines += ["", "   ratio: suggest_api PostgreSQL pairs/s (8 clients) / Optuna pairs/s (8 clients), "
                  f"target >= {RATE_TARGET:g}x"]
        ratio_rows = []
        for ours in (r for r in self.results.pairs if r.backend == "postgres" and r.clients == OPTUNA_CLIENTS):
            for theirs in self.results.optuna:
                ratio = ours.measured.rate / theirs.measured.rate if theirs.measured.rate else math.nan
                cpu_ratio = _cpu_per_pair(theirs.measured) / _cpu_per_pair(ours.measured)
                ratio_rows.append([f"suggest_api {ours.workers} worker(s) / {theirs.label}", f"{ratio:.2f}x",
                                   _verdict(ratio >= RATE_TARGET, ratio),
                                   "-" if math.isnan(cpu_ratio) else f"{cpu_ratio:.2f}x"])
        lines += table(["comparison", "pairs/s ratio", "target", "CPU per pair, Optuna / suggest_api (see 4.)"],
                       ratio_rows, left=1, indent="   ")
        lines += ["", "3. Ask latency against study size: HTTP, one client, 1 worker; asks alternate between "
                  "the two studies (each followed by an untimed tell)", ""]
        rows, ratio_rows = [], []
        for g in self.results.growth:
            rows.append([g.backend, "0", str(len(g.small)), ms(percentile(g.small, 50)),
                         ms(percentile(g.small, 95)), "-"])
            rows.append([g.backend, f"{BIG_STUDY_TRIALS:,}", str(len(g.big)), ms(percentile(g.big, 50)),
                         ms(percentile(g.big, 95)),
                         f"{BIG_STUDY_TRIALS / g.fill_s:,.0f} trials/s ({g.fill_s:.1f} s)"])
            for q in (50, 95):
                ratio = percentile(g.big, q) / percentile(g.small, q)
                ratio_rows.append([f"{g.backend} p{q}: at {BIG_STUDY_TRIALS:,} / at 0", f"{ratio:.2f}x",
                                   _verdict(ratio <= GROWTH_TARGET, ratio)])
        lines += table(["backend", "trials at start", "asks", "p50 ms", "p95 ms",
                        f"import fill ({IMPORT_BATCH:,} per request)"], rows, left=1)
        lines += ["", f"   ratio: ask latency at {BIG_STUDY_TRIALS:,} trials / at 0 trials, "
                  f"target <= {GROWTH_TARGET:g}x"]
        lines += table(["comparison", "ratio", "target"], ratio_rows, left=1, indent="   ")
        lines += ["", "4. CPU time per ask+tell pair in each timed window of 1. and 2. (from /proc): the suggest-api "
                  "server (master and workers),", "   the PostgreSQL backends of the scratch database, the client "
                  "processes; and how busy all cores were, by this run and by other processes", ""]
        rows = [[f"suggest_api {r.backend}, {r.workers} worker(s), {r.clients} client(s)", *_cpu_cells(r.measured)]
                for r in self.results.pairs]
        rows += [[r.label, *_cpu_cells(r.measured)] for r in self.results.optuna]
        lines += table(["measurement", "pairs/s", "server ms", "postgres ms", "clients ms", "all cores busy",
                        "other processes"], rows, left=1)
        lines += ["   (ms = CPU milliseconds per ask+tell pair; Optuna's work runs in its client processes)"]
        if self.failures:
            lines += ["", "FAILED measurements (not in the tables above):"]
            lines += [f"  - {f}" for f in self.failures]
        lines += ["", f"total wall time: {time.monotonic() - self.started:.0f} s"]
        return "\n".join(lines)


RATE_HEADERS = ["pairs/s", "ask p50 ms", "ask p95 ms", "tell p50 ms", "tell p95 ms", "pairs", "errors"]


def _rate_cells(m: Measured) -> list[str]:
    return [f"{m.rate:,.1f}", ms(percentile(m.ask_ms, 50)), ms(percentile(m.ask_ms, 95)),
            ms(percentile(m.tell_ms, 50)), ms(percentile(m.tell_ms, 95)), f"{m.pairs:,}", str(m.errors)]


def _cpu_per_pair(m: Measured) -> float:
    """Milliseconds of CPU per pair, every process of the measurement together (clients, server, PostgreSQL)."""
    if m.cpu is None or not m.pairs:
        return math.nan
    spent = (m.cpu.server_s or 0.0) + (m.cpu.database_s or 0.0) + m.cpu.clients_s
    return spent * 1000.0 / m.pairs


def _cpu_cells(m: Measured) -> list[str]:
    cpu = m.cpu
    if cpu is None or not m.pairs:
        return [f"{m.rate:,.1f}", "-", "-", "-", "-", "-"]

    def per_pair(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds * 1000.0 / m.pairs:.2f}"

    def share(fraction: float | None) -> str:
        return "-" if fraction is None else f"{fraction * 100:.0f}%"

    return [f"{m.rate:,.1f}", per_pair(cpu.server_s), per_pair(cpu.database_s), per_pair(cpu.clients_s),
            share(cpu.machine_busy), share(cpu.others)]



def _verdict(ok: bool, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "met" if ok else "NOT MET"


def _error_notes(rows: Sequence[tuple[str, Measured]]) -> list[str]:
    return [f"   errors in {label}: {m.errors}, first: {m.first_error}" for label, m in rows if m.errors]



def machine_facts(postgres: str) -> list[str]:
    """The report header's machine, Python, versions (with the git commit) and databases."""
    cpu = cpu_model()
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for text_line in Path("/proc/meminfo").read_text().splitlines():
            if text_line.startswith("MemTotal:"):
                memory = f"{int(text_line.split()[1]) / 1024**2:.1f} GiB"
    usable = usable_cores()
    commit = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "?"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit += " + uncommitted changes" if dirty else ""
    return [
        f"  machine:    {usable} usable cores ({os.cpu_count()} online, {cpu}), {memory} RAM, "
        f"{platform.platform()}",
        f"  python:     {platform.python_version()} ({sys.executable})",
        f"  versions:   suggest-api {version('suggest-api')} (git {commit}), optuna {version('optuna')}, "
        f"SQLAlchemy {version('SQLAlchemy')}, psycopg {version('psycopg')}, Flask {version('Flask')}, "
        f"gunicorn {version('gunicorn')}, requests {version('requests')}",
        f"  databases:  SQLite {sqlite3.sqlite_version} (file in a temporary directory, WAL); "
        f"PostgreSQL {postgres}",
    ]



def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per measurement instead of 10 s")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="seconds per measurement (overrides --quick's 3 s and the default 10 s)")
    parser.add_argument("--postgres-url", metavar="URL",
                        default=os.environ.get("SUGGEST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help="a PostgreSQL database whose user may CREATE DATABASE; scratch databases are "
                             "created next to it and dropped at the end (default $SUGGEST_TEST_POSTGRES_URL "
                             f"or {DEFAULT_POSTGRES_URL})")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only: skip PostgreSQL and Optuna")
    args = parser.parse_args()
    if args.duration is not None and not 0.5 <= args.duration <= 600:
        parser.error("--duration must be between 0.5 and 600 seconds")
    return args


def main() -> int:
    return run_benchmark(Throughput, parse_args())


if __name__ == "__main__":
    sys.exit(main())
