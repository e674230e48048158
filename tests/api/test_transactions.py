"""Transactions: a deadlock is retried (bounded) instead of answering an error, an error that a retry
cannot fix is not, and Idempotency-Keys are forgotten after their time."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import flask
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from suggest_api.api import problems
from suggest_api.config import Settings
from suggest_api.storage import idempotency
from suggest_api.storage.database import MAX_ATTEMPTS, database_now, make_engine, retrying, transaction
from suggest_api.storage.models import IdempotencyRow, TrialRow
from tests.api.support import create, run_all


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_deadlock_is_retried_and_both_transactions_commit(app: flask.Flask) -> None:
    """Two transactions lock two studies in opposite orders; PostgreSQL aborts one, which runs again."""
    client = app.test_client()
    create(client, "a")
    create(client, "b")
    sessions = app.extensions["suggest_api"].sessions
    both_hold_one = threading.Barrier(2)
    attempts: list[str] = []

    def locker(first: str, second: str) -> None:
        def work() -> None:
            with transaction(sessions, write=True) as session:
                attempts.append(first)
                lock = text("SELECT id FROM studies WHERE name = :name FOR UPDATE")
                session.execute(lock, {"name": first})
                if attempts.count(first) == 1:
                    both_hold_one.wait(timeout=10)
                session.execute(lock, {"name": second})
                session.execute(text("UPDATE studies SET queued = queued WHERE name = :name"), {"name": second})

        retrying(work)

    run_all([lambda: locker("a", "b"), lambda: locker("b", "a")])
    assert sorted(attempts) in (["a", "a", "b"], ["a", "b", "b"])  # exactly one of them ran twice


def test_an_error_a_retry_cannot_fix_is_raised_at_once(app: flask.Flask) -> None:
    sessions = app.extensions["suggest_api"].sessions
    attempts = 0

    def work() -> None:
        nonlocal attempts
        attempts += 1
        with transaction(sessions, write=True) as session:
            session.execute(text("SELECT no_such_column FROM studies"))

    with pytest.raises((ProgrammingError, DBAPIError)):
        retrying(work)
    assert attempts == 1 < MAX_ATTEMPTS


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, idempotency_ttl=0.5)


def test_an_idempotency_key_is_forgotten_after_its_time(client: FlaskClient) -> None:
    create(client)
    key = {"Idempotency-Key": "k-1"}
    first = client.post("/v1/studies/s/ask", json={"count": 1}, headers=key)
    replay = client.post("/v1/studies/s/ask", json={"count": 1}, headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json == first.json
    time.sleep(0.6)
    later = client.post("/v1/studies/s/ask", json={"count": 1}, headers=key)
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert later.json["trials"][0]["number"] == first.json["trials"][0]["number"] + 1
    again = client.post("/v1/studies/s/ask", json={"count": 1}, headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == later.json


def test_expired_keys_are_purged_a_batch_at_a_time(app: flask.Flask) -> None:
    sessions = app.extensions["suggest_api"].sessions
    with transaction(sessions, write=True) as session:
        now = database_now(session)
        for i in range(5):
            session.add(IdempotencyRow(scope="POST /x", key=f"old-{i}", fingerprint="f", status=201, body=None,
                                       created_at=now - timedelta(hours=2)))
        session.add(IdempotencyRow(scope="POST /x", key="fresh", fingerprint="f", status=201, body=None,
                                   created_at=now))
    with transaction(sessions, write=True) as session:
        assert idempotency.purge(session, now - timedelta(hours=1), 3) == 3
    with transaction(sessions, write=True) as session:
        assert idempotency.purge(session, now - timedelta(hours=1), 3) == 2
    with transaction(sessions, write=False) as session:
        assert list(session.scalars(select(IdempotencyRow.key))) == ["fresh"]
        assert session.scalar(select(func.count()).select_from(TrialRow)) == 0


@pytest.mark.postgres
def test_a_statement_past_its_timeout_is_cancelled_and_answers_503(postgres_database: str) -> None:
    engine = make_engine(postgres_database, Settings(statement_timeout=0.2, lock_timeout=0.2))
    try:
        with engine.connect() as connection, pytest.raises(OperationalError) as cancelled:
            connection.execute(text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()
    assert getattr(cancelled.value.orig, "sqlstate", None) == "57014"  # query_canceled, by statement_timeout
    with flask.Flask(__name__).test_request_context():
        response = problems.from_unexpected(cancelled.value)
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert response.json is not None and response.json["type"] == "urn:suggest-api:problem:database-unavailable"
