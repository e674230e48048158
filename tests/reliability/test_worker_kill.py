"""Worker kill: a random gunicorn worker is SIGKILLed every second while trainers ask and tell through
the Python client (retries with one Idempotency-Key per call).

A worker that dies mid-request takes its transaction with it (PostgreSQL rolls it back) or dies
after the commit, before its answer left; either way the client retries with the same key and gets
one trial, never two. So the database holds exactly one trial per ask the clients made, numbered
0..n-1, every acknowledged tell with its value, and no half-written row.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.e2e.support import SPACE, call, expect, study_body
from tests.reliability.support import (
    POOL_ENV,
    Figures,
    Fleet,
    Tally,
    booted_workers,
    gaps,
    lost,
    malformed,
    server_failures,
    stored,
)
from tests.support.servers import StartServer, children

CLIENTS = 8
ROUNDS = 80  # ask + tell pairs per client: about 10 s of load, 10 kills
WORKERS = 4
KILL_EVERY_S = 1.0
RUN_LIMIT_S = 180.0  # the clients' loops must end well before this, kills or not


@pytest.mark.postgres
@pytest.mark.slow
def test_sigkilled_workers_lose_and_double_nothing(serve: StartServer, scratch_postgres: Callable[[str], str],
                                                   tmp_path: Path, figures: Figures) -> None:
    database_url = scratch_postgres("kill")
    server = serve(database_url, workers=WORKERS, env=POOL_ENV)
    with requests.Session() as http:
        expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=study_body("kill")), 201)

    rng = random.Random(20261122)
    kills: list[int] = []
    with Fleet(tmp_path, "kill") as fleet:
        fleet.start(CLIENTS, "client", [server.base_url], "kill", "--rounds", str(ROUNDS), "--retries", "10")
        fleet.go()
        deadline = time.monotonic() + RUN_LIMIT_S
        while fleet.running() and time.monotonic() < deadline:
            time.sleep(KILL_EVERY_S)
            workers = sorted(set(children(server.pid)) & booted_workers(server.log_text))
            if workers and fleet.running():
                victim = rng.choice(workers)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)
        reports = fleet.wait(timeout=30)

    tally = Tally(reports)
    rows = stored(database_url, "kill")
    missing = lost(rows, tally)
    failed_asks = sum(1 for r in reports for e in r["errors"] if e.startswith("ask"))
    orphans = sorted(set(row["number"] for row in rows) - set(tally.asked))
    figures.record("worker kill", requests=tally.sent, errors=tally.errors(), lost=len(missing),
                   duplicates=tally.duplicates, kills=len(kills), trials=len(rows), asks=CLIENTS * ROUNDS,
                   orphans=len(orphans), gaps=gaps(rows), load_s=round(tally.span(), 1),
                   server_failures=len(server_failures(server.log_text)))

    assert len(kills) >= 3, f"only {len(kills)} workers were killed: the load ended too soon to test anything"
    assert tally.client_errors() == [], "the client's retries should absorb every killed worker"
    assert [(r["returncode"], r["finished"], len(r["asked"])) for r in reports] == [(0, True, ROUNDS)] * CLIENTS
    assert tally.duplicates == 0
    assert missing == []
    assert [row["number"] for row in rows] == list(range(len(rows))), "stored numbers are not 0..n-1"
    # The heart of it: one trial per ask made. A retried ask that created a second trial would leave
    # a trial no client holds (an orphan) and more rows than asks.
    assert orphans == [] and failed_asks == 0
    assert len(rows) == CLIENTS * ROUNDS
    assert malformed(rows, {p["name"] for p in SPACE["params"]}) == []
    assert {row["number"]: (row["state"], row["value"]) for row in rows} == {
        number: ("completed", value) for number, value in tally.told_values.items()}
    assert server_failures(server.log_text) == []
