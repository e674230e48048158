"""A study larger than the request body limit moves over HTTP through real gunicorn: the import route has a
limit of its own (SUGGEST_MAX_IMPORT_BYTES), in the worker's framing and in Flask, and every other route keeps
SUGGEST_MAX_BODY_BYTES."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.api.support import SPACE
from tests.conftest import BACKENDS
from tests.support.servers import StartServer

TRIALS = 2500
REPORTS = 10


def document(name: str) -> dict[str, Any]:
    """A finished study of TRIALS trials with REPORTS reports each: about 1.5 MB of JSON."""
    trials = []
    for number in range(TRIALS):
        params = {"lr": 10 ** -(1 + number % 4), "batch_size": 16 * (1 + number % 16), "optimizer": "adam"}
        reports = [{"step": step, "value": 1.0 / (step + 1) + number * 1e-4} for step in range(REPORTS)]
        trials.append({"number": number, "state": "completed", "params": params, "value": reports[-1]["value"],
                       "created_at": "2026-01-02T03:04:05+00:00", "finished_at": "2026-01-02T03:14:05+00:00",
                       "metadata": {"host": f"gpu-{number % 8}"}, "intermediate": reports})
    study = {"name": name, "space": SPACE, "objective": {"name": "loss", "goal": "minimize"},
             "suggester": {"name": "random", "options": {}}, "seed": 11, "heartbeat_timeout": 120.0,
             "created_at": "2026-01-02T03:00:00+00:00"}
    return {"format": "suggest-api.study", "version": 1, "study": study, "trials": trials}


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_study_bigger_than_the_body_limit_moves_over_http(backend: str, serve: StartServer, tmp_path: Any,
                                                             request: pytest.FixtureRequest,
                                                             http: requests.Session) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_database")
    server = serve(url, workers=1, env={"SUGGEST_MAX_IMPORT_BYTES": str(8 * 1024 * 1024)})
    body = json.dumps(document("big")).encode()
    assert 1024 * 1024 < len(body) < 8 * 1024 * 1024  # over SUGGEST_MAX_BODY_BYTES, within the import limit
    headers = {"Content-Type": "application/json"}

    imported = http.post(f"{server.base_url}/v1/studies:import", data=body, headers=headers, timeout=120)
    assert imported.status_code == 201, imported.text[:500]
    assert imported.json()["trial_counts"]["completed"] == TRIALS
    again = http.post(f"{server.base_url}/v1/studies:import", data=body, headers=headers, timeout=120)
    assert again.status_code == 200  # the same document: nothing written

    exported = http.get(f"{server.base_url}/v1/studies/big/export", timeout=120)
    assert exported.status_code == 200
    trials = exported.json()["trials"]
    assert len(trials) == TRIALS and len(trials[-1]["intermediate"]) == REPORTS
    assert trials[7]["params"] == document("big")["trials"][7]["params"]

    # Other routes keep the 1 MiB limit, and the import route its own.
    huge_study = json.dumps({"name": "x", "space": SPACE, "objective": {"name": "loss", "goal": "minimize"},
                             "metadata": {"pad": "x" * 1_100_000}}).encode()
    refused = requests.post(f"{server.base_url}/v1/studies", data=huge_study, headers=headers, timeout=30)
    assert refused.status_code == 413 and "SUGGEST_MAX_BODY_BYTES" in refused.json()["detail"]
    too_big = json.dumps({**document("bigger"), "pad": "x" * (8 * 1024 * 1024)}).encode()
    refused = requests.post(f"{server.base_url}/v1/studies:import", data=too_big, headers=headers, timeout=30)
    assert refused.status_code == 413 and "SUGGEST_MAX_IMPORT_BYTES" in refused.json()["detail"]
    assert http.get(f"{server.base_url}/v1/studies/bigger", timeout=30).status_code == 404
