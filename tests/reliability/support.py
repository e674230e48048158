"""Helpers for the reliability scenarios: client fleets, what they saw, and what the database holds.

A `Fleet` runs load-generating trainers (`python -m tests.reliability.load`) as separate processes,
starts them at one moment, stops them, and always kills what is left. `Tally` merges what the
clients wrote; `stored` reads the database directly, with no server in between, so a test compares
what clients were told with what is really stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from suggest_api.storage.database import make_engine, normalize_url
from suggest_api.storage.models import StudyRow, TrialRow

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 120.0  # 16 interpreters importing requests on two busy cores
#: Per server: a pool that fits two servers x 4 workers under PostgreSQL's 100 connections.
POOL_ENV = {"SUGGEST_POOL_SIZE": "4", "SUGGEST_MAX_OVERFLOW": "4"}
STATES = {"running", "completed", "failed", "pruned"}


class Figures:
    """What one test measured, keyed by scenario name (the `figures` fixture; printed at the end)."""

    def __init__(self, store: dict[str, dict[str, Any]]) -> None:
        self._store = store

    def record(self, scenario: str, **figures: Any) -> None:
        given = {name: value for name, value in figures.items() if value is not None}
        self._store[scenario] = {**self._store.get(scenario, {}), **given}


# --- client processes -----------------------------------------------------------------------------


class Fleet:
    """Client processes of one scenario, with their go and stop files and their JSON reports."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.dir = workdir / f"fleet-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.go_file = self.dir / "go"
        self.stop_file = self.dir / "stop"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.outputs: list[Path] = []
        self.started_at = 0.0

    def start(self, count: int, mode: str, urls: Sequence[str], study: str, *options: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        for _ in range(count):
            index = len(self.processes)
            out = self.dir / f"client-{index}.json"
            args = [sys.executable, "-m", "tests.reliability.load", mode, "--study", study, "--out", str(out),
                    "--index", str(index), "--go-file", str(self.go_file), "--stop-file", str(self.stop_file),
                    *(arg for url in urls for arg in ("--url", url)), *options]
            with open(self.dir / f"client-{index}.log", "wb") as log:
                self.processes.append(subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                                       stdout=log, stderr=subprocess.STDOUT))
            self.outputs.append(out)

    def go(self) -> float:
        """Wait until every client is ready, then release them all at once; the wall time of the start."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(Path(str(out) + ".ready").exists() for out in self.outputs):
            exited = [p.args for p in self.processes if p.poll() is not None]
            if exited:
                raise AssertionError(f"a client exited before the start: {exited[0]!r}\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"clients not ready after {READY_TIMEOUT_S} s\n{self.logs()}")
            time.sleep(0.05)
        self.started_at = time.time()
        self.go_file.touch()
        return self.started_at

    def stop(self) -> None:
        self.stop_file.touch()

    def running(self) -> bool:
        return any(p.poll() is None for p in self.processes)

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        """Every client's report once all have exited; a client still running at the deadline fails the test."""
        deadline = time.monotonic() + timeout
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        hung = [p.args for p in self.processes if p.poll() is None]
        self.kill()
        assert not hung, f"{len(hung)} clients did not finish in {timeout} s\n{self.logs()}"
        missing = [str(out) for out in self.outputs if not out.exists()]
        assert not missing, f"clients wrote no report: {missing}\n{self.logs()}"
        reports = [json.loads(out.read_text(encoding="utf-8")) for out in self.outputs]
        for report, process in zip(reports, self.processes, strict=True):
            report["returncode"] = process.returncode
        return reports

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)

    def logs(self, lines: int = 10) -> str:
        tails = []
        for path in sorted(self.dir.glob("client-*.log")):
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            if text:
                tails.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(tails)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
        self.kill()


def sleep_while(fleet: Fleet, seconds: float) -> None:
    """Sleep, but stop early when every client has exited already (a crash shows up in the asserts)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and fleet.running():
        time.sleep(0.1)


# --- what the clients saw -------------------------------------------------------------------------


@dataclass
class Tally:
    """Every client's report merged: requests, statuses, acknowledged asks and tells."""

    reports: list[dict[str, Any]]
    requests: list[tuple[float, float, str, int | str, int]] = field(default_factory=list)
    #: trial number -> every (client, params) it was handed to; more than one entry is a duplicate.
    asked: dict[int, list[tuple[int, Any]]] = field(default_factory=dict)
    #: trial number -> every value a 200 acknowledged for it.
    told: dict[int, list[float]] = field(default_factory=dict)
    abandoned: set[int] = field(default_factory=set)
    retries: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for report in self.reports:
            client = report["client"]
            self.requests += [(start, end, op, status, client) for start, end, op, status in report["requests"]]
            for number, params in report["asked"]:
                self.asked.setdefault(number, []).append((client, params))
            for number, value in report["told"]:
                self.told.setdefault(number, []).append(value)
            self.abandoned.update(report["abandoned"])
            self.retries.update(report.get("retries") or {})
        self.requests.sort()

    @property
    def sent(self) -> int:
        """Requests that went out: recorded attempts plus the Python client's silent retries."""
        return len(self.requests) + sum(self.retries.values())

    def statuses(self, op: str | None = None) -> Counter[int | str]:
        return Counter(status for _, _, o, status, _ in self.requests if op is None or o == op)

    def errors(self) -> dict[str, int]:
        """Every answer that was not a 2xx, by status (`connection`, `timeout`: no answer), plus retries."""
        counted: Counter[str] = Counter()
        for status, count in self.statuses().items():
            if not (isinstance(status, int) and 200 <= status < 300):
                counted[str(status)] += count
        for cause, count in self.retries.items():
            counted[f"retried {cause}"] += count
        return dict(sorted(counted.items()))

    @property
    def duplicates(self) -> int:
        """Trial numbers handed out more than once (to two clients, or twice to one)."""
        return sum(len(holders) - 1 for holders in self.asked.values())

    @property
    def told_values(self) -> dict[int, float]:
        return {number: values[-1] for number, values in self.told.items()}

    def client_errors(self) -> list[str]:
        return [f"client {r['client']}: {e}" for r in self.reports for e in r["errors"]]

    def span(self) -> float:
        """Seconds from the first request sent to the last answer."""
        return max(end for _, end, *_ in self.requests) - self.requests[0][0] if self.requests else 0.0

    def max_latency(self) -> float:
        return max((end - start for start, end, *_ in self.requests), default=0.0)


# --- what the database holds ----------------------------------------------------------------------


def stored(database_url: str, study: str) -> list[dict[str, Any]]:
    """Every trial row of `study`, by number, read straight from the database."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            trials = TrialRow.__table__
            rows = connection.execute(
                select(trials).join(StudyRow.__table__, trials.c.study_id == StudyRow.__table__.c.id)
                .where(StudyRow.__table__.c.name == study).order_by(trials.c.number))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def lost(rows: Iterable[dict[str, Any]], tally: Tally) -> list[str]:
    """Acknowledged things the database does not hold: asks without their trial (or with other params),
    tells without their result."""
    by_number = {row["number"]: row for row in rows}
    missing = []
    for number, holders in tally.asked.items():
        row = by_number.get(number)
        if row is None:
            missing.append(f"asked trial {number} is not stored")
        elif any(params != row["params"] for _, params in holders):
            missing.append(f"trial {number} was handed out with params {holders[0][1]}, stored {row['params']}")
    for number, value in tally.told_values.items():
        row = by_number.get(number)
        if row is None or row["state"] != "completed" or row["value"] != value:
            got = None if row is None else (row["state"], row["value"])
            missing.append(f"told trial {number} = {value}, stored {got}")
    return missing


def malformed(rows: Iterable[dict[str, Any]], param_names: set[str]) -> list[str]:
    """Rows that are not whole: params missing or unknown, a state outside the four, a finished trial
    without its finish time, a completed one without a value, a running one with one."""
    bad = []
    for row in rows:
        params, state = row["params"], row["state"]
        problems = []
        if not isinstance(params, dict) or not params or not set(params) <= param_names:
            problems.append(f"params {params!r}")
        if state not in STATES:
            problems.append(f"state {state!r}")
        if state == "completed" and (row["value"] is None or row["finished_at"] is None):
            problems.append("completed without value or finished_at")
        if state == "running" and (row["value"] is not None or row["finished_at"] is not None):
            problems.append("running with a value or finished_at")
        if state in {"failed", "pruned"} and row["finished_at"] is None:
            problems.append(f"{state} without finished_at")
        if problems:
            bad.append(f"trial {row['number']}: " + ", ".join(problems))
    return bad


def gaps(rows: Sequence[dict[str, Any]]) -> int:
    """How far the stored numbers are from exactly 0..n-1 (missing numbers plus repeated ones)."""
    numbers = [row["number"] for row in rows]
    return len(set(range(len(numbers))) ^ set(numbers)) + len(numbers) - len(set(numbers))


# --- what the servers logged ---------------------------------------------------------------------


def log_records(log_text: str) -> list[dict[str, Any]]:
    """The server's JSON log lines, parsed (anything else, e.g. a raw traceback line, is skipped)."""
    records = []
    for line in log_text.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


def server_failures(log_text: str) -> list[str]:
    """Log lines of 5xx answers other than 503, and of unhandled errors: none may appear."""
    bad = []
    for record in log_records(log_text):
        status = record.get("status")
        if (isinstance(status, int) and status >= 500 and status != 503) or record.get("message") == "unhandled error":
            bad.append(json.dumps(record)[:500])
    return bad


def booted_workers(log_text: str) -> set[int]:
    """Pids of the gunicorn workers the master booted ("Booting worker with pid: N")."""
    marker = "Booting worker with pid: "
    return {int(r["message"].split(marker, 1)[1]) for r in log_records(log_text)
            if marker in str(r.get("message", ""))}


# --- PostgreSQL scratch databases -----------------------------------------------------------------


def admin_conninfo(base_url: str) -> str:
    return make_url(normalize_url(base_url)).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(base_url: str, purpose: str) -> tuple[str, str]:
    """A new empty database beside `base_url`'s: (its name, its SQLAlchemy URL)."""
    name = f"suggest_rel_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_conninfo(base_url), autocommit=True, connect_timeout=10) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, make_url(normalize_url(base_url)).set(database=name).render_as_string(hide_password=False)


def drop_database(base_url: str, name: str) -> None:
    with psycopg.connect(admin_conninfo(base_url), autocommit=True, connect_timeout=30) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
