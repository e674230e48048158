"""Hostile clients: trainers' ask+tell latency beside slow and idle connections, ours against stock gthread.

    .venv/bin/python -m benchmarks.hostile [--quick] [--duration S] [--hold S] [--slow-headers N]
        [--slow-bodies N] [--idle N] [--request-timeout S] [--postgres-url URL] [--no-postgres]

Two servers on the same app, each on a fresh database (a scratch PostgreSQL one, or a SQLite file with
--no-postgres), one after the other: `suggest-api serve` as shipped (its buffering worker, default
deadlines and limits, 2 workers x 4 threads), and the baseline, the stock gunicorn gthread worker
(`gunicorn --worker-class gthread --workers 2 --threads 4 'suggest_api.app:create_app()'`, after
`suggest-api migrate`). For each, 8 client processes loop ask(count=1) -> tell on a random study for
`--duration` seconds, unloaded; then `workloads.hostile` (its own process) holds 200 slow-header, 200
slow-body and 500 idle keep-alive connections (reopening each one the server cuts) and the clients
loop again, loaded. The hostile load stays for `--hold` seconds in all, so the default deadlines
(headers 10 s, body 30 s, keep-alive 5 s) can be seen to cut its connections.

Every client request has a timeout (`--request-timeout`); a pair that times out, is refused (503) or
fails otherwise is counted by kind and left out of the latencies. The report gives per server and
window: pairs answered, pairs/s, ask+tell p50 and p99, timeouts, 503s, other errors, the ratio
loaded p99 / unloaded p99 (the target for ours: at most 3x), and per hostile kind how long the server
held its connections before cutting them (p50, max) and what it answered first.

Servers, client processes, the hostile load, the SQLite files and the scratch databases are removed
on exit, on Ctrl-C and on SIGTERM. Progress goes to stderr, the report to stdout. Figures depend on
the machine; they are printed, never asserted. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import requests

from benchmarks.harness import (
    DEFAULT_POSTGRES_URL,
    SERVER_THREADS,
    BenchmarkError,
    BenchmarkRun,
    Measured,
    Server,
    create_study,
    log,
    ms,
    run_benchmark,
    table,
)
from benchmarks.machine import cpu_model, usable_cores, version
from workloads.hostile import HostileLoad
from workloads.percentiles import percentile

WORKERS = 2  # the service's default, and the baseline's
CLIENTS = 8
STUDY = "hostile-bench"
WARMUP_PAIRS = 20  # from this process, untimed, before the unloaded window: warm workers and pools
HOSTILE_READY_S = 10.0  # the stock worker never lets the idle kind in: do not wait long
RATIO_TARGET = 3.0
TRICKLE_S = 2.0  # seconds between a slow connection's bytes: under every default deadline
HOLD_S = {"quick": 12.0, "full": 40.0}  # hostile load per server; full: past the 30 s body deadline


class Failed(Exception):
    """A request without a 2xx answer; `kind` is what timed_loop counts it under."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind} {detail}".strip())
        self.kind = kind


class Trainer:
    """One client's ask and tell, each request bounded by `timeout`; a fresh session after a failure."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.url = f"{base_url}/v1/studies/{STUDY}"
        self.timeout = timeout
        self.session = requests.Session()

    def _post(self, op: str, body: dict[str, Any], expected: int) -> Any:
        try:
            with self.session.post(f"{self.url}/{op}", json=body, timeout=self.timeout) as response:
                if response.status_code != expected:
                    raise Failed(str(response.status_code), response.text[:200])
                return response.json()
        except requests.Timeout:
            self._renew()
            raise Failed("timeout") from None
        except requests.RequestException as error:
            self._renew()
            raise Failed("connection", type(error).__name__) from None

    def _renew(self) -> None:
        self.session.close()
        self.session = requests.Session()

    def ask(self) -> int:
        return int(self._post("ask", {"count": 1}, 201)["trials"][0]["number"])

    def tell(self, number: int) -> None:
        self._post("tell", {"number": number, "value": float(number % 97)}, 200)


def trainer_pair(config: dict[str, Any], seed: int) -> tuple[Any, Any]:
    """harness.PairFactory: the (ask, tell) of one client process."""
    trainer = Trainer(config["base_url"], float(config["timeout"]))
    return trainer.ask, trainer.tell


class StockGthread(Server):
    """The baseline: stock gunicorn, gthread worker, on the same app and database, defaults otherwise."""

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", str(self.workers),
                "--threads", str(SERVER_THREADS), "--bind", f"127.0.0.1:{port}", "suggest_api.app:create_app()"]

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "SUGGEST_DATABASE_URL": self.database_url, "OPENBLAS_NUM_THREADS": "1",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def start(self) -> None:
        """`suggest-api migrate` first: plain gunicorn runs no migrations."""
        done = subprocess.run([sys.executable, "-m", "suggest_api.cli", "migrate", "--database-url", self.database_url],
                              env=self.environment(), cwd=self.cwd, capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode != 0:
            raise BenchmarkError(f"suggest-api migrate failed: {done.stderr[-500:]}")
        super().start()


SERVERS: tuple[tuple[str, type[Server]], ...] = (("suggest-api serve", Server), ("stock gthread", StockGthread))


@dataclass
class Result:
    """One server: both windows, and what the hostile connections saw."""

    server: str
    unloaded: Measured
    loaded: Measured
    hostile: dict[str, Any]
    ready: bool


def pair_ms(measured: Measured) -> list[float]:
    return [ask + tell for ask, tell in zip(measured.ask_ms, measured.tell_ms, strict=True)]


def p(measured: Measured, q: float) -> float:
    return percentile(pair_ms(measured), q)


class Hostile(BenchmarkRun):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.hold_s: float = args.hold if args.hold is not None else HOLD_S["quick" if args.quick else "full"]
        self.counts = {"slow_headers": args.slow_headers, "slow_bodies": args.slow_bodies, "idle": args.idle}
        self.request_timeout: float = args.request_timeout
        self.results: list[Result] = []

    def run(self) -> None:
        for label, kind in SERVERS:
            self.section(label, functools.partial(self.measure, label, kind))

    def database(self, purpose: str) -> str:
        if self.postgres is not None:
            return self.postgres.create(purpose)
        return f"sqlite:///{self.workdir / purpose}.db"

    def measure(self, label: str, kind: type[Server]) -> None:
        purpose = "ours" if kind is Server else "stock"
        scratch = self.workdir / purpose
        scratch.mkdir()
        database_url = self.database(purpose)
        server = kind(database_url, WORKERS, scratch / "server.log", scratch)
        log(f"{label}: starting ({WORKERS} workers x {SERVER_THREADS} threads)")
        server.start()
        try:
            with requests.Session() as http:
                create_study(http, server.base_url, STUDY, seed=1)
            warm_up = Trainer(server.base_url, self.request_timeout)
            for _ in range(WARMUP_PAIRS):
                warm_up.tell(warm_up.ask())
            warm_up.session.close()  # no connection of this process is inherited by the forked clients
            configs = [{"base_url": server.base_url, "timeout": self.request_timeout} for _ in range(CLIENTS)]
            log(f"{label}: {self.duration_s:g} s unloaded")
            unloaded = self.run_clients(trainer_pair, 0, configs, server, None)
            log(f"{label}: hostile load {self.counts}, {self.duration_s:g} s loaded, held {self.hold_s:g} s in all")
            counts = self.counts
            with HostileLoad(server.base_url, scratch / "hostile", slow_headers=counts["slow_headers"],
                             slow_bodies=counts["slow_bodies"], idle=counts["idle"], interval=TRICKLE_S, study=STUDY,
                             seconds=self.hold_s + self.duration_s + 300) as load:
                started = time.monotonic()
                ready = load.wait_ready(HOSTILE_READY_S)
                if not ready:
                    log(f"{label}: the hostile load did not hold all its connections within {HOSTILE_READY_S:g} s")
                loaded = self.run_clients(trainer_pair, 0, configs, server, None)
                time.sleep(max(0.0, self.hold_s - (time.monotonic() - started)))
                summary = load.stop()
        finally:
            server.stop()
        self.results.append(Result(label, unloaded, loaded, summary, ready))

    def report(self) -> str:
        counts = self.counts
        lines = [f"Hostile clients: {counts['slow_headers']} slow headers + {counts['slow_bodies']} slow bodies + "
                 f"{counts['idle']} idle keep-alive (workloads.hostile, a byte or header line every {TRICKLE_S:g} s), "
                 f"{CLIENTS} trainer processes, {self.duration_s:g} s windows, request timeout "
                 f"{self.request_timeout:g} s, hostile load held {self.hold_s:g} s",
                 f"  machine:  {usable_cores()} usable cores ({cpu_model()}), {platform.platform()}, "
                 f"Python {platform.python_version()}; gunicorn {version('gunicorn')}",
                 f"  database: {'PostgreSQL ' + self.postgres_note if self.postgres is not None else 'SQLite file'}",
                 "", "Trainers' ask+tell pairs (latency of the answered ones, ms)"]
        rows = []
        for result in self.results:
            unloaded_p99 = p(result.unloaded, 99)
            for window, measured in (("unloaded", result.unloaded), ("loaded", result.loaded)):
                kinds = measured.error_kinds
                other = measured.errors - kinds.get("timeout", 0) - kinds.get("503", 0)
                ratio = p(measured, 99) / unloaded_p99 if window == "loaded" else math.nan
                target = "" if math.isnan(ratio) or result.server != SERVERS[0][0] else (
                    " ok" if ratio <= RATIO_TARGET else f" over {RATIO_TARGET:g}x")
                rows.append([result.server, window, str(measured.pairs), f"{measured.rate:.1f}",
                             ms(p(measured, 50)), ms(p(measured, 99)), str(kinds.get("timeout", 0)),
                             str(kinds.get("503", 0)), str(other),
                             "-" if math.isnan(ratio) else f"{ratio:.2f}x{target}"])
        lines += table(["server", "window", "pairs", "pairs/s", "p50", "p99", "timeouts", "503", "other errors",
                        "p99 loaded/unloaded"], rows, left=2)
        lines += ["", "Hostile connections: how long the server held them before cutting them (s); "
                      "open = still held when the load stopped"]
        rows = []
        for result in self.results:
            for kind, k in result.hostile["kinds"].items():
                statuses = ", ".join(f"{s} x{n}" for s, n in sorted(k["statuses"].items())) or "-"
                never = {o: n for o, n in k["outcomes"].items() if o not in ("eof", "reset", "open")}
                rows.append([result.server, kind, str(result.hostile["targets"][kind]), str(k["opened"]),
                             str(k["cut"]), _seconds(k["held_s"]["p50"]), _seconds(k["held_s"]["max"]),
                             f"{k['open_at_end']} (oldest {_seconds(k['oldest_open_s'])})", statuses,
                             ", ".join(f"{o} x{n}" for o, n in sorted(never.items())) or "-"])
        lines += table(["server", "kind", "target", "opened", "cut", "held p50", "held max", "open at end",
                        "answered before the cut", "never held"], rows, left=2)
        not_ready = [r.server for r in self.results if not r.ready]
        if not_ready:
            lines.append(f"  the hostile load never held all its connections at once against: {', '.join(not_ready)}")
        if self.failures:
            lines += ["", "FAILED:", *(f"  {failure}" for failure in self.failures)]
        return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"3 s windows and {HOLD_S['quick']:g} s of hostile load per server (instead of 10 s and "
                             f"{HOLD_S['full']:g} s): slow bodies are not cut within it")
    parser.add_argument("--duration", type=float, metavar="S", help="seconds per window (overrides --quick's 3 s)")
    parser.add_argument("--hold", type=float, metavar="S", help="seconds of hostile load per server, at least")
    parser.add_argument("--slow-headers", type=int, default=200, metavar="N")
    parser.add_argument("--slow-bodies", type=int, default=200, metavar="N")
    parser.add_argument("--idle", type=int, default=500, metavar="N")
    parser.add_argument("--request-timeout", type=float, default=5.0, metavar="S",
                        help="each client request's timeout; a pair that hits it counts as a timeout")
    parser.add_argument("--postgres-url", metavar="URL",
                        default=os.environ.get("SUGGEST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help="a PostgreSQL database whose user may CREATE DATABASE; scratch databases are created "
                             f"next to it and dropped at the end (default $SUGGEST_TEST_POSTGRES_URL or "
                             f"{DEFAULT_POSTGRES_URL})")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite files instead of PostgreSQL")
    args = parser.parse_args()
    if args.duration is not None and not 0.5 <= args.duration <= 600:
        parser.error("--duration must be between 0.5 and 600 seconds")
    return args


def main() -> int:
    return run_benchmark(Hostile, parse_args())


if __name__ == "__main__":
    sys.exit(main())
