"""Eight workers ask one model-based study at the same moment, through real gunicorn workers.

The model sees the trials the other workers are running (the study lock orders the asks, and each ask
reads the trials committed before it), so eight simultaneous asks must give eight different points,
not eight copies of the model's optimum. Numbers stay unique and gap-free. A worker runs at most
SUGGEST_MAX_MODEL_FITS fits at once and answers the asks beyond that 503 (model-busy) with
Retry-After, which the clients here honour as the shipped clients do.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests

from tests.e2e.support import all_trials, call, expect, in_threads
from tests.support.servers import StartServer

#: 98 points: few enough that a model ignoring the running trials would hand its one optimum to everyone.
SPACE: dict[str, Any] = {"params": [
    {"name": "x", "type": "int", "low": -3, "high": 3},
    {"name": "y", "type": "int", "low": -3, "high": 3},
    {"name": "act", "type": "categorical", "choices": ["relu", "tanh"]},
]}
WORKERS = 8
MAX_ATTEMPTS = 60


def loss(params: dict[str, Any]) -> float:
    return float((params["x"] - 1) ** 2 + (params["y"] + 1) ** 2 + (0.3 if params["act"] == "tanh" else 0.0))


#: A study with two objectives and a constraint: the front, not one optimum, is what every worker is drawn to.
OBJECTIVES = {"objectives": [{"name": "loss", "goal": "minimize"}, {"name": "size", "goal": "minimize"}],
              "constraints": [{"name": "latency", "op": "<=", "bound": 5}]}


def result(params: dict[str, Any], several: bool) -> dict[str, Any]:
    if not several:
        return {"value": loss(params)}
    return {"values": {"loss": loss(params), "size": float(abs(params["x"]) + abs(params["y"])),
                       "latency": float(params["x"] + 3)}}


@pytest.mark.slow
@pytest.mark.parametrize(("suggester", "several"), [
    ({"name": "bayesian", "options": {"n_initial": 6}}, False),
    ({"name": "bayesian", "options": {"n_initial": 6, "pending": "constant_liar_max"}}, False),
    ({"name": "genetic", "options": {"population_size": 6}}, False),
    ({"name": "bayesian", "options": {"n_initial": 6}}, True),
    ({"name": "genetic", "options": {"population_size": 6}}, True)],
    ids=["bayesian-kriging-believer", "bayesian-constant-liar-max", "genetic", "bayesian-two-objectives",
         "genetic-two-objectives"])
def test_simultaneous_asks_of_a_model_based_study_get_distinct_points(
        serve: StartServer, database_url: str, http: requests.Session, suggester: dict[str, Any],
        several: bool) -> None:
    server = serve(database_url, workers=2, env={"SUGGEST_MAX_MODEL_FITS": "2"})
    base = f"{server.base_url}/v1/studies/model"
    body = {"name": "model", "space": SPACE, "seed": 5, "suggester": suggester,
            **(OBJECTIVES if several else {"objective": {"name": "loss", "goal": "minimize"}})}
    expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=body), 201)
    for trial in expect(call(http, "POST", f"{base}/ask", json_body={"count": 12}), 201)["trials"]:
        expect(call(http, "POST", f"{base}/tell", json_body={"number": trial["number"],
                                                               **result(trial["params"], several)}), 200)

    start = threading.Barrier(WORKERS)

    def ask_once(_: int) -> dict[str, Any]:
        with requests.Session() as session:
            start.wait()
            for _attempt in range(MAX_ATTEMPTS):
                reply = call(session, "POST", f"{base}/ask", json_body={})
                if reply.status != 503:
                    break
                assert reply.body["type"] == "urn:suggest-api:problem:model-busy", reply.body
                time.sleep(float(reply.headers["Retry-After"]))
            [trial] = expect(reply, 201)["trials"]
            return dict(trial)

    asked = in_threads(WORKERS, ask_once)

    assert sorted(t["number"] for t in asked) == list(range(12, 12 + WORKERS))
    assert len({json.dumps(t["params"], sort_keys=True) for t in asked}) == WORKERS
    stored = all_trials(http, server.base_url, "model")
    assert [t["number"] for t in stored] == list(range(12 + WORKERS))
    assert sum(t["state"] == "running" for t in stored) == WORKERS
