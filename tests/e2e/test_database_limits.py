"""A busy or exhausted database answers 503 with Retry-After, never 500 and never a hang; every
connection belongs to a worker (engines are created after gunicorn forks)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import text

from suggest_api.storage.database import make_engine
from tests.e2e.support import Reply, call, expect, study_body
from tests.support.servers import StartServer, children

pytestmark = pytest.mark.postgres

#: Far above the timeouts configured below (0.5 s pool, 2 s lock): a reply later than this is a hang.
HANG_S = 20.0


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    return postgres_database


def timed(session: requests.Session, method: str, url: str, body: object = None) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = call(session, method, url, json_body=body)
    return reply, time.monotonic() - started


def assert_unavailable(reply: Reply, slug: str, elapsed: float) -> None:
    assert reply.status == 503 and reply.is_problem, reply
    assert reply.body["type"] == f"urn:suggest-api:problem:{slug}"
    assert int(reply.headers["Retry-After"]) >= 1
    assert elapsed < HANG_S


def test_a_held_lock_and_an_exhausted_pool_answer_503(serve: StartServer, postgres_url: str) -> None:
    """One connection per worker: an ask stuck behind a lock someone else holds ends at the lock timeout,
    and meanwhile every other request ends at the pool timeout; both as 503, and then all is well."""
    server = serve(postgres_url, workers=1, threads=4, env={
        "SUGGEST_POOL_SIZE": "1", "SUGGEST_MAX_OVERFLOW": "0", "SUGGEST_POOL_TIMEOUT": "0.5",
        "SUGGEST_LOCK_TIMEOUT": "2"})
    base = server.base_url
    with requests.Session() as http:
        expect(call(http, "POST", f"{base}/v1/studies", json_body=study_body("locked")), 201)
        expect(call(http, "POST", f"{base}/v1/studies", json_body=study_body("other")), 201)
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as holder, ThreadPoolExecutor(4) as pool:
            holder.execute(text("SELECT id FROM studies WHERE name = 'locked' FOR UPDATE"))
            stuck = pool.submit(lambda: timed(requests.Session(), "POST", f"{base}/v1/studies/locked/ask",
                                              {"count": 1}))
            time.sleep(0.5)  # the stuck ask now holds the worker's only connection
            others = [pool.submit(lambda: timed(requests.Session(), "POST", f"{base}/v1/studies/other/ask",
                                                {"count": 1})),
                      pool.submit(lambda: timed(requests.Session(), "GET", f"{base}/v1/studies"))]
            for future in others:
                reply, elapsed = future.result(timeout=HANG_S)
                assert_unavailable(reply, "database-unavailable", elapsed)
            reply, elapsed = stuck.result(timeout=HANG_S)
            assert_unavailable(reply, "database-unavailable", elapsed)
            assert elapsed >= 1.5  # it waited for the lock, then gave up at the 2 s lock timeout
            holder.rollback()
        with requests.Session() as http:
            asked = expect(call(http, "POST", f"{base}/v1/studies/locked/ask", json_body={"count": 1}), 201)
            assert asked["trials"][0]["number"] == 0  # the refused asks left nothing behind
    finally:
        engine.dispose()
    assert "Traceback" not in server.log_text


def test_every_connection_belongs_to_a_worker_never_the_master(serve: StartServer, postgres_url: str) -> None:
    server = serve(postgres_url, workers=3)
    with requests.Session() as http, ThreadPoolExecutor(8) as pool:
        expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=study_body("fork")), 201)
        list(pool.map(lambda _: call(requests.Session(), "POST", f"{server.base_url}/v1/studies/fork/ask",
                                     json_body={"count": 1}), range(40)))
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            names = connection.execute(text(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name LIKE 'suggest-api:%'")).scalars().all()
    finally:
        engine.dispose()
    owners = {int(name.split(":")[1]) for name in names}  # this test's own engine and others' show up too
    workers = set(children(server.pid))
    assert owners & workers, (owners, workers)
    assert server.pid not in owners
