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
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import math
import multiprocessing
import os
import platform
import queue
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from types import FrameType
from typing import Any

import requests

# The search space of DESIGN.md, used by both suggest_api and Optuna so they do the same work.
SPACE: dict[str, Any] = {"params": [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
    {"name": "batch_size", "type": "int", "low": 16, "high": 256, "step": 16},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
]}
OPTIMIZERS = ("sgd", "adam", "rmsprop")

RATE_TARGET = 5.0  # suggest_api PostgreSQL 8-client pairs/s over Optuna's, at least
GROWTH_TARGET = 1.2  # ask latency at 10,000 trials over at 0 trials, at most
BIG_STUDY_TRIALS = 10_000
IMPORT_BATCH = 1_000  # the service's per-request import limit (SUGGEST_MAX_IMPORT)
OPTUNA_PREFILL = 1_000
CLIENTS = (1, 8)
WORKERS = (1, 4)
SERVER_THREADS = 4  # the service's default threads per gunicorn worker
OPTUNA_CLIENTS = 8

WARMUP_PAIRS = {"suggest": 3, "optuna": 1}  # untimed pairs each client makes before the clock starts
LATENCY_WARMUP_ASKS = 5
MAX_ERRORS = 1_000  # a client stops early after this many failed pairs
MAX_LATENCY_ROUNDS = 100_000
REQUEST_TIMEOUT_S = 30.0
IMPORT_TIMEOUT_S = 120.0
SERVER_START_TIMEOUT_S = 90.0
SERVER_STOP_TIMEOUT_S = 20.0
CLIENT_READY_TIMEOUT_S = 120.0
CLIENT_FINISH_GRACE_S = 90.0
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class BenchmarkError(RuntimeError):
    """Something the benchmark needs failed; the message says what."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Measured:
    """What a set of clients did in one timed window."""

    pairs: int = 0
    elapsed_s: float = 0.0
    ask_ms: list[float] = field(default_factory=list)
    tell_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    cpu: CpuUse | None = None

    @property
    def rate(self) -> float:
        return self.pairs / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def add(self, part: dict[str, Any]) -> None:
        self.pairs += int(part["pairs"])
        self.elapsed_s = max(self.elapsed_s, float(part["elapsed_s"]))
        self.ask_ms.extend(part["ask_ms"])
        self.tell_ms.extend(part["tell_ms"])
        self.errors += int(part["errors"])
        self.first_error = self.first_error or part["first_error"]


# --- the timed client loop (runs inside client processes) ---------------------------------------


def timed_loop(ask: Callable[[], Any], tell: Callable[[Any], None], duration_s: float) -> dict[str, Any]:
    """ask -> tell until the deadline; a failed pair is counted, not timed (at most MAX_ERRORS)."""
    ask_ms: list[float] = []
    tell_ms: list[float] = []
    errors, first_error = 0, None
    started = time.perf_counter()
    deadline = started + duration_s
    while time.perf_counter() < deadline and errors < MAX_ERRORS:
        try:
            t0 = time.perf_counter()
            handle = ask()
            t1 = time.perf_counter()
            tell(handle)
            t2 = time.perf_counter()
        except Exception as exc:  # counted and shown in the report; the loop is bounded by time and count
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
            time.sleep(0.01)
            continue
        ask_ms.append((t1 - t0) * 1000.0)
        tell_ms.append((t2 - t1) * 1000.0)
    return {"pairs": len(ask_ms), "elapsed_s": time.perf_counter() - started, "ask_ms": ask_ms,
            "tell_ms": tell_ms, "errors": errors, "first_error": first_error}


def _suggest_pair(base_url: str, study: str, seed: int,
                  key: str | None = None) -> tuple[Callable[[], int], Callable[[int], None]]:
    session = bearer_session(key)
    rng = random.Random(seed)

    def ask() -> int:
        return ask_one(session, base_url, study)

    def tell(number: int) -> None:
        tell_one(session, base_url, study, number, rng.random())

    return ask, tell


def bearer_session(key: str | None) -> requests.Session:
    """A session that sends `key` as the API key on every request (none: a service with SUGGEST_AUTH=off)."""
    session = requests.Session()
    if key is not None:
        session.headers["Authorization"] = f"Bearer {key}"
    return session


def ask_one(session: requests.Session, base_url: str, study: str) -> int:
    response = session.post(f"{base_url}/v1/studies/{study}/ask", json={"count": 1}, timeout=REQUEST_TIMEOUT_S)
    if response.status_code != 201:
        raise BenchmarkError(f"ask answered {response.status_code}: {response.text[:200]}")
    return int(response.json()["trials"][0]["number"])


def tell_one(session: requests.Session, base_url: str, study: str, number: int, value: float) -> None:
    response = session.post(f"{base_url}/v1/studies/{study}/tell", json={"number": number, "value": value},
                            timeout=REQUEST_TIMEOUT_S)
    if response.status_code != 200:
        raise BenchmarkError(f"tell answered {response.status_code}: {response.text[:200]}")


def _optuna_suggest(trial: Any) -> None:
    """The same space as SPACE, through Optuna's define-by-run API."""
    trial.suggest_float("lr", 1e-5, 0.1, log=True)
    trial.suggest_int("batch_size", 16, 256, step=16)
    if trial.suggest_categorical("optimizer", list(OPTIMIZERS)) == "sgd":
        trial.suggest_float("momentum", 0.0, 0.99)


def _optuna_pair(storage_url: str, study_name: str, reload: bool,
                 seed: int) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    import optuna

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
    params: dict[str, Any] = {"lr": 10 ** rng.uniform(-5, -1), "batch_size": 16 * rng.randint(1, 16),
                              "optimizer": rng.choice(OPTIMIZERS)}
    if params["optimizer"] == "sgd":
        params["momentum"] = rng.uniform(0.0, 0.99)
    return params


def client_main(kind: str, index: int, config: dict[str, Any], duration_s: float, start: Event, release: Event,
                results: Queue[Any]) -> None:
    """Entry point of one client process: set up, warm up, say ready, wait for the start, measure, then stay
    (with its database connections) until the parent has read its CPU time."""
    try:
        seed = int(config.get("seed", 0)) * 1000 + index
        if kind == "suggest":
            ask, tell = _suggest_pair(config["base_url"], config["study"], seed, config.get("key"))
        else:
            ask, tell = _optuna_pair(config["storage_url"], config["study"], bool(config["reload"]), seed)
        for _ in range(WARMUP_PAIRS[kind]):
            tell(ask())
        results.put(("ready", index, None))
        if start.wait(CLIENT_READY_TIMEOUT_S):
            results.put(("done", index, timed_loop(ask, tell, duration_s)))
            release.wait(CLIENT_FINISH_GRACE_S)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        results.put(("error", index, f"{type(exc).__name__}: {exc}"[:500]))


# --- CPU accounting (Linux /proc; figures are absent elsewhere) ----------------------------------

CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


def _stat_after_name(pid: int | str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [0] state, [3] session, [11] utime, [12] stime."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        fields = _stat_after_name(pid)
        if fields is not None:
            found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def session_members(session_id: int) -> list[int]:
    """A server's gunicorn master and workers: every process in the session it was started in."""
    members = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = _stat_after_name(entry)
                if fields is not None and int(fields[3]) == session_id:
                    members.append(int(entry))
    return members


def machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine, all cores, in clock ticks."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    return sum(values) - values[3] - values[4], sum(values)  # idle and iowait are not busy


@dataclass
class CpuUse:
    """CPU seconds spent during one timed window, by who spent them."""

    server_s: float | None
    database_s: float | None
    clients_s: float
    machine_busy: float | None  # fraction of all cores
    others: float | None  # fraction of all cores used by processes that are not part of this measurement


class CpuProbe:
    """Snapshots before and after a window: server session, PostgreSQL backends of one database, clients."""

    def __init__(self, server: Server | None, postgres: Postgres | None, database_url: str | None,
                 client_pids: list[int]) -> None:
        self.server_sid = server.process.pid if server is not None and server.process is not None else None
        self.postgres, self.database_url, self.client_pids = postgres, database_url, client_pids
        self.before = self._snapshot()

    def _snapshot(self) -> tuple[dict[str, dict[int, float]], tuple[int, int] | None]:
        groups = {"clients": cpu_seconds(self.client_pids)}
        if self.server_sid is not None:
            groups["server"] = cpu_seconds(session_members(self.server_sid))
        if self.postgres is not None and self.database_url is not None:
            with contextlib.suppress(Exception):  # CPU figures are extra; a failed query leaves them out
                groups["database"] = cpu_seconds(self.postgres.backend_pids(self.database_url))
        return groups, machine_jiffies()

    def finish(self) -> CpuUse:
        after, jiffies = self._snapshot()
        before, jiffies_before = self.before
        spent = {group: sum(max(0.0, t - before.get(group, {}).get(pid, 0.0)) for pid, t in pids.items())
                 for group, pids in after.items()}
        busy = others = None
        if jiffies is not None and jiffies_before is not None and jiffies[1] > jiffies_before[1]:
            total_s = (jiffies[1] - jiffies_before[1]) / CLOCK_TICKS
            busy_s = (jiffies[0] - jiffies_before[0]) / CLOCK_TICKS
            busy = busy_s / total_s
            others = max(0.0, busy_s - sum(spent.values())) / total_s
        return CpuUse(spent.get("server"), spent.get("database"), spent.get("clients", 0.0), busy, others)


# --- the orchestrating process ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One `suggest-api serve` process (gunicorn master and workers) in its own session."""

    def __init__(self, database_url: str, workers: int, log_path: Path, cwd: Path, auth: str = "off") -> None:
        self.database_url = database_url
        self.workers = workers
        self.auth = auth  # SUGGEST_AUTH of the server
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUGGEST_")}
        env["SUGGEST_AUTH"] = self.auth
        for attempt in range(3):  # a free port can be taken between free_port() and gunicorn's bind
            port = free_port()
            self.base_url = f"http://127.0.0.1:{port}"
            with self.log_path.open("ab") as log_file:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "suggest_api.cli", "serve", "--database-url", self.database_url,
                     "--host", "127.0.0.1", "--port", str(port), "--workers", str(self.workers),
                     "--threads", str(SERVER_THREADS)],
                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                    cwd=self.cwd, start_new_session=True)
            if self._wait_ready():
                return
            self.stop()
            log(f"server did not start (attempt {attempt + 1}); retrying on another port. Its log ends:\n"
                f"{self.log_tail(8)}")
        raise BenchmarkError(f"suggest-api serve did not become ready; last log lines:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if requests.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        """SIGTERM to the master (graceful), then SIGKILL to the whole session if it lingers."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(f"server {process.pid} did not stop in {SERVER_STOP_TIMEOUT_S:.0f} s; killing its group")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # workers left behind by a killed master, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Postgres:
    """Scratch databases on one PostgreSQL server, created and dropped by this run."""

    admin_url: str
    prefix: str = field(default_factory=lambda: f"bench_{os.getpid()}_{secrets.token_hex(3)}")
    created: list[str] = field(default_factory=list)

    def _conninfo(self, database: str | None = None) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_url).set(drivername="postgresql")
        if database is not None:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def sqlalchemy_url(self, database: str) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_url).set(drivername="postgresql+psycopg", database=database)
        return url.render_as_string(hide_password=False)

    def server_version(self) -> str:
        import psycopg

        with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def create(self, purpose: str) -> str:
        import psycopg

        name = f"{self.prefix}_{purpose}"
        with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.sqlalchemy_url(name)

    def backend_pids(self, database_url: str) -> list[int]:
        import psycopg
        from sqlalchemy.engine import make_url

        with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                (make_url(database_url).database,)).fetchall()
        return [int(row[0]) for row in rows]

    def drop_all(self) -> None:
        import psycopg

        while self.created:
            name = self.created.pop()
            try:
                with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # cleanup goes on; say what is left behind
                log(f"could not drop scratch database {name}: {exc}")


def create_study(session: requests.Session, base_url: str, name: str, seed: int) -> None:
    body: dict[str, Any] = {"name": name, "space": SPACE, "objective": {"name": "loss", "goal": "minimize"},
                            "suggester": {"name": "random", "options": {}}, "seed": seed}
    response = session.post(f"{base_url}/v1/studies", json=body, timeout=REQUEST_TIMEOUT_S)
    if response.status_code not in (200, 201):
        raise BenchmarkError(f"creating study {name} answered {response.status_code}: {response.text[:300]}")


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
    backend: str
    workers: int
    clients: int
    measured: Measured


@dataclass
class OptunaRow:
    label: str
    clients: int
    measured: Measured


@dataclass
class GrowthRow:
    backend: str
    small: list[float]
    big: list[float]
    fill_s: float


@dataclass
class Results:
    pairs: list[PairRow] = field(default_factory=list)
    optuna: list[OptunaRow] = field(default_factory=list)
    growth: list[GrowthRow] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Benchmark:
    def __init__(self, args: argparse.Namespace) -> None:
        self.quick: bool = args.quick
        self.duration_s: float = args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
        self.results = Results()
        self.cleanup = contextlib.ExitStack()
        self.workdir = Path(tempfile.mkdtemp(prefix="suggest-bench-"))
        self.cleanup.callback(shutil.rmtree, self.workdir, True)
        self.postgres: Postgres | None = None
        self.postgres_note = ""
        self.processes: list[BaseProcess] = []
        self.cleanup.callback(self._stop_clients)
        if not args.no_postgres:
            postgres = Postgres(args.postgres_url)
            try:
                self.postgres_note = postgres.server_version()
                self.postgres = postgres
                self.cleanup.callback(postgres.drop_all)
            except Exception as exc:
                reason = " ".join(str(exc).split())
                self.postgres_note = f"unreachable ({type(exc).__name__}: {reason}); PostgreSQL parts skipped"
                log(f"PostgreSQL at {args.postgres_url}: {self.postgres_note}")
        else:
            self.postgres_note = "skipped (--no-postgres)"
        self.started = time.monotonic()
        self.load_at_start = _load()

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
                self._failed(f"{backend}: could not create the database: {exc}")
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
            self._failed(f"{backend}, {workers} workers: {exc}")
            return
        try:
            with requests.Session() as session:
                for clients in CLIENTS:
                    study = f"pairs-{backend}-w{workers}-c{clients}"
                    self._section(f"{backend} w={workers} c={clients}", functools.partial(
                        self._pairs, session, server, backend, database_url, workers, clients, study))
                if workers == WORKERS[0]:
                    self._section(f"{backend} ask latency vs size",
                                  lambda: self._growth(session, server, backend))
        finally:
            server.stop()
            if server.log_tail(200).count("Traceback"):
                log(f"the {backend} server logged tracebacks; see the log tail:\n{server.log_tail()}")

    def _section(self, name: str, action: Callable[[], None]) -> None:
        """A failing measurement is reported and the run goes on with the next one."""
        try:
            action()
        except (BenchmarkError, requests.RequestException, OSError) as exc:
            self._failed(f"{name}: {type(exc).__name__}: {exc}")

    def _failed(self, message: str) -> None:
        log(f"FAILED {message}")
        self.results.failures.append(message)

    def _pairs(self, session: requests.Session, server: Server, backend: str, database_url: str, workers: int,
               clients: int, study: str) -> None:
        create_study(session, server.base_url, study, seed=clients * 100 + workers)
        config = {"base_url": server.base_url, "study": study, "seed": clients}
        measured = self._run_clients("suggest", [config] * clients, server,
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
            self._failed(f"optuna is not installed ({exc}); pip install -e '.[benchmark]'")
            return
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            storage_url = postgres.create("optuna")
            storage = optuna.storages.RDBStorage(storage_url)
            for name in ("optuna-once", "optuna-reload"):
                optuna.create_study(study_name=name, storage=storage, direction="minimize")
            storage.engine.dispose()
        except Exception as exc:
            self._failed(f"optuna: could not create its studies: {type(exc).__name__}: {exc}")
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
                    self._failed(f"{label}: could not fill the study: {type(exc).__name__}: {exc}")
                    continue

            def measure(label: str = label, config: dict[str, Any] = config) -> None:
                measured = self._run_clients("optuna", [config] * OPTUNA_CLIENTS, None, storage_url)
                self.results.optuna.append(OptunaRow(label, OPTUNA_CLIENTS, measured))
                log(f"  {measured.rate:.1f} pairs/s ({measured.errors} errors)")

            self._section(label, measure)

    def _run_clients(self, kind: str, configs: Sequence[dict[str, Any]], server: Server | None,
                     database_url: str | None) -> Measured:
        """Start one process per config, wait until all are warm, start them together, collect."""
        # fork: clients start in milliseconds with requests (and optuna) already imported. The parent holds
        # no threads and no open database connection at this point.
        context = (multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods()
                   else multiprocessing.get_context("spawn"))
        start, release = context.Event(), context.Event()
        results: Queue[Any] = context.Queue()
        processes: list[BaseProcess] = [
            context.Process(target=client_main, args=(kind, i, config, self.duration_s, start, release, results),
                            name=f"bench-client-{i}", daemon=True)
            for i, config in enumerate(configs)]
        self.processes = processes
        try:
            for process in processes:
                process.start()
            self._collect(results, "ready", len(processes), CLIENT_READY_TIMEOUT_S)
            probe = CpuProbe(server, self.postgres, database_url, [p.pid for p in processes if p.pid is not None])
            start.set()
            parts = self._collect(results, "done", len(processes), self.duration_s + CLIENT_FINISH_GRACE_S)
            cpu = probe.finish()
        finally:
            start.set()
            release.set()
            self._stop_clients()
        measured = Measured(cpu=cpu)
        for part in parts:
            measured.add(part)
        return measured

    def _collect(self, results: Queue[Any], wanted: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        found: list[dict[str, Any]] = []
        while len(found) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchmarkError(f"only {len(found)} of {count} clients were {wanted} after {timeout_s:.0f} s")
            try:
                status, index, payload = results.get(timeout=min(left, 1.0))
            except queue.Empty:
                if wanted == "ready" and not any(p.is_alive() for p in self.processes):
                    raise BenchmarkError("every client process exited before it was ready") from None
                continue
            if status == "error":
                raise BenchmarkError(f"client {index} failed: {payload}")
            if status == wanted:
                found.append(payload)
        return found

    def _stop_clients(self) -> None:
        processes, self.processes = self.processes, []
        for process in processes:
            process.join(timeout=5)
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)

    # -- reporting -------------------------------------------------------------------------------

    def report(self) -> str:
        lines = [
            f"suggest_api throughput benchmark - {'quick' if self.quick else 'full'} run, "
            f"{self.duration_s:g} s per measurement, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            *machine_facts(f"{self.postgres_note} (scratch databases)" if self.postgres else self.postgres_note),
            f"  load:       1-minute load average {self.load_at_start} at the start, {_load()} at the end "
            "(other processes on this machine share its cores)",
            f"  server:     suggest-api serve (gunicorn gthread, {SERVER_THREADS} threads per worker, service "
            "defaults otherwise: log level INFO), 127.0.0.1, fresh port",
            "  clients:    separate processes (multiprocessing fork), one requests.Session each; all warm "
            f"({WARMUP_PAIRS['suggest']} untimed pairs; Optuna: {WARMUP_PAIRS['optuna']}) before a common start",
            "",
            "1. suggest_api over HTTP: each client loops ask(count=1) -> tell(value) on one shared "
            "random-suggester study",
            "",
        ]
        rows = [[r.backend, str(r.workers), str(r.clients), *_rate_cells(r.measured)] for r in self.results.pairs]
        lines += table(["backend", "workers", "clients", *RATE_HEADERS], rows, left=1)
        lines += _error_notes([(f"{r.backend}, {r.workers} workers, {r.clients} clients", r.measured)
                               for r in self.results.pairs])
        lines += ["", f"2. Optuna {_version('optuna')} RDB storage on the same PostgreSQL server, "
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
            rows.append([g.backend, "0", str(len(g.small)), _ms(percentile(g.small, 50)),
                         _ms(percentile(g.small, 95)), "-"])
            rows.append([g.backend, f"{BIG_STUDY_TRIALS:,}", str(len(g.big)), _ms(percentile(g.big, 50)),
                         _ms(percentile(g.big, 95)),
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
        if self.results.failures:
            lines += ["", "FAILED measurements (not in the tables above):"]
            lines += [f"  - {f}" for f in self.results.failures]
        lines += ["", f"total wall time: {time.monotonic() - self.started:.0f} s"]
        return "\n".join(lines)


RATE_HEADERS = ["pairs/s", "ask p50 ms", "ask p95 ms", "tell p50 ms", "tell p95 ms", "pairs", "errors"]


def _rate_cells(m: Measured) -> list[str]:
    return [f"{m.rate:,.1f}", _ms(percentile(m.ask_ms, 50)), _ms(percentile(m.ask_ms, 95)),
            _ms(percentile(m.tell_ms, 50)), _ms(percentile(m.tell_ms, 95)), f"{m.pairs:,}", str(m.errors)]


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


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _verdict(ok: bool, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "met" if ok else "NOT MET"


def _error_notes(rows: Sequence[tuple[str, Measured]]) -> list[str]:
    return [f"   errors in {label}: {m.errors}, first: {m.first_error}" for label, m in rows if m.errors]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: int, indent: str = "  ") -> list[str]:
    """Plain-text table; the first `left` columns are left-aligned, the rest right-aligned."""
    if not rows:
        return [f"{indent}(no measurements)"]
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return indent + "  ".join(c.ljust(w) if i < left else c.rjust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(headers), indent + "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_facts(postgres: str) -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for text_line in Path("/proc/cpuinfo").read_text().splitlines():
            if text_line.startswith("model name"):
                cpu = text_line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for text_line in Path("/proc/meminfo").read_text().splitlines():
            if text_line.startswith("MemTotal:"):
                memory = f"{int(text_line.split()[1]) / 1024**2:.1f} GiB"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
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
        f"  versions:   suggest-api {_version('suggest-api')} (git {commit}), optuna {_version('optuna')}, "
        f"SQLAlchemy {_version('SQLAlchemy')}, psycopg {_version('psycopg')}, Flask {_version('Flask')}, "
        f"gunicorn {_version('gunicorn')}, requests {_version('requests')}",
        f"  databases:  SQLite {sqlite3.sqlite_version} (file in a temporary directory, WAL); "
        f"PostgreSQL {postgres}",
    ]


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """SIGINT (also when a shell started us with it ignored), SIGTERM and SIGHUP unwind like Ctrl-C, so the
    `finally` cleanup runs."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
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
    args = parser.parse_args(argv)
    if args.duration is not None and not 0.5 <= args.duration <= 600:
        parser.error("--duration must be between 0.5 and 600 seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(Benchmark, parse_args(argv))


def run_benchmark(kind: Callable[[argparse.Namespace], Benchmark], args: argparse.Namespace) -> int:
    """Run a benchmark and print its report; on Ctrl-C or SIGTERM clean up everything it started (130)."""
    with signals_as_interrupts():
        benchmark = kind(args)
        interrupted = False
        try:
            benchmark.run()
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted: stopping servers and clients, dropping scratch databases")
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # let the cleanup finish
                signal.signal(signum, signal.SIG_IGN)
            benchmark.cleanup.close()
        if interrupted:
            return 130
        print(benchmark.report(), flush=True)
        return 1 if benchmark.results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
