"""The embedded default under load: a SQLite file, one server with 4 workers, 16 client processes
asking 500 trials each.

SQLite has one writer at a time; the service queues writers (BEGIN IMMEDIATE, busy timeout) so
nobody ever sees "database is locked": no 5xx at all, nothing about it in the server's log, and
the 8,000 trials are numbered 0..7,999, each handed to exactly one client.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.e2e.support import SPACE, call, expect, study_body
from tests.reliability.support import Figures, Fleet, Tally, gaps, lost, malformed, server_failures, stored
from tests.support.servers import StartServer

CLIENTS = 16
ASKS = 500  # per client
WORKERS = 4


@pytest.mark.slow
def test_sqlite_file_takes_sixteen_clients_without_locking_errors(serve: StartServer, tmp_path: Path,
                                                                  figures: Figures) -> None:
    database_url = f"sqlite:///{tmp_path / 'embedded.db'}"
    server = serve(database_url, workers=WORKERS)
    with requests.Session() as http:
        expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=study_body("embedded")), 201)

    with Fleet(tmp_path, "embedded") as fleet:
        fleet.start(CLIENTS, "raw", [server.base_url], "embedded", "--rounds", str(ASKS), "--no-tell")
        fleet.go()
        reports = fleet.wait(timeout=240)

    tally = Tally(reports)
    rows = stored(database_url, "embedded")
    missing = lost(rows, tally)
    log = server.log_text
    locked_lines = [line for line in log.splitlines() if "locked" in line.lower()]
    problems = [p for r in reports for p in r["problems"]]
    figures.record("embedded sqlite", requests=tally.sent, errors=tally.errors(), lost=len(missing),
                   duplicates=tally.duplicates, trials=len(rows), gaps=gaps(rows), locked_log_lines=len(locked_lines),
                   max_latency_s=round(tally.max_latency(), 3), load_s=round(tally.span(), 1),
                   asks_per_s=round(len(rows) / tally.span(), 1) if tally.span() else None,
                   server_failures=len(server_failures(log)))

    assert tally.client_errors() == []
    assert [(r["returncode"], len(r["asked"])) for r in reports] == [(0, ASKS)] * CLIENTS
    assert set(tally.statuses()) == {201}, (tally.errors(), problems[:3])
    assert not any("locked" in str(p["body"]).lower() for p in problems)
    assert locked_lines == [], locked_lines[:5]
    assert tally.duplicates == 0
    assert missing == []
    assert [row["number"] for row in rows] == list(range(CLIENTS * ASKS))
    assert sorted(tally.asked) == list(range(CLIENTS * ASKS))
    assert malformed(rows, {p["name"] for p in SPACE["params"]}) == []
    assert server_failures(log) == []
