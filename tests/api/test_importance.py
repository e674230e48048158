"""GET /v1/studies/{name}/importance on SQLite and PostgreSQL: the answer, which metric, the trials it uses,
the refusals (404, 409, 422), access, and that a remembered answer never outlives a new result."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient

from suggest_api.app import create_app
from suggest_api.config import Limits, Settings
from tests.api.support import ask, assert_problem, create, study_body, tell
from tests.support.teams import TeamKeys, bearer

Params = dict[str, Any]
TWO = [{"name": "accuracy", "goal": "maximize"}, {"name": "n_params", "goal": "minimize"}]
LATENCY = [{"name": "latency_ms", "op": "<=", "bound": 20}]


def params_of(rng: random.Random) -> Params:
    """Params of tests.api.support.SPACE: momentum only when the optimizer is sgd."""
    optimizer = rng.choice(["sgd", "adam", "rmsprop"])
    found: Params = {"lr": 10 ** rng.uniform(-5, -1), "batch_size": 16 * rng.randint(1, 16), "optimizer": optimizer}
    if optimizer == "sgd":
        found["momentum"] = round(rng.uniform(0, 0.99), 6)
    return found


def lr_loss(p: Params) -> float:
    return -math.log10(p["lr"])


def batch_loss(p: Params) -> float:
    return float(p["batch_size"]) / 16


def imported(client: FlaskClient, count: int, result: Callable[[Params], dict[str, Any]], name: str = "s",
             seed: int = 0) -> list[Params]:
    """Import `count` completed trials whose result (`value` or `values`) is `result(params)`."""
    rng = random.Random(seed)
    made = [params_of(rng) for _ in range(count)]
    response = client.post(f"/v1/studies/{name}/trials", json={"trials": [{"params": p, **result(p)} for p in made]})
    assert response.status_code == 201, response.json
    return made


def importance(client: FlaskClient, name: str = "s", **query: Any) -> dict[str, Any]:
    response = client.get(f"/v1/studies/{name}/importance", query_string=query)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.get_json()
    return body


def ranked(body: dict[str, Any]) -> list[str]:
    return [p["name"] for p in body["params"]]


def multi_objective(client: FlaskClient) -> None:
    body = study_body("mo") | {"objectives": TWO, "constraints": LATENCY}
    del body["objective"]
    assert client.post("/v1/studies", json=body).status_code == 201


def three_metrics(p: Params) -> dict[str, Any]:
    """accuracy follows lr, n_params the batch size, latency the optimizer."""
    latency = {"sgd": 5.0, "adam": 30.0, "rmsprop": 12.0}[p["optimizer"]]
    return {"values": {"accuracy": -lr_loss(p), "n_params": batch_loss(p), "latency_ms": latency}}


def test_the_answer_ranks_every_param_of_the_space(client: FlaskClient) -> None:
    create(client)
    made = imported(client, 120, lambda p: {"value": lr_loss(p)})
    body = importance(client)
    assert set(body) == {"objective", "goal", "trials_used", "params", "forest", "grey_relational"}
    assert body["objective"] == "loss" and body["goal"] == "minimize" and body["trials_used"] == 120
    assert ranked(body)[0] == "lr" and set(ranked(body)) == {"lr", "batch_size", "optimizer", "momentum"}
    forest = [p["forest"] for p in body["params"]]
    assert forest == sorted(forest, reverse=True) and sum(forest) == pytest.approx(1.0)
    assert body["params"][0]["forest"] > 0.9
    grades = {p["name"]: p["grey_relational"] for p in body["params"]}
    assert all(0 <= g <= 1 for g in grades.values()) and grades["lr"] == max(grades.values())
    active = {p["name"]: p["active_trials"] for p in body["params"]}
    assert active == {"lr": 120, "batch_size": 120, "optimizer": 120,
                      "momentum": sum("momentum" in p for p in made)}
    assert 0 < active["momentum"] < 120
    assert body["forest"]["trees"] == 64 and 0.9 < body["forest"]["explained_variance"] <= 1
    assert body["grey_relational"] == {"distinguishing_coefficient": 0.5}


def test_a_conditional_param_that_matters_ranks_first(client: FlaskClient) -> None:
    create(client)
    imported(client, 150, lambda p: {"value": 4 * p.get("momentum", 0.5) + lr_loss(p) / 40})
    body = importance(client)
    assert ranked(body)[0] == "momentum"


def test_the_objective_chooses_the_metric_among_objectives_and_constraints(client: FlaskClient) -> None:
    multi_objective(client)
    imported(client, 120, three_metrics, name="mo")
    default = importance(client, "mo")
    assert default["objective"] == "accuracy" and default["goal"] == "maximize" and ranked(default)[0] == "lr"
    assert importance(client, "mo", objective="accuracy") == default
    n_params = importance(client, "mo", objective="n_params")
    assert n_params["goal"] == "minimize" and ranked(n_params)[0] == "batch_size"
    latency = importance(client, "mo", objective="latency_ms")
    assert latency["objective"] == "latency_ms" and latency["goal"] == "minimize"
    assert ranked(latency)[0] == "optimizer"


def test_trials_without_a_finite_value_of_the_metric_are_left_out(client: FlaskClient) -> None:
    create(client)
    imported(client, 10, lambda p: {"value": lr_loss(p)})
    running = ask(client, count=2)
    assert tell(client, running[0]["number"], state="failed").status_code == 200
    pruned = ask(client)[0]
    assert tell(client, pruned["number"], 1.0, state="pruned").status_code == 200
    assert importance(client)["trials_used"] == 10


def test_an_unknown_objective_is_refused_listing_the_metrics(client: FlaskClient) -> None:
    multi_objective(client)
    problem = assert_problem(client.get("/v1/studies/mo/importance", query_string={"objective": "loss"}), 422,
                             "objective")
    listed = " ".join(problem["errors"]["objective"])
    assert all(name in listed for name in ("accuracy", "n_params", "latency_ms"))
    assert_problem(client.get("/v1/studies/mo/importance", query_string={"objective": ""}), 422, "query.objective")


@pytest.mark.parametrize(("values", "have"), [([], 0), ([0.5], 1), ([0.5, 0.5, 0.5], 1)])
def test_too_few_trials_or_one_value_is_a_conflict_saying_how_many(client: FlaskClient, values: list[float],
                                                                   have: int) -> None:
    create(client)
    told = iter(values)
    if values:
        imported(client, len(values), lambda p: {"value": next(told)})
    ask(client)  # a running trial counts for nothing
    problem = assert_problem(client.get("/v1/studies/s/importance"), 409)
    assert problem["type"] == "urn:suggest-api:problem:too-few-trials"
    assert problem["needed"] == 2 and problem["have"] == have


def test_a_missing_study_is_404(client: FlaskClient) -> None:
    problem = assert_problem(client.get("/v1/studies/nope/importance"), 404)
    assert "nope" in problem["detail"]


def test_another_teams_study_answers_like_a_missing_one_and_a_read_key_may_ask(
        secured_app: flask.Flask, alpha: TeamKeys, beta: TeamKeys) -> None:
    client = secured_app.test_client()
    mine, theirs = bearer(alpha.member), bearer(beta.admin)
    assert client.post("/v1/studies", json=study_body("secret"), headers=mine).status_code == 201
    rng = random.Random(1)
    trials = [{"params": p, "value": lr_loss(p)} for p in (params_of(rng) for _ in range(20))]
    assert client.post("/v1/studies/secret/trials", json={"trials": trials}, headers=mine).status_code == 201
    hidden = assert_problem(client.get("/v1/studies/secret/importance", headers=theirs), 404)
    missing = assert_problem(client.get("/v1/studies/nothing/importance", headers=theirs), 404)
    assert {k: v for k, v in hidden.items() if k != "request_id"} == {
        k: (v.replace("nothing", "secret") if k == "detail" else v) for k, v in missing.items() if k != "request_id"}
    read = client.get("/v1/studies/secret/importance", headers=bearer(alpha.read))
    assert read.status_code == 200 and read.json["trials_used"] == 20
    assert_problem(client.get("/v1/studies/secret/importance"), 401)


def test_a_remembered_answer_is_replaced_once_a_result_is_told(app: flask.Flask, client: FlaskClient) -> None:
    cache = app.extensions["suggest_api"].importance
    create(client)
    imported(client, 30, lambda p: {"value": lr_loss(p)})
    first = importance(client)
    assert importance(client) == first and len(cache) == 1  # the second answer was the remembered one
    trial = ask(client)[0]
    assert tell(client, trial["number"], 100.0).status_code == 200
    after = importance(client)
    assert after["trials_used"] == 31 and after != first and len(cache) == 2


@pytest.fixture
def few_trials(database_url: str) -> Iterator[FlaskClient]:
    """An app that uses at most the newest 40 completed trials."""
    app = create_app(Settings(database_url=database_url, limits=Limits(max_importance_trials=40)))
    try:
        yield app.test_client()
    finally:
        app.extensions["suggest_api"].engine.dispose()


def test_only_the_newest_trials_up_to_the_limit_are_used(few_trials: FlaskClient) -> None:
    """The old trials follow lr, the newest 40 the batch size: with the limit only the batch size matters."""
    client = few_trials
    create(client)
    imported(client, 100, lambda p: {"value": lr_loss(p)}, seed=1)
    imported(client, 40, lambda p: {"value": batch_loss(p)}, seed=2)
    body = importance(client)
    assert body["trials_used"] == 40 and ranked(body)[0] == "batch_size"


def test_the_document_describes_the_answer_with_bounded_lists(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    operation = document["paths"]["/v1/studies/{name}/importance"]["get"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["objective"]
    schemas = document["components"]["schemas"]
    answer = schemas[operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]]
    assert answer["properties"]["params"]["maxItems"] == Limits().max_params
    assert set(answer["required"]) == {"objective", "goal", "trials_used", "params", "forest", "grey_relational"}
