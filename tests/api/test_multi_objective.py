"""Studies with several objectives and outcome constraints: definition, tells of `values`, the Pareto front,
`best`'s refusal, summaries with hypervolume, and every bad `values` shape; on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from suggest_api.storage.database import transaction
from suggest_api.storage.models import StudyRow
from tests.api.support import ask, assert_problem, create, study_body, tell
from tests.support.teams import TeamKeys, bearer

TWO = [{"name": "accuracy", "goal": "maximize"}, {"name": "n_params", "goal": "minimize"}]
LATENCY = [{"name": "latency_ms", "op": "<=", "bound": 20}]


def two_objectives(client: FlaskClient, name: str = "mo", **overrides: Any) -> dict[str, Any]:
    body = study_body(name) | {"objectives": TWO} | overrides
    del body["objective"]
    response = client.post("/v1/studies", json=body)
    assert response.status_code == 201, response.json
    created: dict[str, Any] = response.get_json()
    return created


def tell_values(client: FlaskClient, number: int, values: dict[str, Any], name: str = "mo", **extra: Any) -> Any:
    return client.post(f"/v1/studies/{name}/tell", json={"number": number, "values": values, **extra})


def finish(client: FlaskClient, results: list[dict[str, float]], name: str = "mo") -> list[int]:
    """Ask one trial per result and tell it; the trial numbers."""
    numbers = []
    for values in results:
        [trial] = ask(client, name)
        response = tell_values(client, trial["number"], values, name)
        assert response.status_code == 200, response.json
        numbers.append(trial["number"])
    return numbers


def front(client: FlaskClient, name: str = "mo", **query: Any) -> dict[str, Any]:
    response = client.get(f"/v1/studies/{name}/pareto", query_string=query)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.get_json()
    return body


# --- definition -----------------------------------------------------------------------------------------------


def test_a_study_with_two_objectives_shows_them_and_an_empty_front(client: FlaskClient) -> None:
    study = two_objectives(client)
    assert study["objectives"] == TWO
    assert study["objective"] == TWO[0] and study["constraints"] == [] and study["reference_point"] is None
    assert study["best_trial"] is None
    assert study["pareto"] == {"size": 0, "hypervolume": None, "reference_point": None,
                               "reference_point_derived": True}


def test_a_list_of_one_objective_is_the_same_study_as_objective(client: FlaskClient) -> None:
    created = create(client, "one")
    body = study_body("one")
    body["objectives"] = [body.pop("objective")]
    again = client.post("/v1/studies", json=body)
    assert again.status_code == 200 and again.json["objectives"] == [created["objective"]]
    assert again.json["pareto"] is None


@pytest.mark.parametrize("change", [
    {"objectives": list(reversed(TWO))},
    {"objectives": [TWO[0], {"name": "n_params", "goal": "maximize"}]},
    {"objectives": TWO, "constraints": LATENCY},
    {"objectives": TWO, "reference_point": [0.0, 1e6]},
])
def test_recreating_with_other_objectives_or_constraints_is_a_conflict(client: FlaskClient,
                                                                       change: dict[str, Any]) -> None:
    two_objectives(client)
    body = study_body("mo") | change
    del body["objective"]
    if "objectives" not in change:
        body["objectives"] = TWO
    problem = assert_problem(client.post("/v1/studies", json=body), 409)
    assert problem["differing_fields"]


@pytest.mark.parametrize(("change", "field"), [
    ({"objectives": []}, "objectives"),
    ({"objectives": [{"name": f"m{i}", "goal": "minimize"} for i in range(5)]}, "objectives"),
    ({"objectives": [TWO[0], TWO[0]]}, "objectives[1].name"),
    ({"objectives": [{"name": "", "goal": "minimize"}, TWO[1]]}, "objectives[0].name"),
    ({"objectives": [{"name": "a", "goal": "sideways"}, TWO[1]]}, "objectives"),
    ({"objectives": TWO, "objective": TWO[0]}, "objective"),
    ({"objectives": None}, "objective"),
    ({"objectives": TWO, "constraints": [{"name": "accuracy", "op": "<=", "bound": 1}]}, "constraints[0].name"),
    ({"objectives": TWO, "constraints": LATENCY * 2}, "constraints[1].name"),
    ({"objectives": TWO, "constraints": [{"name": "x", "op": "<", "bound": 1}]}, "constraints"),
    ({"objectives": TWO, "constraints": [{"name": "x", "op": "<=", "bound": "1"}]}, "constraints"),
    ({"objectives": TWO, "constraints": [{"name": "x", "op": "<=", "bound": 1, "unit": "ms"}]},
     "constraints"),
    ({"objectives": TWO, "constraints": [{"name": f"c{i}", "op": "<=", "bound": 1} for i in range(9)]},
     "constraints"),
    ({"objectives": TWO, "reference_point": [1.0]}, "reference_point"),
    ({"objectives": TWO, "reference_point": [1.0, "x"]}, "reference_point"),
    ({"objectives": [TWO[0]], "reference_point": [1.0]}, "reference_point"),
    ({"objectives": TWO, "pruner": {"name": "median"}}, "pruner"),
])
def test_bad_definitions_are_refused_naming_the_field(client: FlaskClient, change: dict[str, Any],
                                                     field: str) -> None:
    body = study_body("bad") | change
    del body["objective"]
    if "objective" in change:
        body["objective"] = change["objective"]
    if change.get("objectives") is None:
        body.pop("objectives", None)
    assert_problem(client.post("/v1/studies", json=body), 422, field)
    assert client.get("/v1/studies/bad").status_code == 404


def test_a_pruner_with_one_objective_and_constraints_is_accepted(client: FlaskClient) -> None:
    study = create(client, "c", constraints=LATENCY, pruner={"name": "median"})
    assert study["constraints"] == [{"name": "latency_ms", "op": "<=", "bound": 20.0}]
    assert study["pruner"]["name"] == "median"


# --- tells --------------------------------------------------------------------------------------------------


def test_told_values_are_stored_and_read_back(client: FlaskClient) -> None:
    two_objectives(client)
    [trial] = ask(client, "mo")
    told = tell_values(client, trial["number"], {"accuracy": 0.9, "n_params": 1200})
    assert told.status_code == 200
    assert told.json["values"] == {"accuracy": 0.9, "n_params": 1200.0}
    assert told.json["value"] is None and told.json["feasible"] is None and told.json["state"] == "completed"
    read = client.get(f"/v1/studies/mo/trials/{trial['number']}").json
    assert read["values"] == told.json["values"]


def test_repeating_a_tell_is_a_no_op_and_a_different_one_a_conflict(client: FlaskClient) -> None:
    two_objectives(client)
    [trial] = ask(client, "mo")
    values = {"accuracy": 0.5, "n_params": 10}
    first = tell_values(client, trial["number"], values)
    again = tell_values(client, trial["number"], values)
    assert again.status_code == 200 and again.json == first.json
    assert_problem(tell_values(client, trial["number"], {"accuracy": 0.6, "n_params": 10}), 409)
    assert client.get(f"/v1/studies/mo/trials/{trial['number']}").json["values"] == {"accuracy": 0.5,
                                                                                     "n_params": 10.0}


def test_a_tell_with_an_idempotency_key_is_answered_once(client: FlaskClient) -> None:
    two_objectives(client)
    [trial] = ask(client, "mo")
    headers = {"Idempotency-Key": "tell-mo-1"}
    body = {"number": trial["number"], "values": {"accuracy": 0.7, "n_params": 3}}
    first = client.post("/v1/studies/mo/tell", json=body, headers=headers)
    second = client.post("/v1/studies/mo/tell", json=body, headers=headers)
    assert first.status_code == second.status_code == 200 and first.json == second.json


@pytest.mark.parametrize(("body", "field"), [
    ({"value": 0.5}, "value"),
    ({}, "values"),
    ({"values": {"accuracy": 0.5}}, "values.n_params"),
    ({"values": {"accuracy": 0.5, "n_params": 3, "latency": 1}}, "values.latency"),
    ({"values": {"accuracy": "0.5", "n_params": 3}}, "values.accuracy"),
    ({"values": {"accuracy": True, "n_params": 3}}, "values.accuracy"),
    ({"values": {"accuracy": None, "n_params": 3}}, "values.accuracy"),
    ({"values": {"accuracy": [0.5], "n_params": 3}}, "values.accuracy"),
    ({"values": {"accuracy": 1e400, "n_params": 3}}, None),
    ({"values": {"accuracy": 0.5, "n_params": 3}, "value": 0.5}, "value"),
    ({"values": {"accuracy": 0.5, "n_params": 3}, "state": "failed"}, "values"),
    ({"values": {"accuracy": 0.5, "n_params": 3}, "state": "running"}, "state"),
    ({"values": [0.5, 3]}, "values"),
    ({"values": "0.5"}, "values"),
    ({"values": {"äcc ü": 1, "accuracy": 0.5, "n_params": 3}}, "values.äcc ü"),
])
def test_every_bad_values_shape_is_refused_and_leaves_the_trial_running(client: FlaskClient, body: dict[str, Any],
                                                                        field: str | None) -> None:
    two_objectives(client)
    [trial] = ask(client, "mo")
    response = client.post("/v1/studies/mo/tell", json={"number": trial["number"], **body})
    assert response.status_code in (400, 422), response.json
    problem = assert_problem(response, response.status_code, field)
    if field is not None and field.startswith("values."):
        assert repr(field.removeprefix("values."))[1:-1] in problem["detail"] or field in str(problem["errors"])
    assert client.get(f"/v1/studies/mo/trials/{trial['number']}").json["state"] == "running"


def test_non_finite_values_parsed_from_the_body_are_refused(client: FlaskClient) -> None:
    two_objectives(client)
    [trial] = ask(client, "mo")
    for text in ('NaN', 'Infinity', '-Infinity', '1e999'):
        response = client.post("/v1/studies/mo/tell", data=f'{{"number": {trial["number"]}, "values": '
                               f'{{"accuracy": {text}, "n_params": 3}}}}', content_type="application/json")
        assert_problem(response, response.status_code)
        assert response.status_code in (400, 422)
    assert client.get(f"/v1/studies/mo/trials/{trial['number']}").json["state"] == "running"


def test_failed_and_pruned_need_no_values(client: FlaskClient) -> None:
    two_objectives(client)
    first, second = ask(client, "mo", count=2)
    assert tell(client, first["number"], name="mo", state="failed").json["values"] is None
    assert tell(client, second["number"], name="mo", state="pruned").json["state"] == "pruned"


def test_a_plain_study_also_takes_values_with_just_its_objective(client: FlaskClient) -> None:
    create(client)
    first, second = ask(client, count=2)
    told = tell_values(client, first["number"], {"loss": 0.25}, "s")
    assert told.status_code == 200 and told.json["value"] == 0.25 and told.json["values"] is None
    assert_problem(tell_values(client, second["number"], {"loss": 0.2, "other": 1}, "s"), 422, "values.other")
    assert_problem(tell_values(client, second["number"], {"los": 0.2}, "s"), 422, "values.loss")


# --- constraints ------------------------------------------------------------------------------------------


def test_constraints_decide_feasibility_and_best_skips_infeasible_trials(client: FlaskClient) -> None:
    create(client, "c", constraints=LATENCY + [{"name": "memory", "op": ">=", "bound": -1}])
    results = [{"loss": 0.1, "latency_ms": 35, "memory": 0}, {"loss": 0.3, "latency_ms": 20, "memory": 0},
               {"loss": 0.2, "latency_ms": 5, "memory": -2}]
    numbers = finish(client, results, "c")
    trials = client.get("/v1/studies/c/trials").json["trials"]
    assert [t["feasible"] for t in trials] == [False, True, False]
    assert [t["value"] for t in trials] == [0.1, 0.3, 0.2]
    assert client.get("/v1/studies/c/best").json["number"] == numbers[1]
    assert client.get("/v1/studies/c").json["best_trial"]["number"] == numbers[1]
    assert [t["number"] for t in front(client, "c")["trials"]] == [numbers[1]]
    assert_problem(tell_values(client, ask(client, "c")[0]["number"], {"loss": 0.1}, "c"), 422, "values.latency_ms")


def test_best_of_a_constrained_study_with_no_feasible_trial_says_so(client: FlaskClient) -> None:
    create(client, "c", constraints=LATENCY)
    finish(client, [{"loss": 0.1, "latency_ms": 99}], "c")
    problem = assert_problem(client.get("/v1/studies/c/best"), 404)
    assert "constraints" in problem["detail"] and problem["type"].endswith("no-completed-trial")


# --- the front ----------------------------------------------------------------------------------------------


def test_the_front_holds_exactly_the_non_dominated_feasible_trials(client: FlaskClient) -> None:
    two_objectives(client, constraints=LATENCY)
    results = [
        {"accuracy": 0.90, "n_params": 100, "latency_ms": 10},   # front
        {"accuracy": 0.80, "n_params": 50, "latency_ms": 10},    # front
        {"accuracy": 0.80, "n_params": 100, "latency_ms": 10},   # dominated by both
        {"accuracy": 0.99, "n_params": 10, "latency_ms": 30},    # would dominate all, but infeasible
        {"accuracy": 0.90, "n_params": 100, "latency_ms": 1},    # ties the first: both stay
        {"accuracy": 0.70, "n_params": 20, "latency_ms": 20},    # front (bound is inclusive)
    ]
    numbers = finish(client, results)
    [running] = ask(client, "mo")
    body = front(client)
    assert [t["number"] for t in body["trials"]] == [numbers[i] for i in (0, 1, 4, 5)]
    assert running["number"] not in [t["number"] for t in body["trials"]]
    assert body["size"] == 4 and body["next_cursor"] is None
    assert all(t["feasible"] for t in body["trials"])
    summary = client.get("/v1/studies/mo").json["pareto"]
    assert summary["size"] == 4 and summary["reference_point_derived"] is True
    # The derived reference is the front's nadir plus a tenth of its range in each objective.
    assert summary["reference_point"] == pytest.approx([0.70 - 0.1 * 0.2, 100 + 0.1 * 80])
    signed_front = [(-0.9, 100.0), (-0.8, 50.0), (-0.7, 20.0)]
    assert summary["hypervolume"] == pytest.approx(brute_force_hypervolume(signed_front, (-0.68, 108)))


def brute_force_hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """The union of boxes [p, reference] by inclusion and exclusion (minimization, tiny fronts only)."""
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(points, size):
            corner = [max(p[i] for p in subset) for i in range(2)]
            volume = max(reference[0] - corner[0], 0.0) * max(reference[1] - corner[1], 0.0)
            total += volume if size % 2 else -volume
    return total


def test_a_given_reference_point_gives_the_hypervolume(client: FlaskClient) -> None:
    two_objectives(client, reference_point=[0.0, 1000])
    finish(client, [{"accuracy": 0.5, "n_params": 500}, {"accuracy": 0.25, "n_params": 100}])
    body = front(client)
    # Maximized accuracy counts from 0 up, minimized n_params from 1000 down: 0.5*500 + 0.25*400 = 350.
    assert body["hypervolume"] == pytest.approx(0.5 * 500 + 0.25 * 400)
    assert body["reference_point"] == [0.0, 1000.0] and body["reference_point_derived"] is False
    assert client.get("/v1/studies/mo").json["pareto"]["hypervolume"] == pytest.approx(350)


def test_points_worse_than_the_reference_add_no_volume(client: FlaskClient) -> None:
    two_objectives(client, reference_point=[0.5, 10])
    finish(client, [{"accuracy": 0.4, "n_params": 1}, {"accuracy": 0.9, "n_params": 20}])
    body = front(client)
    assert body["size"] == 2 and body["hypervolume"] == 0.0


def test_the_front_pages_by_trial_number(client: FlaskClient) -> None:
    two_objectives(client)
    numbers = finish(client, [{"accuracy": i / 10, "n_params": i} for i in range(7)])
    seen: list[int] = []
    cursor = None
    while True:
        body = front(client, limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(body["trials"]) <= 3 and body["size"] == 7
        seen += [t["number"] for t in body["trials"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == numbers
    assert_problem(client.get("/v1/studies/mo/pareto?cursor=garbage"), 422, "cursor")
    assert_problem(client.get("/v1/studies/mo/pareto?limit=0"), 422, "query.limit")


def test_three_objectives_have_a_hypervolume_and_four_do_not(client: FlaskClient) -> None:
    three = TWO + [{"name": "latency_ms", "goal": "minimize"}]
    body = study_body("three")
    del body["objective"]
    assert client.post("/v1/studies", json=body | {"objectives": three, "reference_point": [0, 10, 10]}
                       ).status_code == 201
    finish(client, [{"accuracy": 0.5, "n_params": 5, "latency_ms": 5}], "three")
    assert front(client, "three")["hypervolume"] == pytest.approx(0.5 * 5 * 5)
    four = three + [{"name": "energy", "goal": "minimize"}]
    body = study_body("four")
    del body["objective"]
    assert client.post("/v1/studies", json=body | {"objectives": four}).status_code == 201
    finish(client, [{"accuracy": 0.5, "n_params": 5, "latency_ms": 5, "energy": 1}], "four")
    summary = front(client, "four")
    assert summary["size"] == 1 and summary["hypervolume"] is None


def test_a_single_objective_front_is_its_best_trials(client: FlaskClient) -> None:
    create(client)
    for value in (0.3, 0.1, 0.2, 0.1):
        [trial] = ask(client)
        tell(client, trial["number"], value)
    body = front(client, "s")
    assert [t["value"] for t in body["trials"]] == [0.1, 0.1] and body["hypervolume"] is None


def test_best_of_a_multi_objective_study_points_to_the_front(client: FlaskClient) -> None:
    two_objectives(client)
    finish(client, [{"accuracy": 0.5, "n_params": 5}])
    problem = assert_problem(client.get("/v1/studies/mo/best"), 409)
    assert problem["type"] == "urn:suggest-api:problem:multi-objective" and "/v1/studies/mo/pareto" in problem["detail"]


def test_imported_results_with_values_join_the_front(client: FlaskClient) -> None:
    two_objectives(client)
    response = client.post("/v1/studies/mo/trials", json={"trials": [
        {"params": {"lr": 0.01, "batch_size": 32, "optimizer": "adam"}, "values": {"accuracy": 0.8, "n_params": 9}},
        {"params": {"lr": 0.02, "batch_size": 32, "optimizer": "adam"}}]})
    assert response.status_code == 201, response.json
    assert response.json["enqueued"] == 1 and response.json["imported"][0]["values"]["n_params"] == 9.0
    assert front(client)["size"] == 1
    bad = client.post("/v1/studies/mo/trials", json={"trials": [
        {"params": {"lr": 0.01, "batch_size": 32, "optimizer": "adam"}, "values": {"accuracy": 0.8}}]})
    assert_problem(bad, 422, "trials[0].values.n_params")
    assert front(client)["size"] == 1


@pytest.mark.parametrize("suggester", ["random", "grid", "bayesian", "genetic"])
def test_every_suggester_serves_a_multi_objective_study(client: FlaskClient, suggester: str) -> None:
    space = {"params": [{"name": "x", "type": "float", "low": 0, "high": 1, "grid": [0, 0.25, 0.5, 0.75, 1]},
                        {"name": "y", "type": "int", "low": 0, "high": 3}]}
    options = {"n_initial": 3} if suggester == "bayesian" else {"population_size": 3} if suggester == "genetic" else {}
    body = {"name": "every", "space": space, "objectives": TWO, "constraints": LATENCY, "seed": 1,
            "suggester": {"name": suggester, "options": options}}
    assert client.post("/v1/studies", json=body).status_code == 201
    seen = set()
    for _ in range(8):
        [trial] = ask(client, "every")
        x, y = trial["params"]["x"], trial["params"]["y"]
        seen.add((x, y))
        response = tell_values(client, trial["number"], {"accuracy": x, "n_params": y + (1 - x),
                                                         "latency_ms": 40 * x}, "every")
        assert response.status_code == 200
    assert len(seen) == 8
    assert front(client, "every")["size"] >= 1


def test_another_teams_front_answers_like_a_missing_study(secured_app: flask.Flask, alpha: TeamKeys,
                                                         beta: TeamKeys) -> None:
    client = secured_app.test_client()
    mine, theirs = bearer(alpha.member), bearer(beta.member)
    body = study_body("secret")
    del body["objective"]
    assert client.post("/v1/studies", json=body | {"objectives": TWO}, headers=mine).status_code == 201
    [trial] = client.post("/v1/studies/secret/ask", json={}, headers=mine).json["trials"]
    assert client.post("/v1/studies/secret/tell", json={"number": trial["number"], "values": {
        "accuracy": 1, "n_params": 1}}, headers=mine).status_code == 200
    hidden = client.get("/v1/studies/secret/pareto", headers=theirs)
    missing = client.get("/v1/studies/nothing/pareto", headers=theirs)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json["detail"].replace("secret", "X") == missing.json["detail"].replace("nothing", "X")
    assert client.get("/v1/studies/secret/pareto", headers=mine).json["size"] == 1


@pytest.mark.parametrize(("suggester", "added"), [("bayesian", ["multi_objective"]),
                                                  ("genetic", ["selection", "reference_divisions"])])
def test_a_study_stored_before_the_new_options_is_still_identical(app: flask.Flask, suggester: str,
                                                                   added: list[str]) -> None:
    """Workers re-create their study at start-up: one made by a version without these options must not be a 409."""
    client = app.test_client()
    created = create(client, "old", suggester={"name": suggester})
    assert set(added) <= set(created["suggester"]["options"])
    older = {k: v for k, v in created["suggester"]["options"].items() if k not in added}
    with transaction(app.extensions["suggest_api"].sessions, write=True) as session:
        session.execute(update(StudyRow).where(StudyRow.name == "old").values(
            suggester={"name": suggester, "options": older}))
    again = client.post("/v1/studies", json=study_body("old", suggester={"name": suggester}))
    assert again.status_code == 200, again.json
