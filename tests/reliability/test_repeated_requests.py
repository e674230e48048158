"""Slow and repeated requests: a trainer that times out and retries sends the same request again,
possibly while the first is still in flight. With one Idempotency-Key, the service does the work
once and answers every copy with the first answer.

- the same tell 5 times at once: one result stored, five identical 200s;
- the same ask 100 times (20 at once, then 80 more from 8 threads): one trial, 100 identical
  bodies, `Idempotent-Replayed: true` on all but the first;
- the same key with another body: 422 `idempotency-key-reused`, nothing created.
On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from suggest_api.storage.database import make_engine
from suggest_api.storage.models import IdempotencyRow
from tests.e2e.support import Reply, call, expect, study_body
from tests.reliability.support import POOL_ENV, Figures, server_failures, stored
from tests.support.servers import StartServer

REUSED = "urn:suggest-api:problem:idempotency-key-reused"
TELL_COPIES = 5
ASK_COPIES = 100
ASK_AT_ONCE = 20
SETUP_REQUESTS = 4  # two creates, the ask that makes the trial to tell, the ask after the copies


def at_once(count: int, send: Callable[[requests.Session], Reply]) -> list[Reply]:
    """`count` requests released together by a barrier, each on its own connection."""
    barrier = threading.Barrier(count)

    def one(_: int) -> Reply:
        with requests.Session() as session:
            barrier.wait(timeout=60)
            return send(session)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def keys_stored(database_url: str, key: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(IdempotencyRow)
                                          .where(IdempotencyRow.key == key)).scalar_one())
    finally:
        engine.dispose()


def replayed(replies: list[Reply]) -> Counter[str]:
    return Counter(r.headers.get("Idempotent-Replayed", "absent") for r in replies)


@pytest.mark.slow
def test_repeated_requests_with_one_key_do_the_work_once(serve: StartServer, database_url: str,
                                                         figures: Figures) -> None:
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    server = serve(database_url, workers=2, env=POOL_ENV)
    base = f"{server.base_url}/v1/studies"
    sent: Counter[int] = Counter()
    with requests.Session() as http:
        expect(call(http, "POST", base, json_body=study_body("tell-copies")), 201)
        expect(call(http, "POST", base, json_body=study_body("ask-copies")), 201)
        (trial,) = expect(call(http, "POST", f"{base}/tell-copies/ask", json_body={}), 201)["trials"]

        # The same tell, five times at once.
        tell_key = str(uuid.uuid4())
        tell_body = {"number": trial["number"], "value": 0.25}
        tells = at_once(TELL_COPIES, lambda s: call(s, "POST", f"{base}/tell-copies/tell", json_body=tell_body,
                                                    headers={"Idempotency-Key": tell_key}))
        other_tell = call(http, "POST", f"{base}/tell-copies/tell", json_body={**tell_body, "value": 0.5},
                          headers={"Idempotency-Key": tell_key})

        # The same ask, 100 times: 20 at once, then 80 from 8 threads.
        ask_key = str(uuid.uuid4())

        def ask(session: requests.Session) -> Reply:
            return call(session, "POST", f"{base}/ask-copies/ask", json_body={"count": 1},
                        headers={"Idempotency-Key": ask_key})

        asks = at_once(ASK_AT_ONCE, ask)
        with ThreadPoolExecutor(max_workers=8) as pool:
            asks += list(pool.map(lambda _: _with_session(ask), range(ASK_COPIES - ASK_AT_ONCE)))
        other_ask = call(http, "POST", f"{base}/ask-copies/ask", json_body={"count": 2},
                         headers={"Idempotency-Key": ask_key})
        (next_trial,) = expect(call(http, "POST", f"{base}/ask-copies/ask", json_body={}), 201)["trials"]

    for reply in [*tells, other_tell, *asks, other_ask]:
        sent[reply.status] += 1
    tell_rows = stored(database_url, "tell-copies")
    ask_rows = stored(database_url, "ask-copies")
    distinct_asks = {json.dumps(r.body, sort_keys=True) for r in asks}
    told = [r for r in tell_rows if r["state"] == "completed" and r["value"] == tell_body["value"]]
    figures.record(f"repeated requests {backend}", requests=sum(sent.values()) + SETUP_REQUESTS,
                   errors={str(s): n for s, n in sent.items() if s >= 300},
                   lost=(len(told) != 1) + (len(ask_rows) < 1),
                   duplicates=max(0, len(ask_rows) - 2) + max(0, len(tell_rows) - 1),
                   distinct_ask_bodies=len(distinct_asks),
                   tell_replayed=dict(replayed(tells)), ask_replayed=dict(replayed(asks)),
                   server_failures=len(server_failures(server.log_text)))

    # Five tells: one result, five identical answers, four of them replays.
    assert [r.status for r in tells] == [200] * TELL_COPIES, [r.body for r in tells]
    assert len({json.dumps(r.body, sort_keys=True) for r in tells}) == 1
    assert replayed(tells) == Counter({"true": TELL_COPIES - 1, "absent": 1})
    assert [(r["number"], r["state"], r["value"]) for r in tell_rows] == [(trial["number"], "completed", 0.25)]
    assert keys_stored(database_url, tell_key) == 1
    assert other_tell.status == 422 and other_tell.is_problem and other_tell.body["type"] == REUSED, other_tell

    # A hundred asks: one trial, a hundred identical bodies, 99 replays.
    assert [r.status for r in asks] == [201] * ASK_COPIES, Counter(r.status for r in asks)
    assert len(distinct_asks) == 1
    assert replayed(asks) == Counter({"true": ASK_COPIES - 1, "absent": 1})
    (only,) = asks[0].body["trials"]
    assert only["number"] == 0 and next_trial["number"] == 1
    assert [(r["number"], r["params"]) for r in ask_rows] == [(0, only["params"]), (1, next_trial["params"])]
    assert keys_stored(database_url, ask_key) == 1
    assert other_ask.status == 422 and other_ask.is_problem and other_ask.body["type"] == REUSED, other_ask
    assert server_failures(server.log_text) == []


def _with_session(send: Callable[[requests.Session], Any]) -> Any:
    with requests.Session() as session:
        return send(session)
