"""What the HTTP benchmarks share: servers, scratch PostgreSQL databases, client processes, CPU probes,
report helpers, and the main that runs a benchmark and cleans up after it.

throughput, auth_cost, noisy_neighbour and client_loop start real `suggest-api serve` processes and
measure them from client processes; this is that machinery, so each benchmark file holds only its own
measurements and report. The percentile function is workloads.percentiles.percentile, because the
noisy-neighbour load (which tests run too) needs it and workloads imports nothing from benchmarks/.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import math
import multiprocessing
import os
import queue
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from benchmarks.machine import CLOCK_TICKS, cpu_seconds, load_average, machine_jiffies, session_members

# The search space of DESIGN.md: the HTTP benchmarks' random-suggester studies ask in it (and throughput's
# Optuna baseline asks the same, through Optuna's define-by-run API, so both sides do the same work).
SPACE: dict[str, Any] = {"params": [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
    {"name": "batch_size", "type": "int", "low": 16, "high": 256, "step": 16},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
]}

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SERVER_THREADS = 4  # the service's default threads per gunicorn worker
SUGGEST_WARMUP_PAIRS = 3  # untimed ask+tell pairs an HTTP client makes before the clock starts
MAX_ERRORS = 1_000  # a client stops early after this many failed pairs
REQUEST_TIMEOUT_S = 30.0
SERVER_START_TIMEOUT_S = 90.0
SERVER_STOP_TIMEOUT_S = 20.0
CLIENT_READY_TIMEOUT_S = 120.0
CLIENT_FINISH_GRACE_S = 90.0


class BenchmarkError(RuntimeError):
    """Something the benchmark needs failed; the message says what."""


def log(message: str) -> None:
    """Progress on stderr with the time, so stdout holds only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- what a set of clients measured -------------------------------------------------------------


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
    #: Failed pairs by kind: an exception's `kind` attribute where it has one, else its class name.
    error_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        """Pairs per second of all clients together, over the longest client's wall time."""
        return self.pairs / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def add(self, part: dict[str, Any]) -> None:
        """Fold in one client's `timed_loop` result."""
        self.pairs += int(part["pairs"])
        self.elapsed_s = max(self.elapsed_s, float(part["elapsed_s"]))
        self.ask_ms.extend(part["ask_ms"])
        self.tell_ms.extend(part["tell_ms"])
        self.errors += int(part["errors"])
        self.first_error = self.first_error or part["first_error"]
        self.error_kinds.update(part.get("error_kinds") or {})


# --- the timed client loop (runs inside client processes) ---------------------------------------

PairFactory = Callable[[dict[str, Any], int], tuple[Callable[[], Any], Callable[[Any], None]]]
"""From a client's config and seed, the (ask, tell) it loops: tell gets what ask returned."""


def timed_loop(ask: Callable[[], Any], tell: Callable[[Any], None], duration_s: float) -> dict[str, Any]:
    """ask -> tell until the deadline; a failed pair is counted, not timed (at most MAX_ERRORS)."""
    ask_ms: list[float] = []
    tell_ms: list[float] = []
    errors, first_error = 0, None
    error_kinds: Counter[str] = Counter()
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
            error_kinds[str(getattr(exc, "kind", None) or type(exc).__name__)] += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
            time.sleep(0.01)
            continue
        ask_ms.append((t1 - t0) * 1000.0)
        tell_ms.append((t2 - t1) * 1000.0)
    return {"pairs": len(ask_ms), "elapsed_s": time.perf_counter() - started, "ask_ms": ask_ms,
            "tell_ms": tell_ms, "errors": errors, "first_error": first_error, "error_kinds": dict(error_kinds)}


def bearer_session(key: str | None) -> requests.Session:
    """A session that sends `key` as the API key on every request (none: a service with SUGGEST_AUTH=off)."""
    session = requests.Session()
    if key is not None:
        session.headers["Authorization"] = f"Bearer {key}"
    return session


def ask_one(session: requests.Session, base_url: str, study: str) -> int:
    """POST /ask for one trial; returns its number (any answer but 201 raises)."""
    response = session.post(f"{base_url}/v1/studies/{study}/ask", json={"count": 1}, timeout=REQUEST_TIMEOUT_S)
    if response.status_code != 201:
        raise BenchmarkError(f"ask answered {response.status_code}: {response.text[:200]}")
    return int(response.json()["trials"][0]["number"])


def tell_one(session: requests.Session, base_url: str, study: str, number: int, value: float) -> None:
    """POST /tell of a completed trial (any answer but 200 raises)."""
    response = session.post(f"{base_url}/v1/studies/{study}/tell", json={"number": number, "value": value},
                            timeout=REQUEST_TIMEOUT_S)
    if response.status_code != 200:
        raise BenchmarkError(f"tell answered {response.status_code}: {response.text[:200]}")


def suggest_pair(config: dict[str, Any], seed: int) -> tuple[Callable[[], int], Callable[[int], None]]:
    """HTTP ask/tell on config's `base_url` and `study`, sending config's `key` when there is one."""
    session = bearer_session(config.get("key"))
    base_url, study = config["base_url"], config["study"]
    rng = random.Random(seed)

    def ask() -> int:
        return ask_one(session, base_url, study)

    def tell(number: int) -> None:
        tell_one(session, base_url, study, number, rng.random())

    return ask, tell


def client_main(make_pair: PairFactory, warmup_pairs: int, index: int, config: dict[str, Any], duration_s: float,
                start: Event, release: Event, results: Queue[Any]) -> None:
    """Entry point of one client process: set up, warm up, say ready, wait for the start, measure, then stay
    (with its database connections) until the parent has read its CPU time."""
    try:
        ask, tell = make_pair(config, int(config.get("seed", 0)) * 1000 + index)
        for _ in range(warmup_pairs):
            tell(ask())
        results.put(("ready", index, None))
        if start.wait(CLIENT_READY_TIMEOUT_S):
            results.put(("done", index, timed_loop(ask, tell, duration_s)))
            release.wait(CLIENT_FINISH_GRACE_S)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        results.put(("error", index, f"{type(exc).__name__}: {exc}"[:500]))


def create_study(session: requests.Session, base_url: str, name: str, seed: int) -> None:
    """A random-suggester study on SPACE through POST /v1/studies."""
    body: dict[str, Any] = {"name": name, "space": SPACE, "objective": {"name": "loss", "goal": "minimize"},
                            "suggester": {"name": "random", "options": {}}, "seed": seed}
    response = session.post(f"{base_url}/v1/studies", json=body, timeout=REQUEST_TIMEOUT_S)
    if response.status_code not in (200, 201):
        raise BenchmarkError(f"creating study {name} answered {response.status_code}: {response.text[:300]}")


# --- CPU accounting (Linux /proc; figures are absent elsewhere) ----------------------------------


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
        """What each group spent since the probe was made, and how busy the machine was meanwhile."""
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


# --- servers and scratch databases --------------------------------------------------------------


def free_port() -> int:
    """A loopback port free at this moment (another process may still take it before it is bound)."""
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

    def command(self, port: int) -> list[str]:
        """The server's command line (a subclass may start another server on the same app)."""
        return [sys.executable, "-m", "suggest_api.cli", "serve", "--database-url", self.database_url,
                "--host", "127.0.0.1", "--port", str(port), "--workers", str(self.workers),
                "--threads", str(SERVER_THREADS)]

    def environment(self) -> dict[str, str]:
        """This process's environment without SUGGEST_* settings, plus the server's SUGGEST_AUTH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUGGEST_")}
        env["SUGGEST_AUTH"] = self.auth
        return env

    def start(self) -> None:
        """Start it on a free port and wait for /readyz; three tries, as a free port can be taken meanwhile."""
        env = self.environment()
        for attempt in range(3):  # a free port can be taken between free_port() and gunicorn's bind
            port = free_port()
            self.base_url = f"http://127.0.0.1:{port}"
            with self.log_path.open("ab") as log_file:
                self.process = subprocess.Popen(
                    self.command(port), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                    env=env, cwd=self.cwd, start_new_session=True)
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
        """The last lines of the server's log, for error messages."""
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

    def _conninfo(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.admin_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def sqlalchemy_url(self, database: str) -> str:
        """The URL of `database` on this server, for the service and SQLAlchemy."""
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_url).set(drivername="postgresql+psycopg", database=database)
        return url.render_as_string(hide_password=False)

    def server_version(self) -> str:
        """SHOW server_version; raises when the server cannot be reached."""
        import psycopg

        with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def create(self, purpose: str) -> str:
        """A new database named after this run and `purpose`; returns its SQLAlchemy URL."""
        import psycopg

        name = f"{self.prefix}_{purpose}"
        with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.sqlalchemy_url(name)

    def backend_pids(self, database_url: str) -> list[int]:
        """The server processes connected to that database (for their CPU time)."""
        import psycopg
        from sqlalchemy.engine import make_url

        with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                (make_url(database_url).database,)).fetchall()
        return [int(row[0]) for row in rows]

    def drop_all(self) -> None:
        """Drop every database this run created; one that cannot be dropped is logged, and the rest go on."""
        import psycopg

        while self.created:
            name = self.created.pop()
            try:
                with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # cleanup goes on; say what is left behind
                log(f"could not drop scratch database {name}: {exc}")


def add_postgres_arguments(parser: argparse.ArgumentParser) -> None:
    """--postgres-url and --no-postgres, as every benchmark with a PostgreSQL part takes them."""
    parser.add_argument("--postgres-url", metavar="URL",
                        default=os.environ.get("SUGGEST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help="a PostgreSQL database whose user may CREATE DATABASE; scratch databases are created "
                             f"next to it and dropped at the end (default $SUGGEST_TEST_POSTGRES_URL or "
                             f"{DEFAULT_POSTGRES_URL})")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")


# --- report helpers -----------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: int, indent: str = "  ") -> list[str]:
    """Plain-text table; the first `left` columns are left-aligned, the rest right-aligned."""
    if not rows:
        return [f"{indent}(no measurements)"]
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return indent + "  ".join(c.ljust(w) if i < left else c.rjust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(headers), indent + "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def ms(value: float) -> str:
    """Milliseconds with two decimals; '-' for no figure (NaN)."""
    return "-" if math.isnan(value) else f"{value:.2f}"


# --- one benchmark run and its clean-up ---------------------------------------------------------


class BenchmarkRun(abc.ABC):
    """A run's work directory, optional scratch PostgreSQL, client processes and failures, and the clean-up
    of all of them; a benchmark adds its measurements (`run`) and its report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick: bool = args.quick
        self.duration_s: float = args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
        self.failures: list[str] = []
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
        self.load_at_start = load_average()

    @abc.abstractmethod
    def run(self) -> None:
        """Every measurement; a failing one is recorded with `failed` and the run goes on."""

    @abc.abstractmethod
    def report(self) -> str:
        """The report printed on stdout once the run is over."""

    def section(self, name: str, action: Callable[[], None]) -> None:
        """A failing measurement is reported and the run goes on with the next one."""
        try:
            action()
        except (BenchmarkError, requests.RequestException, OSError) as exc:
            self.failed(f"{name}: {type(exc).__name__}: {exc}")

    def failed(self, message: str) -> None:
        """Log a failed measurement and keep it for the report's FAILED list (and the exit status)."""
        log(f"FAILED {message}")
        self.failures.append(message)

    def run_clients(self, make_pair: PairFactory, warmup_pairs: int, configs: Sequence[dict[str, Any]],
                    server: Server | None, database_url: str | None) -> Measured:
        """Start one process per config, wait until all are warm, start them together, collect."""
        # fork: clients start in milliseconds with requests (and optuna) already imported. The parent holds
        # no threads and no open database connection at this point.
        context = (multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods()
                   else multiprocessing.get_context("spawn"))
        start, release = context.Event(), context.Event()
        results: Queue[Any] = context.Queue()
        processes: list[BaseProcess] = [
            context.Process(target=client_main, name=f"bench-client-{i}", daemon=True,
                            args=(make_pair, warmup_pairs, i, config, self.duration_s, start, release, results))
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


def run_benchmark(kind: Callable[[argparse.Namespace], BenchmarkRun], args: argparse.Namespace) -> int:
    """Run a benchmark and print its report; on Ctrl-C or SIGTERM clean up everything it started (130).
    The exit status is 1 when a measurement failed."""
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
        return 1 if benchmark.failures else 0
