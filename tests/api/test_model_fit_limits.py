"""Costly asks (Bayesian model fits) take a fit slot first: a worker with none free answers 503 with
Retry-After at once, cheap asks go on meanwhile, and concurrent costly asks of one study still get
distinct trials and distinct points (on SQLite they fit outside the database's write lock)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flask
import pytest

from suggest_api.config import Settings
from tests.api.support import ask, assert_problem, create, tell

BAYESIAN = {"name": "bayesian", "options": {"n_initial": 3}}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, max_model_fits=2)


def test_a_worker_without_a_free_fit_slot_answers_503_and_cheap_asks_go_on(app: flask.Flask) -> None:
    client = app.test_client()
    create(client, "costly", suggester=BAYESIAN)
    create(client, "cheap")
    fits = app.extensions["suggest_api"].asks.fits
    with fits.reserve(), fits.reserve():  # both of this worker's slots busy
        busy = client.post("/v1/studies/costly/ask", json={"count": 1})
        assert_problem(busy, 503)
        assert busy.json["type"] == "urn:suggest-api:problem:model-busy" and busy.headers["Retry-After"] == "1"
        assert [t["number"] for t in ask(client, "cheap", count=2)] == [0, 1]
        assert tell(client, 0, 1.0, name="cheap").status_code == 200
    assert [t["number"] for t in ask(client, "costly")] == [0]  # the refused ask left no trial behind
    assert client.get("/v1/studies/costly").json["trial_counts"]["total"] == 1


def test_concurrent_costly_asks_of_one_study_get_distinct_trials_and_points(app: flask.Flask) -> None:
    client = app.test_client()
    create(client, "bo", suggester=BAYESIAN)
    for trial in ask(client, "bo", count=4):  # past the initial design: the next asks fit the model
        x = trial["params"]["lr"]
        assert tell(client, trial["number"], x * 10, name="bo").status_code == 200

    def asker(_: int) -> list[dict[str, Any]]:
        session = app.test_client()
        give_up = time.monotonic() + 120  # a slot frees when a fit ends; a cold, busy machine fits slowly
        while time.monotonic() < give_up:
            response = session.post("/v1/studies/bo/ask", json={"count": 1})
            if response.status_code == 201:
                trials: list[dict[str, Any]] = response.json["trials"]
                return trials
            assert response.status_code == 503 and response.json["type"].endswith("model-busy"), response.json
            time.sleep(0.02)  # as a client waits out Retry-After, not a spin that outruns the fit
        raise AssertionError("never got a fit slot")

    with ThreadPoolExecutor(4) as pool:
        asked = [trial for trials in pool.map(asker, range(6)) for trial in trials]
    numbers = sorted(t["number"] for t in asked)
    assert numbers == list(range(4, 10))
    points = {tuple(sorted(t["params"].items())) for t in asked}
    assert len(points) == 6  # each fit saw the trials asked before it
