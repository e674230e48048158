"""Leases: a running trial's lease comes from the database's clock, heartbeats and reports renew it,
it ends exactly once however many workers notice, and a late result is still stored.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import flask
from flask.testing import FlaskClient
from sqlalchemy import select

from suggest_api.accounts import DEFAULT_TEAM
from suggest_api.storage import accounts, studies, trials
from suggest_api.storage.database import database_now, transaction
from suggest_api.storage.models import TrialRow
from tests.api.support import ask, assert_problem, create, run_all, tell


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def lease_seconds(trial: Any) -> float:
    return (at(trial["lease_expires_at"]) - at(trial["heartbeat_at"])).total_seconds()


def test_ask_heartbeat_and_report_each_set_the_lease_to_timeout_after_now(client: FlaskClient) -> None:
    create(client, heartbeat_timeout=30)
    [trial] = ask(client)
    assert lease_seconds(trial) == 30 and trial["heartbeat_at"] == trial["created_at"]
    time.sleep(0.01)
    renewed = client.post("/v1/studies/s/trials/0/heartbeat").json
    assert lease_seconds(renewed) == 30 and at(renewed["lease_expires_at"]) > at(trial["lease_expires_at"])
    time.sleep(0.01)
    assert client.post("/v1/studies/s/trials/0/report", json={"step": 0, "value": 1.0}).status_code == 200
    reported = client.get("/v1/studies/s/trials/0").json
    assert lease_seconds(reported) == 30 and at(reported["lease_expires_at"]) > at(renewed["lease_expires_at"])


def test_the_lease_ends_by_the_clock_not_when_a_reaper_runs(client: FlaskClient) -> None:
    """No listing or ask ran in between: the heartbeat itself finds the lease over and refuses."""
    create(client, heartbeat_timeout=0.2)
    [trial] = ask(client)
    time.sleep(0.3)
    refused = client.post("/v1/studies/s/trials/0/heartbeat")
    assert_problem(refused, 409)
    assert "lease ended" in refused.json["detail"] and "may still be told" in refused.json["detail"]
    assert_problem(client.post("/v1/studies/s/trials/0/report", json={"step": 0, "value": 1.0}), 409)
    expired = client.get("/v1/studies/s/trials/0").json
    assert (expired["state"], expired["fail_reason"]) == ("failed", "stale")
    assert expired["finished_at"] == expired["lease_expires_at"] == trial["lease_expires_at"]


def test_a_late_tell_is_stored_and_completes_the_trial_once(client: FlaskClient) -> None:
    create(client, heartbeat_timeout=0.2)
    ask(client, count=2)
    time.sleep(0.3)
    late = tell(client, 0, 0.5, metadata={"note": "slow node"})
    assert late.status_code == 200
    assert (late.json["state"], late.json["value"], late.json["fail_reason"]) == ("completed", 0.5, None)
    assert late.json["metadata"] == {"note": "slow node"}
    assert tell(client, 0, 0.5).status_code == 200  # the same result again: a no-op
    assert_problem(tell(client, 0, 0.7), 409)  # another result: refused, the first stays
    assert client.get("/v1/studies/s/best").json["value"] == 0.5
    failed_late = tell(client, 1, state="failed")
    assert (failed_late.json["state"], failed_late.json["fail_reason"]) == ("failed", None)
    assert client.get("/v1/studies/s").json["trial_counts"] == {
        "running": 0, "completed": 1, "failed": 1, "pruned": 0, "total": 2}


def test_each_trial_expires_exactly_once_when_many_workers_reap_at_once(app: flask.Flask) -> None:
    """Eight concurrent reapers (each its own transaction, as on eight replicas): the conditional UPDATE
    fails each ended trial once, so the counts they report add up to the number of trials."""
    client = app.test_client()
    create(client, heartbeat_timeout=0.1)
    ask(client, count=20)
    time.sleep(0.2)
    sessions = app.extensions["suggest_api"].sessions
    with transaction(sessions, write=False) as session:
        team = accounts.find_team(session, DEFAULT_TEAM)
        assert team is not None
        study = studies.find_ref(session, team.id, "s")
    assert study is not None
    barrier = threading.Barrier(8)
    reaped: list[int] = []

    def reaper() -> None:
        barrier.wait(timeout=10)
        with transaction(sessions, write=True) as session:
            reaped.append(trials.reap_expired(session, study, database_now(session)))

    run_all([reaper] * 8)
    assert len(reaped) == 8 and sum(reaped) == 20
    with transaction(sessions, write=False) as session:
        rows = session.execute(select(TrialRow.state, TrialRow.fail_reason, TrialRow.finished_at,
                                      TrialRow.lease_expires_at)).all()
    assert len(rows) == 20
    assert all(row.state == "failed" and row.fail_reason == "stale" and row.finished_at == row.lease_expires_at
               for row in rows)


def test_timestamps_come_from_the_database_clock(app: flask.Flask) -> None:
    """created_at is the database's time inside the ask's transaction, not the worker's: it lies between
    two readings of the database clock taken around the request."""
    client = app.test_client()
    create(client)
    sessions = app.extensions["suggest_api"].sessions
    with transaction(sessions, write=False) as session:
        before = database_now(session)
    [trial] = ask(client)
    with transaction(sessions, write=False) as session:
        after = database_now(session)
    created = at(trial["created_at"]).replace(tzinfo=None)
    assert before - timedelta(milliseconds=1) <= created <= after + timedelta(milliseconds=1)
