"""Studies: create/get-identical/conflict, list with cursors, read, delete, and their refusals."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import flask
import pytest
from flask.testing import FlaskClient

from tests.api.support import SPACE, ask, assert_problem, create, study_body, tell


def test_create_returns_the_study_with_defaults(client: FlaskClient) -> None:
    study = create(client)
    assert study["name"] == "s"
    assert study["suggester"] == {"name": "random", "options": {}}
    assert study["objective"] == {"name": "loss", "goal": "minimize"}
    assert study["seed"] == 7
    assert study["heartbeat_timeout"] == 300
    assert study["trial_counts"]["total"] == 0 and study["best_trial"] is None
    assert [p["name"] for p in study["space"]["params"]] == ["lr", "batch_size", "optimizer", "momentum"]


def test_creating_the_same_study_again_returns_it_and_a_different_one_conflicts(client: FlaskClient) -> None:
    create(client)
    again = client.post("/v1/studies", json=study_body())
    assert again.status_code == 200 and again.json["name"] == "s"
    other = study_body(objective={"goal": "maximize"})
    problem = assert_problem(client.post("/v1/studies", json=other), 409)
    assert "objective" in problem["detail"]
    assert "objective.goal" in problem["differing_fields"]


def test_true_and_one_are_different_choices(client: FlaskClient) -> None:
    space = {"params": [{"name": "flag", "type": "categorical", "choices": [1, "a"]}]}
    create(client, space=space)
    other = {"params": [{"name": "flag", "type": "categorical", "choices": [True, "a"]}]}
    assert_problem(client.post("/v1/studies", json=study_body(space=other)), 409)


def test_seed_is_drawn_when_omitted_and_kept(client: FlaskClient) -> None:
    body = study_body()
    del body["seed"]
    first = client.post("/v1/studies", json=body)
    assert first.status_code == 201 and isinstance(first.json["seed"], int)
    second = client.post("/v1/studies", json=body)
    assert second.status_code == 200 and second.json["seed"] == first.json["seed"]


def test_list_pages_through_every_study_in_creation_order(client: FlaskClient) -> None:
    names = [f"study-{i}" for i in range(7)]
    for name in names:
        create(client, name)
    seen, cursor = [], None
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/studies", query_string=query).json
        assert len(page["studies"]) <= 3
        seen += [s["name"] for s in page["studies"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names


def test_a_forged_cursor_is_refused(client: FlaskClient) -> None:
    assert_problem(client.get("/v1/studies?cursor=not-a-cursor"), 422, "cursor")
    assert_problem(client.get("/v1/studies?limit=0"), 422, "query.limit")


def test_read_shows_counts_best_and_queue(client: FlaskClient) -> None:
    create(client)
    trials = ask(client, count=3)
    tell(client, trials[0]["number"], 0.5)
    tell(client, trials[1]["number"], 0.25)
    client.post("/v1/studies/s/trials", json={"trials": [{"params": trials[2]["params"]}]})
    study = client.get("/v1/studies/s").json
    assert study["trial_counts"] == {"running": 1, "completed": 2, "failed": 0, "pruned": 0, "total": 3}
    assert study["best_trial"]["number"] == trials[1]["number"] and study["best_trial"]["value"] == 0.25
    assert study["queued"] == 1


def test_delete_removes_the_study_and_its_trials(client: FlaskClient) -> None:
    create(client)
    ask(client, count=2)
    assert client.delete("/v1/studies/s").status_code == 204
    assert_problem(client.get("/v1/studies/s"), 404)
    assert_problem(client.delete("/v1/studies/s"), 404)
    create(client)  # the name is free again, with no trials
    assert client.get("/v1/studies/s/trials").json["trials"] == []


def test_unicode_names_work_in_urls(client: FlaskClient) -> None:
    name = "résumé-学習 🚀"
    create(client, name)
    assert client.get(f"/v1/studies/{quote(name)}").json["name"] == name


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty"), ("   ", "only spaces"), ("x" * 257, "at most 256"), ("a/b", "'/'"), ("tab\there", "control"),
    ("nul\x00", "control"),
])
def test_bad_names_are_refused_with_the_reason(client: FlaskClient, name: str, why: str) -> None:
    problem = assert_problem(client.post("/v1/studies", json=study_body(name)), 422, "name")
    assert why in " ".join(problem["errors"]["name"])


@pytest.mark.parametrize(("change", "field"), [
    ({"suggester": {"name": "nope"}}, "suggester.name"),
    ({"suggester": {"name": "random", "options": {"bogus": 1}}}, "suggester.options"),
    ({"pruner": {"name": "nope"}}, "pruner.name"),
    ({"pruner": {"name": "median", "options": {"min_trials": -1}}}, "pruner.options"),
    ({"objective": {"goal": "sideways"}}, "objective"),
    ({"objective": {"name": "loss"}}, "objective"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": True}, "seed"),
    ({"heartbeat_timeout": 0}, "heartbeat_timeout"),
    ({"space": {"params": []}}, None),
    ({"space": "lr"}, "space"),
    ({"unexpected": 1}, "unexpected"),
])
def test_bad_definitions_are_refused_naming_the_field(client: FlaskClient, change: dict[str, object],
                                                      field: str | None) -> None:
    assert_problem(client.post("/v1/studies", json=study_body() | change), 422, field)
    assert client.get("/v1/studies").json["studies"] == []


def test_an_invalid_space_names_the_parameter(client: FlaskClient) -> None:
    space = {"params": [{"name": "lr", "type": "float", "low": 0.1, "high": 0.01}]}
    problem = assert_problem(client.post("/v1/studies", json=study_body(space=space)), 422)
    assert problem["type"].endswith("invalid-space")
    assert "lr" in problem["detail"] or "lr" in str(problem["errors"])


def test_missing_fields_are_named(client: FlaskClient) -> None:
    problem = assert_problem(client.post("/v1/studies", json={"name": "s"}), 422)
    assert {"space", "objective"} <= set(problem["errors"])


def test_create_with_an_idempotency_key_replays(client: FlaskClient) -> None:
    headers = {"Idempotency-Key": "create-1"}
    first = client.post("/v1/studies", json=study_body(), headers=headers)
    second = client.post("/v1/studies", json=study_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json == second.json and second.headers["Idempotent-Replayed"] == "true"
    assert_problem(client.post("/v1/studies", json=study_body(space=SPACE | {"x": 1}), headers=headers), 422,
                   "Idempotency-Key")


def test_concurrent_creates_of_one_study_make_one(app: flask.Flask) -> None:
    """Every worker may create its study at start-up: one 201, the rest 200, one row."""
    def create_once(_: int) -> int:
        return app.test_client().post("/v1/studies", json=study_body()).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(create_once, range(8)))
    assert statuses == [200] * 7 + [201]
    assert len(app.test_client().get("/v1/studies").json["studies"]) == 1


def test_concurrent_asks_with_one_idempotency_key_create_one_trial(app: flask.Flask) -> None:
    client = app.test_client()
    create(client)

    def ask_once(_: int) -> tuple[int, object]:
        response = app.test_client().post("/v1/studies/s/ask", json={"count": 2},
                                          headers={"Idempotency-Key": "same-key"})
        return response.status_code, response.json

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask_once, range(8)))
    assert {status for status, _ in answers} == {201}
    assert all(body == answers[0][1] for _, body in answers)
    assert client.get("/v1/studies/s").json["trial_counts"]["total"] == 2


def test_listing_shows_each_studys_own_best_trial(client: FlaskClient) -> None:
    """Best trials of a page are fetched together: each must follow its own study's goal, ties go to the
    lower number, and reports come along."""
    for name, goal in [("low", "minimize"), ("high", "maximize"), ("none", "minimize")]:
        client.post("/v1/studies", json=study_body(name, objective={"goal": goal}))
    for name in ("low", "high"):
        trials = ask(client, name, count=4)
        client.post(f"/v1/studies/{name}/trials/1/report", json={"step": 0, "value": 9.0})
        for trial, value in zip(trials, [0.5, 0.1, 0.9, 0.1], strict=True):
            tell(client, trial["number"], value, name=name)
    ask(client, "none")
    listed = {s["name"]: s["best_trial"] for s in client.get("/v1/studies").json["studies"]}
    assert (listed["low"]["number"], listed["low"]["value"]) == (1, 0.1)
    assert listed["low"]["intermediate"] == [{"step": 0, "value": 9.0, "prune": None, "reason": None}]
    assert (listed["high"]["number"], listed["high"]["value"]) == (2, 0.9)
    assert listed["none"] is None
    for name in ("low", "high"):
        assert client.get(f"/v1/studies/{name}/best").json == listed[name]
