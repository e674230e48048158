"""Database restart: PostgreSQL stops (fast mode) mid-load, stays down ~3 s, and starts again.

While it is down every request is answered at once with a 503 problem+json carrying Retry-After
(never a 500, never a hang); once it accepts connections again the service answers 2xx within
seconds, without a restart of its own; and nothing a client was told is lost. PostgreSQL is
started again in a `finally`, whatever happens: other tests need it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from suggest_api.storage.database import normalize_url
from tests.conftest import POSTGRES_URL
from tests.e2e.support import SPACE, call, expect, study_body
from tests.reliability.support import (
    POOL_ENV,
    Figures,
    Fleet,
    Tally,
    gaps,
    lost,
    malformed,
    server_failures,
    stored,
)
from tests.support.servers import StartServer

CLIENTS = 6
WORKERS = 2
BEFORE_S = 2.0  # load before the stop
DOWN_S = 3.0  # how long PostgreSQL stays down
AFTER_S = 4.0  # load after PostgreSQL is back
RECOVERY_BOUND_S = 5.0  # the figure: 2xx again within 5 s of the database accepting connections
HANG_BOUND_S = 10.0  # no request may take longer, outage or not
PG_TIMEOUT_S = 120.0
UNAVAILABLE = "urn:suggest-api:problem:database-unavailable"
POSTGRES_ADDRESS = make_url(normalize_url(POSTGRES_URL))


def _cluster() -> str | None:
    """The local cluster's version (`/etc/postgresql/<version>/main`), when we can stop and start it."""
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*") if (p / "main").is_dir())
    local = POSTGRES_ADDRESS.host in {"127.0.0.1", "localhost"} and (POSTGRES_ADDRESS.port or 5432) == 5432
    if not versions or not local or shutil.which("pg_ctlcluster") is None or shutil.which("pg_isready") is None:
        return None
    return versions[-1]


def pg_ctl(version: str, *action: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", *action],
                   check=True, capture_output=True, timeout=PG_TIMEOUT_S)


def pg_ready() -> bool:
    host, port = POSTGRES_ADDRESS.host or "127.0.0.1", str(POSTGRES_ADDRESS.port or 5432)
    return subprocess.run(["pg_isready", "-q", "-h", host, "-p", port, "-t", "1"],
                          check=False, timeout=30).returncode == 0


def wait_ready(timeout: float = PG_TIMEOUT_S) -> float:
    """Poll pg_isready; the wall time of its first success."""
    deadline = time.monotonic() + timeout
    while not pg_ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"PostgreSQL not accepting connections {timeout} s after the start")
        time.sleep(0.02)
    return time.time()


@pytest.fixture
def cluster() -> Iterator[str]:
    """The local PostgreSQL cluster, running again after the test whatever it did."""
    version = _cluster()
    if version is None:
        pytest.fail("needs the local PostgreSQL cluster on 127.0.0.1:5432 and pg_ctlcluster to restart it "
                    "(as on the CI machine)")
    try:
        yield version
    finally:
        if not pg_ready():
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                           check=False, capture_output=True, timeout=PG_TIMEOUT_S)
            wait_ready()


@pytest.mark.postgres
@pytest.mark.slow
def test_database_restart_answers_503_then_recovers_and_keeps_everything(
        cluster: str, serve: StartServer, scratch_postgres: Callable[[str], str], tmp_path: Path,
        figures: Figures) -> None:
    database_url = scratch_postgres("restart")
    server = serve(database_url, workers=WORKERS, env=POOL_ENV)
    with requests.Session() as http:
        expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=study_body("restart")), 201)

    with Fleet(tmp_path, "restart") as fleet:
        # --pause 0.2: retry sooner than Retry-After, so the first 2xx shows when the service recovered.
        fleet.start(CLIENTS, "raw", [server.base_url], "restart", "--pause", "0.2")
        fleet.go()
        time.sleep(BEFORE_S)
        stop_sent = time.time()
        pg_ctl(cluster, "stop", "-m", "fast")
        down_at = time.time()
        time.sleep(DOWN_S)
        start_sent = time.time()
        # pg_isready is polled while pg_ctlcluster is still starting the server (it returns only
        # after a checkpoint or two), so `ready_at` is when connections were first accepted.
        starting = subprocess.Popen(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ready_at = wait_ready()
        finally:
            assert starting.wait(PG_TIMEOUT_S) == 0, "pg_ctlcluster start failed"
        time.sleep(AFTER_S)
        fleet.stop()
        reports = fleet.wait(timeout=60)
    with requests.Session() as http:
        readyz = call(http, "GET", f"{server.base_url}/readyz")

    tally = Tally(reports)
    rows = stored(database_url, "restart")
    missing = lost(rows, tally)
    statuses = tally.statuses()
    during = [status for start, end, _, status, _ in tally.requests if start >= down_at and end <= start_sent]
    first_ok = min((end for _, end, op, status, _ in tally.requests if op == "ask" and status == 201
                    and end > down_at), default=None)
    recovery = None if first_ok is None else first_ok - ready_at
    problems = [p for r in reports for p in r["problems"]]
    bad_503 = [b for r in reports for b in r["bad_503"]]
    orphans = sorted(set(row["number"] for row in rows) - set(tally.asked))
    figures.record("database restart", requests=tally.sent, errors=tally.errors(), lost=len(missing),
                   duplicates=tally.duplicates, recovery_s=recovery, max_latency_s=round(tally.max_latency(), 3),
                   requests_while_down=len(during), stop_s=round(down_at - stop_sent, 2),
                   down_s=round(ready_at - down_at, 2), trials=len(rows), orphans=len(orphans), gaps=gaps(rows),
                   bad_503=len(bad_503), server_failures=len(server_failures(server.log_text)))

    assert tally.client_errors() == []
    assert [r["returncode"] for r in reports] == [0] * CLIENTS
    assert len(during) >= CLIENTS, "hardly any request was sent while the database was down"
    assert set(during) == {503}, f"while the database was down: {sorted(map(str, during))}"
    assert set(statuses) <= {200, 201, 503}, statuses
    assert bad_503 == [], bad_503[:3]
    assert all(p["content_type"] == "application/problem+json" and p["body"]["status"] == 503
               and p["body"]["type"] == UNAVAILABLE for p in problems), problems[:3]
    assert tally.max_latency() < HANG_BOUND_S
    assert recovery is not None, "no ask succeeded after the database came back"
    assert recovery < RECOVERY_BOUND_S, f"first 2xx ask {recovery:.2f} s after the database accepted connections"
    assert readyz.status == 200, readyz.body
    assert missing == []
    assert tally.duplicates == 0
    assert [row["number"] for row in rows] == list(range(len(rows))), "stored numbers are not 0..n-1"
    # A trial no client holds can only come from an ask whose commit landed as the database went
    # away: it is still running, never told.
    assert all(rows[number]["state"] == "running" for number in orphans)
    assert malformed(rows, {p["name"] for p in SPACE["params"]}) == []
    assert server_failures(server.log_text) == []
