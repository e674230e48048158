"""A burst of many more clients than threads: each is served in turn or answered 503 with Retry-After by
the HTTP front (suggest_api/server/worker.py), and retrying with its Idempotency-Key loses nothing and
doubles nothing.

One worker with 2 threads and room for 2 queued requests (SUGGEST_MAX_QUEUED_REQUESTS=2) meets 120
clients released at once by a barrier, each on its own connection; every client asks for one trial and
tells it, retrying a 503 after its Retry-After with the same key. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.support import Reply, call, expect, study_body
from tests.reliability.support import Figures, server_failures, stored
from tests.support.servers import StartServer

CLIENTS = 120
DEADLINE_S = 120.0
BURST_ENV = {"SUGGEST_MAX_QUEUED_REQUESTS": "2"}


class Retried:
    """One client's requests: each is sent until it is not a 503, honouring Retry-After."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session
        self.refusals: list[Reply] = []

    def send(self, method: str, url: str, body: Any, key: str) -> Reply:
        give_up = time.monotonic() + DEADLINE_S
        while True:
            reply = call(self.session, method, url, json_body=body, headers={"Idempotency-Key": key})
            if reply.status != 503 or time.monotonic() > give_up:
                return reply
            self.refusals.append(reply)
            time.sleep(float(reply.headers.get("Retry-After", "1")))


@pytest.mark.slow
def test_a_burst_beyond_the_threads_is_served_or_told_to_retry_and_loses_nothing(
        serve: StartServer, database_url: str, figures: Figures) -> None:
    server = serve(database_url, workers=1, threads=2, env=BURST_ENV)
    with requests.Session() as session:
        expect(call(session, "POST", f"{server.base_url}/v1/studies", json_body=study_body("burst")), 201)
    barrier = threading.Barrier(CLIENTS)

    def client(index: int) -> tuple[int, int, list[Reply]]:
        with requests.Session() as own:
            retried = Retried(own)
            barrier.wait(timeout=60)
            asked = expect(retried.send("POST", f"{server.base_url}/v1/studies/burst/ask", {"count": 1},
                                        f"ask-{index}-{uuid.uuid4().hex}"), 201)
            number = asked["trials"][0]["number"]
            told = retried.send("POST", f"{server.base_url}/v1/studies/burst/tell",
                                {"number": number, "value": float(index)}, f"tell-{index}-{uuid.uuid4().hex}")
            return number, expect(told, 200)["number"], retried.refusals

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))

    refusals = [reply for _, _, replies in results for reply in replies]
    numbers = [number for number, _, _ in results]
    rows = stored(database_url, "burst")
    figures.record("burst of 120 clients, 2 threads", requests=2 * CLIENTS + len(refusals),
                   errors=dict(Counter(str(reply.status) for reply in refusals)), trials=len(rows),
                   duplicates=CLIENTS - len(set(numbers)))
    assert refusals, "2 threads and 2 queue places never refused any of 120 requests at once"
    for reply in refusals:
        assert reply.headers.get("Retry-After") == "1", reply.headers
        assert reply.headers.get("Content-Type") == "application/problem+json"
        assert isinstance(reply.body, dict) and reply.body["status"] == 503
    assert sorted(numbers) == list(range(CLIENTS)), "a trial was lost or handed out twice"
    assert len(rows) == CLIENTS
    assert {row["number"]: row["value"] for row in rows} == {number: float(i) for i, number in enumerate(numbers)}
    assert all(row["state"] == "completed" for row in rows)
    assert not server_failures(server.log_text)
