"""What API-key authentication costs: ask+tell with SUGGEST_AUTH=off against SUGGEST_AUTH=required.

    .venv/bin/python -m benchmarks.auth_cost [--quick] [--rounds N] [--duration S] [--postgres-url URL]
        [--no-postgres]

For each backend (a SQLite file, then a scratch PostgreSQL database) two `suggest-api serve` processes
(4 gunicorn workers each) run on the same database, one with SUGGEST_AUTH=off and one with
SUGGEST_AUTH=required. 8 client processes loop ask(count=1) -> tell on a fresh random-suggester study
for a fixed time; the windows alternate between the two servers (off, required, off, required, ...)
for `--rounds` rounds, so both modes see the same machine conditions. With `required` every request
carries `Authorization: Bearer <key>`, a member key of a team made with suggest_api.service.accounts on that
database. It prints each window, then per mode the medians over the rounds of pairs/s, ask and tell
p50/p99 latency and server (and PostgreSQL) CPU per pair, and the ratio required / off.

Last, the revocation guarantee's cost: a key is read from the database on every request (no worker
caches it), so a revoked key is refused from its next request on, and that per-request lookup is the
whole cost. It is timed in this process: `accounts.authenticate` (required) and, for comparison,
`accounts.implicit_principal` (off), called alternately 2,000 times each against each database.

Servers, client processes, the SQLite file and the scratch PostgreSQL database are removed on exit,
on Ctrl-C and on SIGTERM. Progress goes to stderr, the report to stdout. Figures depend on what else
runs on the machine; they are printed, never asserted. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import requests
from sqlalchemy.exc import SQLAlchemyError

from benchmarks.harness import (
    DEFAULT_POSTGRES_URL,
    REQUEST_TIMEOUT_S,
    SERVER_THREADS,
    SUGGEST_WARMUP_PAIRS,
    BenchmarkError,
    BenchmarkRun,
    Measured,
    Server,
    bearer_session,
    create_study,
    log,
    ms,
    run_benchmark,
    suggest_pair,
    table,
)
from benchmarks.machine import cpu_model, load_average, usable_cores, version
from suggest_api.accounts import Role
from suggest_api.config import Settings
from suggest_api.service import accounts
from suggest_api.service.transactions import Transactions
from suggest_api.storage.database import make_engine, make_sessions, transaction
from suggest_api.storage.migrate import upgrade
from workloads.percentiles import percentile

MODES = ("off", "required")  # SUGGEST_AUTH of the two servers, measured in this order each round
WORKERS = 4
CLIENTS = 8
TEAM = "bench"  # the key's team (SUGGEST_AUTH=off acts as the team "default")
LOOKUP_CALLS = 2_000
LOOKUP_WARMUP_CALLS = 50
ROUNDS = {"quick": 3, "full": 4}


# --- a server with a chosen SUGGEST_AUTH --------------------------------------------------------


class AuthServer(Server):
    """harness.Server in a given SUGGEST_AUTH mode, checked once it is up."""

    def __init__(self, database_url: str, log_path: Path, cwd: Path, auth: str) -> None:
        super().__init__(database_url, WORKERS, log_path, cwd, auth=auth)

    def start(self) -> None:
        super().start()
        self._check_mode()

    def _check_mode(self) -> None:
        """No key: 200 from the `off` server, 401 from the `required` one (so the mode really is set)."""
        answer = requests.get(f"{self.base_url}/v1/studies", timeout=REQUEST_TIMEOUT_S)
        expected = 200 if self.auth == "off" else 401
        if answer.status_code != expected:
            raise BenchmarkError(f"the SUGGEST_AUTH={self.auth} server answered GET /v1/studies without a key "
                                 f"with {answer.status_code}, not {expected}: {answer.text[:200]}")


# --- the in-process lookup ----------------------------------------------------------------------


def make_member_key(database_url: str) -> str:
    """Migrate the database, make the team TEAM and a member key of it; returns the key (its secret)."""
    settings = Settings()
    engine = make_engine(database_url, settings)
    try:
        upgrade(engine)
        with transaction(make_sessions(engine), write=True) as session:
            accounts.create_team(session, TEAM, settings.limits, accounts.QuotaChange())
            created = accounts.create_key_for_team(session, TEAM, Role.MEMBER, "auth_cost benchmark", settings.limits)
        return created.secret
    finally:
        engine.dispose()  # no open connection when client processes fork


def time_lookups(database_url: str, key: str, calls: int) -> tuple[list[float], list[float]]:
    """Microseconds of each `accounts.authenticate` and each `accounts.implicit_principal`, called alternately
    through the service's own engine (with its pool and pre-ping), as a worker calls them per request."""
    settings = Settings()
    engine = make_engine(database_url, settings)
    header = f"Bearer {key}"
    try:
        transactions = Transactions(make_sessions(engine))
        for _ in range(LOOKUP_WARMUP_CALLS):
            accounts.authenticate(transactions, settings, header)
            accounts.implicit_principal(transactions, settings)
        keyed: list[float] = []
        implicit: list[float] = []
        for _ in range(calls):
            t0 = time.perf_counter()
            who = accounts.authenticate(transactions, settings, header)
            t1 = time.perf_counter()
            accounts.implicit_principal(transactions, settings)
            t2 = time.perf_counter()
            keyed.append((t1 - t0) * 1e6)
            implicit.append((t2 - t1) * 1e6)
        if who.role is not Role.MEMBER or who.team_name != TEAM:
            raise BenchmarkError(f"authenticate found {who.role.value} of {who.team_name}, not member of {TEAM}")
        return keyed, implicit
    finally:
        engine.dispose()


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Window:
    backend: str
    mode: str
    round: int
    measured: Measured


@dataclass
class Lookup:
    backend: str
    authenticate_us: list[float]
    implicit_us: list[float]


@dataclass
class Found:
    windows: list[Window] = field(default_factory=list)
    lookups: list[Lookup] = field(default_factory=list)


class AuthCost(BenchmarkRun):
    """harness.BenchmarkRun for the set-up and clean-up (work directory, scratch PostgreSQL, client
    processes, failures), with this benchmark's run and report."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.rounds: int = args.rounds if args.rounds is not None else ROUNDS["quick" if args.quick else "full"]
        self.found = Found()

    def run(self) -> None:
        backends: list[tuple[str, Callable[[], str]]] = [
            ("sqlite", lambda: f"sqlite:///{self.workdir / 'auth.db'}")]
        if self.postgres is not None:
            postgres = self.postgres
            backends.append(("postgres", lambda: postgres.create("auth")))
        for backend, make_url in backends:
            try:
                database_url = make_url()
                key = make_member_key(database_url)
            except Exception as exc:
                self.failed(f"{backend}: could not set up the database and key: {type(exc).__name__}: {exc}")
                continue
            self._with_servers(backend, database_url, key)
            self.section(f"{backend} lookup", functools.partial(self._lookup, backend, database_url, key))

    def _with_servers(self, backend: str, database_url: str, key: str) -> None:
        servers = {mode: AuthServer(database_url, self.workdir / f"server-{backend}-{mode}.log", self.workdir, mode)
                   for mode in MODES}
        try:
            for mode, server in servers.items():
                self.cleanup.callback(server.stop)
                log(f"starting suggest-api serve: {backend}, SUGGEST_AUTH={mode}, {WORKERS} workers x "
                    f"{SERVER_THREADS} threads")
                server.start()
        except (BenchmarkError, requests.RequestException) as exc:
            self.failed(f"{backend}: {exc}")
            for server in servers.values():
                server.stop()
            return
        try:
            for round_ in range(1, self.rounds + 1):
                for mode, server in servers.items():
                    self.section(f"{backend} {mode} round {round_}", functools.partial(
                        self._window, backend, database_url, server, mode, round_, key if mode == "required" else None))
        finally:
            for mode, server in servers.items():
                server.stop()
                if server.log_tail(200).count("Traceback"):
                    log(f"the {backend} {mode} server logged tracebacks; see the log tail:\n{server.log_tail()}")

    def _window(self, backend: str, database_url: str, server: Server, mode: str, round_: int,
                key: str | None) -> None:
        study = f"auth-{mode}-r{round_}"
        with bearer_session(key) as session:
            create_study(session, server.base_url, study, seed=round_)
        config = {"base_url": server.base_url, "study": study, "key": key, "seed": round_}
        measured = self.run_clients(suggest_pair, SUGGEST_WARMUP_PAIRS, [config] * CLIENTS, server,
                                    database_url if backend == "postgres" else None)
        self.found.windows.append(Window(backend, mode, round_, measured))
        log(f"  {backend} round {round_} {mode:>8}: {measured.rate:.1f} pairs/s, ask p50 "
            f"{percentile(measured.ask_ms, 50):.2f} ms, {measured.errors} errors")

    def _lookup(self, backend: str, database_url: str, key: str) -> None:
        log(f"timing accounts.authenticate and accounts.implicit_principal on {backend}, {LOOKUP_CALLS:,} calls each")
        try:
            keyed, implicit = time_lookups(database_url, key, LOOKUP_CALLS)
        except SQLAlchemyError as exc:
            raise BenchmarkError(f"{type(exc).__name__}: {exc}") from exc
        self.found.lookups.append(Lookup(backend, keyed, implicit))
        log(f"  {backend}: authenticate median {median(keyed):.0f} us, implicit_principal {median(implicit):.0f} us")

    # -- reporting -------------------------------------------------------------------------------

    def report(self) -> str:
        lines = [
            f"suggest_api auth cost benchmark - {'quick' if self.quick else 'full'} run, {self.rounds} rounds x "
            f"{len(MODES)} modes x {self.duration_s:g} s, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            *_facts(self.postgres_note),
            f"  load:       1-minute load average {self.load_at_start} at the start, {load_average()} at the end "
            "(other processes on this machine share its cores)",
            f"  servers:    per backend two suggest-api serve (gunicorn gthread, {WORKERS} workers x {SERVER_THREADS} "
            "threads, log level INFO) on the same database, SUGGEST_AUTH=off and SUGGEST_AUTH=required",
            f"  clients:    {CLIENTS} processes (fork), one requests.Session each, {SUGGEST_WARMUP_PAIRS} untimed "
            "pairs, then ask(count=1) -> tell on a fresh random-suggester study per window;",
            f"              required: every request sends a member key of team {TEAM!r}. Windows alternate "
            f"{', '.join(MODES)}, {', '.join(MODES)}, ...",
            "",
            "1. Each timed window, in the order run (ms: latency as the client sees it; CPU: ms per ask+tell pair)",
            "",
        ]
        rows = [[w.backend, str(w.round), w.mode, *_cells(_figures(w.measured)), f"{w.measured.pairs:,}",
                 str(w.measured.errors)] for w in self.found.windows]
        lines += table(["backend", "round", "SUGGEST_AUTH", *CELL_HEADERS, "pairs", "errors"], rows, left=3)
        lines += [f"   errors in {w.backend} round {w.round} {w.mode}: {w.measured.errors}, first: "
                  f"{w.measured.first_error}" for w in self.found.windows if w.measured.errors]
        lines += ["", "2. Medians over the rounds, and required / off (> 1x: required is higher)", ""]
        rows, paired = [], []
        for backend in dict.fromkeys(w.backend for w in self.found.windows):
            off, required = self.windows_of(backend, "off"), self.windows_of(backend, "required")
            medians = [_medians([w.measured for w in windows]) for windows in (off, required)]
            rows += [[backend, mode, str(len(windows)), *_cells(values)]
                     for mode, windows, values in zip(MODES, (off, required), medians, strict=True)]
            off_medians, required_medians = medians
            rows.append([backend, "required / off", "",
                         *(_ratio(r, o) for r, o in zip(required_medians, off_medians, strict=True))])
            paired.append(f"{backend} " + ", ".join(_ratio(r.measured.rate, o.measured.rate)
                                                    for o, r in zip(off, required, strict=False)))
        lines += table(["backend", "SUGGEST_AUTH", "windows", *CELL_HEADERS], rows, left=3)
        lines += [f"   pairs/s required / off, round by round: {'; '.join(paired) or '-'}"]
        lines += ["", "3. Revocation: a key is read from the database on every request (no worker caches one), so "
                  "the guarantee costs nothing", "   beyond that per-request lookup. The lookup, timed in this "
                  f"process through the service's engine, {LOOKUP_CALLS:,} calls each, alternating:"]
        for found in self.found.lookups:
            keyed, implicit = median(found.authenticate_us), median(found.implicit_us)
            lines.append(f"   {found.backend:<8}  accounts.authenticate (required) median {keyed:,.0f} us "
                         f"(p99 {percentile(found.authenticate_us, 99):,.0f} us); accounts.implicit_principal (off) "
                         f"median {implicit:,.0f} us; difference {keyed - implicit:+,.0f} us per request")
        if not self.found.lookups:
            lines.append("   (no measurements)")
        if self.failures:
            lines += ["", "FAILED measurements (not in the tables above):"]
            lines += [f"  - {f}" for f in self.failures]
        lines += ["", f"total wall time: {time.monotonic() - self.started:.0f} s"]
        return "\n".join(lines)

    def windows_of(self, backend: str, mode: str) -> list[Window]:
        return [w for w in self.found.windows if w.backend == backend and w.mode == mode]


CELL_HEADERS = ["pairs/s", "ask p50 ms", "ask p99 ms", "tell p50 ms", "tell p99 ms", "server CPU ms", "postgres CPU ms"]


def _figures(m: Measured) -> list[float]:
    """pairs/s, ask p50/p99 ms, tell p50/p99 ms, server and PostgreSQL CPU ms per pair (NaN when absent)."""
    def per_pair(seconds: float | None) -> float:
        return seconds * 1000.0 / m.pairs if seconds is not None and m.pairs else math.nan

    return [m.rate, percentile(m.ask_ms, 50), percentile(m.ask_ms, 99), percentile(m.tell_ms, 50),
            percentile(m.tell_ms, 99), per_pair(m.cpu.server_s if m.cpu else None),
            per_pair(m.cpu.database_s if m.cpu else None)]


def _cells(figures: Sequence[float]) -> list[str]:
    return [f"{v:,.1f}" if i == 0 else ms(v) for i, v in enumerate(figures)]


def _medians(measured: Sequence[Measured]) -> list[float]:
    """Per figure, the median over the windows (NaNs left out; NaN when none is left)."""
    columns = zip(*(_figures(m) for m in measured), strict=True) if measured else [()] * len(CELL_HEADERS)
    return [median(found) if (found := [v for v in column if not math.isnan(v)]) else math.nan for column in columns]


def _ratio(numerator: float, denominator: float) -> str:
    if math.isnan(numerator) or math.isnan(denominator) or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def _facts(postgres: str) -> list[str]:
    """The report header's machine, versions and databases."""
    return [
        f"  machine:    {usable_cores()} usable cores ({cpu_model()}), {platform.platform()}, "
        f"Python {platform.python_version()}",
        f"  versions:   suggest-api {version('suggest-api')}, SQLAlchemy {version('SQLAlchemy')}, psycopg "
        f"{version('psycopg')}, Flask {version('Flask')}, gunicorn {version('gunicorn')}, "
        f"requests {version('requests')}",
        f"  databases:  SQLite {sqlite3.sqlite_version} (file in a temporary directory, WAL); PostgreSQL {postgres}",
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.auth_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{ROUNDS['quick']} rounds of 3 s windows instead of {ROUNDS['full']} rounds of 10 s")
    parser.add_argument("--rounds", type=int, metavar="N", help="rounds (each: one window per mode), at least 3")
    parser.add_argument("--duration", type=float, metavar="S", help="seconds per window (overrides --quick's 3 s)")
    parser.add_argument("--postgres-url", metavar="URL",
                        default=os.environ.get("SUGGEST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help="a PostgreSQL database whose user may CREATE DATABASE; a scratch database is created "
                             f"next to it and dropped at the end (default $SUGGEST_TEST_POSTGRES_URL or "
                             f"{DEFAULT_POSTGRES_URL})")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    if args.rounds is not None and args.rounds < 3:
        parser.error("--rounds must be at least 3")
    if args.duration is not None and not 0.5 <= args.duration <= 600:
        parser.error("--duration must be between 0.5 and 600 seconds")
    return args


def main() -> int:
    return run_benchmark(AuthCost, parse_args())


if __name__ == "__main__":
    sys.exit(main())
