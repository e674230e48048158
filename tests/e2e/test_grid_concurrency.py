"""Eight clients exhaust one grid study through two gunicorn workers: every point once, numbers gap-free.

Only real worker processes racing on a real database can break the cursor arithmetic: if two asks
ever read the same position, a point goes out twice and another never.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from suggest_api.space import SearchSpace
from suggest_api.suggesters.grid_points import GridPoints
from suggest_api.suggesters.permutation import SeededPermutation
from tests.e2e.support import Reply, all_trials, call, expect, in_threads
from tests.support.servers import StartServer

SEED = 20_240_611
SPACE: dict[str, Any] = {"params": [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.9, "step": 0.3, "when": {"optimizer": ["sgd"]}},
    {"name": "nesterov", "type": "categorical", "choices": [True, False], "when": {"optimizer": ["sgd"]}},
    {"name": "layers", "type": "int", "low": 1, "high": 3},
]}
GRID_POINTS = 4  # lr takes 4 values: 4 * (sgd 4 * 2 + adam 1 + rmsprop 1) * 3 layers = 120 points


@dataclass
class ClientLog:
    """What one client thread was handed, and the answer that ended its loop."""

    trials: dict[int, dict[str, Any]] = field(default_factory=dict)
    refused: list[Reply] = field(default_factory=list)
    exhausted: Reply | None = None


def ask_until_exhausted(base_url: str, client: int) -> ClientLog:
    """Ask with counts cycling 1, 2, 3 (the thread's offset) until the grid answers 409."""
    log = ClientLog()
    with requests.Session() as session:
        for round_ in range(1000):
            count = 1 + (client + round_) % 3
            reply = call(session, "POST", f"{base_url}/v1/studies/grid/ask", json_body={"count": count})
            if reply.status == 409:
                log.exhausted = reply
                return log
            if reply.status != 201:
                log.refused.append(reply)
                continue
            assert 1 <= len(reply.body["trials"]) <= count, reply.body
            for trial in reply.body["trials"]:
                assert trial["number"] not in log.trials
                log.trials[trial["number"]] = trial["params"]
    raise AssertionError(f"client {client} never saw the grid run out")


def key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


@pytest.mark.slow
def test_parallel_asks_cover_a_shuffled_grid_exactly_once(serve: StartServer, database_url: str,
                                                          http: requests.Session) -> None:
    grid = GridPoints(SearchSpace.from_json(SPACE), GRID_POINTS)
    size = grid.size
    assert size == 120
    order = SeededPermutation(size, SEED)
    server = serve(database_url, workers=2)
    body = {"name": "grid", "space": SPACE, "objective": {"name": "loss", "goal": "minimize"}, "seed": SEED,
            "suggester": {"name": "grid", "options": {"shuffle": True, "grid_points": GRID_POINTS}}}
    expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=body), 201)

    logs = in_threads(8, lambda client: ask_until_exhausted(server.base_url, client))

    assert [reply for log in logs for reply in log.refused] == []
    for log in logs:
        assert log.exhausted is not None and log.exhausted.is_problem
        assert log.exhausted.body["type"] == "urn:suggest-api:problem:grid-exhausted"
        assert log.exhausted.body["grid_size"] == size
    handed = {number: params for log in logs for number, params in log.trials.items()}
    assert sum(len(log.trials) for log in logs) == len(handed) == size, "a number was handed out twice"
    assert sorted(handed) == list(range(size))
    points = [key(params) for params in handed.values()]
    assert len(set(points)) == size, "a point was handed out twice"
    assert set(points) == {key(grid.point(n)) for n in range(size)}
    # However the asks interleaved, trial k holds the point at position k of the seeded order.
    assert all(handed[k] == grid.point(order(k)) for k in range(size))

    stored = all_trials(http, server.base_url, "grid")
    assert [t["number"] for t in stored] == list(range(size))
    assert {t["number"]: t["params"] for t in stored} == handed
    counts = expect(call(http, "GET", f"{server.base_url}/v1/studies/grid"), 200)["trial_counts"]
    assert counts["total"] == counts["running"] == size
