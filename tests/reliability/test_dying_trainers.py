"""Dying trainers: a study with a 2 s heartbeat_timeout, trainers that abandon 30% of their trials
without a word (three of them exit outright, mid-trial), and survivors that keep going until the
study has its budget of completed trials.

Every abandoned trial ends `failed` with `fail_reason: "stale"`, no earlier than heartbeat_timeout
after it was handed out, and nothing else does: every told trial is completed with its value, no
trial stays running, and the budget is reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from suggest_api.storage.database import make_engine
from suggest_api.storage.models import StudyRow, TrialRow
from tests.e2e.support import SPACE, all_trials, call, expect, study_body
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

HEARTBEAT_TIMEOUT_S = 2.0
BUDGET = 200  # completed trials the study must reach
CLIENTS = 10
DYING = 3  # clients 0..2 exit (os._exit) at the first trial they abandon
ABANDON = 0.3
WORK_S = 0.15  # pretend training per trial: far below the heartbeat timeout
RUN_LIMIT_S = 120.0
STALE = "stale"


@pytest.mark.postgres
@pytest.mark.slow
def test_abandoned_trials_are_reaped_and_the_budget_completes(
        serve: StartServer, scratch_postgres: Callable[[str], str], tmp_path: Path, figures: Figures) -> None:
    database_url = scratch_postgres("dying")
    server = serve(database_url, workers=2, env=POOL_ENV)
    study = "dying"
    with requests.Session() as http:
        created = expect(call(http, "POST", f"{server.base_url}/v1/studies",
                              json_body=study_body(study) | {"heartbeat_timeout": HEARTBEAT_TIMEOUT_S}), 201)
    assert created["heartbeat_timeout"] == HEARTBEAT_TIMEOUT_S

    engine = make_engine(database_url)
    completed_query = (select(func.count()).select_from(TrialRow).join(StudyRow, TrialRow.study_id == StudyRow.id)
                       .where(StudyRow.name == study, TrialRow.state == "completed"))
    try:
        with Fleet(tmp_path, "dying") as fleet:
            fleet.start(CLIENTS, "raw", [server.base_url], study, "--abandon", str(ABANDON),
                        "--dying-clients", str(DYING), "--work", str(WORK_S), "--seed", "3")
            started = fleet.go()
            deadline = time.monotonic() + RUN_LIMIT_S
            completed = 0
            while completed < BUDGET and time.monotonic() < deadline and fleet.running():
                time.sleep(0.2)
                with engine.connect() as connection:
                    completed = connection.execute(completed_query).scalar_one()
            fleet.stop()
            stopped = time.time()
            at_stop = stored(database_url, study)
            reports = fleet.wait(timeout=60)
    finally:
        engine.dispose()

    # Reads reap at once: poll the study until nothing is left running (abandoned trials expire
    # heartbeat_timeout after their ask; the survivors have all told theirs).
    with requests.Session() as http:
        reap_deadline = time.monotonic() + 1.25 * HEARTBEAT_TIMEOUT_S + 30
        while True:
            counts = expect(call(http, "GET", f"{server.base_url}/v1/studies/{study}"), 200)["trial_counts"]
            if counts["running"] == 0 or time.monotonic() > reap_deadline:
                break
            time.sleep(0.2)
        failed_via_api = [t for t in all_trials(http, server.base_url, study) if t["state"] == "failed"]

    tally = Tally(reports)
    rows = stored(database_url, study)
    missing = lost(rows, tally)
    by_number = {row["number"]: row for row in rows}
    stale = {row["number"] for row in rows if row["state"] == "failed" and row["fail_reason"] == STALE}
    reaped_by_asks = sum(1 for row in at_stop if row["number"] in tally.abandoned and row["state"] == "failed")
    early = [n for n in stale
             if (by_number[n]["finished_at"] - by_number[n]["created_at"]).total_seconds() < HEARTBEAT_TIMEOUT_S - 1e-3]
    died = [r["client"] for r in reports if r["died"]]
    asked_early = [n for n in tally.abandoned if _asked_at(tally, n) < stopped - 3 * HEARTBEAT_TIMEOUT_S]
    completed_rows = {row["number"]: row["value"] for row in rows if row["state"] == "completed"}
    figures.record("dying trainers", requests=tally.sent, errors=tally.errors(), lost=len(missing),
                   duplicates=tally.duplicates, trials=len(rows), completed=len(completed_rows),
                   budget=BUDGET, abandoned=len(tally.abandoned), reaped_stale=len(stale),
                   reaped_by_asks_during_load=reaped_by_asks, clients_died=len(died),
                   load_s=round(stopped - started, 1), gaps=gaps(rows),
                   server_failures=len(server_failures(server.log_text)))

    assert tally.client_errors() == []
    assert sorted(r["returncode"] for r in reports) == sorted(3 if r["died"] else 0 for r in reports)
    assert set(died) <= set(range(DYING))
    assert len(completed_rows) >= BUDGET, "the survivors did not complete the budget"
    assert tally.abandoned, "no trial was abandoned: nothing was tested"
    assert missing == [] and tally.duplicates == 0
    assert [row["number"] for row in rows] == list(range(len(rows)))
    assert sorted(tally.asked) == sorted(by_number)
    assert stale == tally.abandoned, {"not reaped": sorted(tally.abandoned - stale),
                                      "reaped, not abandoned": sorted(stale - tally.abandoned)}
    assert completed_rows == tally.told_values
    assert all(by_number[n]["value"] is None for n in stale)
    assert [row["number"] for row in rows if row["state"] == "running"] == []
    assert {t["number"] for t in failed_via_api} == stale
    assert all(t["fail_reason"] == STALE for t in failed_via_api), failed_via_api[:3]
    assert early == [], f"reaped before heartbeat_timeout: {early}"
    if asked_early:
        assert reaped_by_asks > 0, "asks never reaped a stale trial while the study was busy"
    assert malformed(rows, {p["name"] for p in SPACE["params"]}) == []
    assert server_failures(server.log_text) == []


def _asked_at(tally: Tally, number: int) -> float:
    """When the answer that handed out trial `number` arrived (wall time), from the requests log."""
    holder = tally.asked[number][0][0]
    report = next(r for r in tally.reports if r["client"] == holder)
    asks = [end for _, end, op, status in report["requests"] if op == "ask" and status == 201]
    position = [n for n, _ in report["asked"]].index(number)
    return float(asks[position]) if position < len(asks) else float("inf")
