"""Scale-out: two `suggest-api serve` processes (4 workers each) on one PostgreSQL database, one study,
16 client processes asking and telling at once.

Nothing is lost, doubled or handed out twice: the stored numbers are exactly 0..n-1, no number
reached two clients, every acknowledged ask is stored with the params the client got, and the
completed trials are exactly the acknowledged tells, with their values. On a grid study no point is
handed out twice, and the grid runs out exactly at its size (`grid-exhausted` 409s at the end).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import POSTGRES_URL
from tests.e2e.support import SPACE, call, expect
from tests.reliability.support import (
    POOL_ENV,
    Figures,
    Fleet,
    Tally,
    create_database,
    drop_database,
    gaps,
    lost,
    malformed,
    sleep_while,
    stored,
)
from tests.support.servers import Server, start_server

CLIENTS = 16
WORKERS = 4
RANDOM_SECONDS = 10.0
GRID_SAFETY_SECONDS = 90.0  # the grid run ends when the grid does; this only bounds a stuck run
# 30 x 4 x 10 = 1,200 points: a few seconds of this load, so the run ends by exhausting the grid.
GRID_SPACE: dict[str, Any] = {"params": [
    {"name": "layers", "type": "int", "low": 1, "high": 30},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop", "adagrad"]},
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
]}
GRID_POINTS = 10
GRID_SIZE = 30 * 4 * GRID_POINTS


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Server]]]:
    """Two servers on one scratch database, shared by the random and the grid run."""
    workdir = tmp_path_factory.mktemp("scale-out")
    name, url = create_database(POSTGRES_URL, "scale")
    started: list[Server] = []
    try:
        # One after the other: both migrate at start-up (under a lock), and two cores boot 8 workers.
        for _ in range(2):
            start_server(url, workdir, started, workers=WORKERS, env=POOL_ENV)
        yield url, started
    finally:
        hung = [server.base_url for server in started if not server.stop()]
        drop_database(POSTGRES_URL, name)
    assert not hung, f"servers ignored SIGTERM and were killed: {hung}"


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("suggester", ["random", "grid"])
def test_two_servers_hand_out_every_number_once(two_servers: tuple[str, list[Server]], suggester: str,
                                                tmp_path: Path, figures: Figures) -> None:
    database_url, servers = two_servers
    urls = [server.base_url for server in servers]
    study = f"scale-{suggester}"
    body: dict[str, Any] = {"name": study, "objective": {"goal": "minimize"}, "seed": 11}
    if suggester == "grid":
        body |= {"space": GRID_SPACE, "suggester": {"name": "grid",
                                                    "options": {"grid_points": GRID_POINTS, "shuffle": True}}}
    else:
        body |= {"space": SPACE}
    with requests.Session() as http:
        expect(call(http, "POST", f"{urls[0]}/v1/studies", json_body=body), 201)

    with Fleet(tmp_path, suggester) as fleet:
        # Every fourth client asks 4 trials at once: longer transactions, and a grid's last partial answer.
        for index in range(CLIENTS):
            fleet.start(1, "raw", urls, study, "--count", "4" if index % 4 == 0 else "1", "--seed", "1")
        fleet.go()
        if suggester == "random":
            sleep_while(fleet, RANDOM_SECONDS)
            fleet.stop()
            reports = fleet.wait(timeout=60)
        else:
            reports = fleet.wait(timeout=GRID_SAFETY_SECONDS)

    tally = Tally(reports)
    rows = stored(database_url, study)
    statuses = tally.statuses()
    exhausted = [r for r in reports if r["exhausted"]]
    missing = lost(rows, tally)
    distinct_points = len({json.dumps(row["params"], sort_keys=True) for row in rows})
    figures.record(f"scale-out {suggester}", requests=tally.sent, errors=tally.errors(), lost=len(missing),
                   duplicates=tally.duplicates, trials=len(rows), gaps=gaps(rows),
                   told=len(tally.told), completed=sum(row["state"] == "completed" for row in rows),
                   repeated_points=len(rows) - distinct_points if suggester == "grid" else None,
                   clients_exhausted=len(exhausted) if suggester == "grid" else None,
                   servers=len(servers), workers_per_server=WORKERS, clients=CLIENTS, load_s=round(tally.span(), 1))

    assert tally.client_errors() == []
    assert [r["returncode"] for r in reports] == [0] * CLIENTS
    assert tally.duplicates == 0, {n: h for n, h in tally.asked.items() if len(h) > 1}
    assert [row["number"] for row in rows] == list(range(len(rows))), "stored numbers are not 0..n-1"
    assert missing == []
    # No fault was injected, so every stored trial reached a client, and every one was told.
    assert sorted(tally.asked) == [row["number"] for row in rows]
    assert {row["number"]: row["value"] for row in rows if row["state"] == "completed"} == tally.told_values
    assert all(row["state"] == "completed" for row in rows)
    assert malformed(rows, {p["name"] for p in body["space"]["params"]}) == []
    if suggester == "random":
        assert set(statuses) <= {200, 201}, statuses
        assert len(rows) >= CLIENTS * 5, "the load barely ran"
    else:
        assert distinct_points == len(rows), "a grid point was handed out twice"
        assert len(exhausted) == CLIENTS, "a client stopped before the grid was exhausted"
        assert len(rows) == GRID_SIZE
        for name, size in (("layers", 30), ("optimizer", 4), ("lr", GRID_POINTS)):
            assert len({row["params"][name] for row in rows}) == size, name
        refused = [p for r in reports for p in r["problems"]]
        assert set(statuses) <= {200, 201, 409}, statuses
        assert all(p["status"] == 409 and p["body"]["type"].endswith("grid-exhausted") for p in refused), refused
        assert all(p["body"]["grid_size"] == GRID_SIZE for p in refused)

