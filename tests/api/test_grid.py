"""Grid studies over HTTP: every point once, a 409 when they are used up, gap-free numbers, retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient

from suggest_api.app import create_app
from suggest_api.config import Limits, Settings
from suggest_api.space import SearchSpace
from tests.api.support import ask, assert_problem, create, tell

SPACE: dict[str, Any] = {"params": [
    {"name": "width", "type": "int", "low": 1, "high": 3},
    {"name": "act", "type": "categorical", "choices": ["relu", "tanh"]},
    {"name": "slope", "type": "float", "low": 0.0, "high": 0.2, "step": 0.1, "when": {"act": ["relu"]}},
]}
#: SPACE's nine points in declared order: the last param turns fastest, inactive ones drop out.
POINTS: list[dict[str, Any]] = [
    {"width": w, **branch} for w in (1, 2, 3)
    for branch in ({"act": "relu", "slope": 0.0}, {"act": "relu", "slope": 0.1}, {"act": "relu", "slope": 0.2},
                   {"act": "tanh"})
]
EXHAUSTED = "urn:suggest-api:problem:grid-exhausted"


def create_grid(client: FlaskClient, name: str = "s", **options: Any) -> dict[str, Any]:
    return create(client, name, space=SPACE, suggester={"name": "grid", "options": options})


def params_of(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t["params"] for t in trials]


def test_the_declared_grid_is_handed_out_in_order_then_a_409_says_it_is_exhausted(client: FlaskClient) -> None:
    create_grid(client)
    trials = ask(client, count=5) + ask(client, count=5) + ask(client, count=5)  # the last gets the 2 left
    assert len(POINTS) == 12 and params_of(trials) == POINTS
    assert [t["number"] for t in trials] == list(range(12))
    space = SearchSpace.from_json(SPACE)
    assert all(space.check_params(p) == {} for p in params_of(trials))

    problem = assert_problem(client.post("/v1/studies/s/ask", json={"count": 3}), 409)
    assert problem["type"] == EXHAUSTED and problem["grid_size"] == 12
    assert "exhausted" in problem["detail"] and "12" in problem["detail"]
    assert client.get("/v1/studies/s").json["trial_counts"]["total"] == 12


def test_numbers_stay_gap_free_after_a_partial_batch_and_an_exhausted_ask(client: FlaskClient) -> None:
    create_grid(client)
    assert len(ask(client, count=10)) == 10
    assert [t["number"] for t in ask(client, count=4)] == [10, 11]  # two left, two numbers given back
    assert_problem(client.post("/v1/studies/s/ask", json={}), 409)
    queued = {"width": 2, "act": "tanh"}
    assert client.post("/v1/studies/s/trials", json={"trials": [{"params": queued}]}).status_code == 201
    [trial] = ask(client)
    assert (trial["number"], trial["params"]) == (12, queued)
    numbers = [t["number"] for t in client.get("/v1/studies/s/trials?limit=100").json["trials"]]
    assert numbers == list(range(13))


def test_an_ask_the_queue_fills_in_part_answers_the_queued_trials_once_the_grid_is_used_up(
        client: FlaskClient) -> None:
    create_grid(client)
    assert len(ask(client, count=12)) == 12
    queued = [{"width": 2, "act": "tanh"}, {"width": 3, "act": "relu", "slope": 0.1}]
    body = {"trials": [{"params": p} for p in queued]}
    assert client.post("/v1/studies/s/trials", json=body).status_code == 201
    trials = ask(client, count=5)
    assert [(t["number"], t["params"]) for t in trials] == [(12, queued[0]), (13, queued[1])]
    assert_problem(client.post("/v1/studies/s/ask", json={}), 409)
    client.post("/v1/studies/s/trials", json={"trials": [{"params": queued[0]}]})
    assert [t["number"] for t in ask(client)] == [14]  # numbers stayed gap-free through the 409s


def test_enqueued_and_imported_params_do_not_shift_the_grid(client: FlaskClient) -> None:
    create_grid(client)
    first = ask(client, count=2)
    extra = [{"width": 3, "act": "tanh"}, {"width": 1, "act": "relu", "slope": 0.2}]
    response = client.post("/v1/studies/s/trials", json={"trials": [
        {"params": extra[0]}, {"params": extra[1]}, {"params": {"width": 2, "act": "tanh"}, "value": 1.0}]})
    assert response.status_code == 201 and response.json["enqueued"] == 2
    mixed = ask(client, count=4)
    assert params_of(mixed[:2]) == extra  # the queue comes first ...
    rest = ask(client, count=20)
    # ... and the grid goes on where it was: imported and enqueued trials are not grid positions.
    assert params_of(first) + params_of(mixed[2:]) + params_of(rest) == POINTS
    assert [t["number"] for t in first + mixed + rest] == [0, 1, *range(3, 3 + 4 + 8)]


def test_a_shuffled_grid_is_the_same_points_in_an_order_fixed_by_the_seed(client: FlaskClient) -> None:
    create_grid(client, "a", shuffle=True)
    create_grid(client, "b", shuffle=True)
    create(client, "c", space=SPACE, suggester={"name": "grid", "options": {"shuffle": True}}, seed=8)
    orders = {name: params_of(ask(client, name, count=12)) for name in ("a", "b", "c")}
    assert orders["a"] == orders["b"] and orders["a"] != POINTS and orders["a"] != orders["c"]
    for order in orders.values():
        assert sorted(map(repr, order)) == sorted(map(repr, POINTS))
    assert_problem(client.post("/v1/studies/c/ask", json={}), 409)


def test_retry_failed_hands_out_failed_points_again_before_fresh_ones(client: FlaskClient) -> None:
    create_grid(client, retry_failed=True)
    trials = ask(client, count=11)
    for trial in trials:
        if trial["number"] in (3, 6):
            assert tell(client, trial["number"], state="failed").status_code == 200
        elif trial["number"] != 8:
            assert tell(client, trial["number"], 1.0).status_code == 200
    again = ask(client, count=4)  # 3 and 6 again (oldest first), then the one fresh point left
    assert params_of(again) == [POINTS[3], POINTS[6], POINTS[11]]
    assert [t["number"] for t in again] == [11, 12, 13]
    problem = assert_problem(client.post("/v1/studies/s/ask", json={}), 409)  # trial 8 still runs
    assert problem["type"] == EXHAUSTED and "still running" in problem["detail"]
    assert tell(client, 8, state="failed").status_code == 200
    assert params_of(ask(client)) == [POINTS[8]]


def test_retry_failed_hands_out_points_of_stale_trials_again(client: FlaskClient) -> None:
    create(client, space=SPACE, suggester={"name": "grid", "options": {"retry_failed": True}},
           heartbeat_timeout=0.2)
    trials = ask(client, count=12)
    for trial in trials[1:]:
        assert tell(client, trial["number"], 1.0).status_code == 200
    time.sleep(0.3)
    [again] = ask(client)  # reaps trial 0 as stale first
    assert client.get("/v1/studies/s/trials/0").json["fail_reason"] == "stale"
    assert (again["number"], again["params"]) == (12, POINTS[0])


# --- the size limit -------------------------------------------------------------------------------------

@pytest.fixture
def small_limit_client(database_url: str) -> Iterator[FlaskClient]:
    """A server whose grids may have at most 11 points (SUGGEST_MAX_GRID_SIZE=11)."""
    app: flask.Flask = create_app(Settings(database_url=database_url, limits=Limits(max_grid_size=11)))
    yield app.test_client()
    app.extensions["suggest_api"].engine.dispose()


def test_a_grid_above_the_configured_limit_is_refused_at_creation(small_limit_client: FlaskClient) -> None:
    client = small_limit_client
    body = {"name": "s", "space": SPACE, "objective": {"name": "loss", "goal": "minimize"},
            "suggester": {"name": "grid", "options": {}}}
    problem = assert_problem(client.post("/v1/studies", json=body), 422, "space")
    assert "12 points" in problem["detail"] and "limit of 11" in problem["detail"]
    assert "'slope' (3 values)" in problem["detail"] and "SUGGEST_MAX_GRID_SIZE" in problem["detail"]
    assert client.get("/v1/studies/s").status_code == 404
    smaller = {**body, "space": {"params": [*SPACE["params"][:2], {**SPACE["params"][2], "grid": [0.1]}]}}
    assert client.post("/v1/studies", json=smaller).status_code == 201  # 6 points fit
    random = {**body, "name": "r", "suggester": {"name": "random", "options": {}}}
    assert client.post("/v1/studies", json=random).status_code == 201  # the limit is the grid's only


def test_a_huge_grid_is_refused_with_its_exact_size_and_a_large_one_costs_nothing(client: FlaskClient) -> None:
    params = [{"name": f"p{i}", "type": "int", "low": 0, "high": 9} for i in range(11)]
    response = client.post("/v1/studies", json={
        "name": "huge", "space": {"params": params}, "objective": {"name": "loss", "goal": "minimize"},
        "suggester": {"name": "grid", "options": {}}})
    problem = assert_problem(response, 422, "space")
    assert "100,000,000,000 points" in problem["detail"] and "limit of 10,000,000,000" in problem["detail"]
    create(client, "billion", space={"params": params[:9]}, suggester={"name": "grid", "options": {"shuffle": True}})
    trials = ask(client, "billion", count=3)
    assert len({repr(t["params"]) for t in trials}) == 3
