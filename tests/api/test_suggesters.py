"""Choosing a suggester over HTTP: options validated at creation, defaults shown, every algorithm asks."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from suggest_api.suggesters.registry import suggesters
from tests.api.support import ask, create, study_body, tell

NAMES = sorted(suggesters.specs())


@pytest.mark.parametrize("name", NAMES)
def test_a_study_shows_its_suggester_with_every_default_filled_in(client: FlaskClient, name: str) -> None:
    study = create(client, suggester={"name": name})
    schema = suggesters.specs()[name].options_schema()
    assert study["suggester"]["name"] == name
    assert set(study["suggester"]["options"]) == set(schema.fields)


def test_the_bayesian_pending_policy_is_chosen_and_shown(client: FlaskClient) -> None:
    study = create(client, suggester={"name": "bayesian", "options": {"pending": "constant_liar_max"}})
    assert study["suggester"]["options"]["pending"] == "constant_liar_max"
    again = client.get("/v1/studies/s").json
    assert again["suggester"]["options"]["pending"] == "constant_liar_max"


@pytest.mark.parametrize(("options", "field"), [
    ({"pending": "believe_everything"}, "pending"),
    ({"n_initial": 0}, "n_initial"),
    ({"n_initial": "ten"}, "n_initial"),
    ({"acquisition": None}, "acquisition"),
])
def test_bad_bayesian_options_are_a_422_naming_the_option(client: FlaskClient, options: dict[str, object],
                                                          field: str) -> None:
    response = client.post("/v1/studies", json=study_body(suggester={"name": "bayesian", "options": options}))
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"]["suggester.options"]
    assert client.get("/v1/studies/s").status_code == 404


@pytest.mark.parametrize(("options", "field"), [
    ({"population_size": 1}, "population_size"),
    ({"mutation_rate": 1.5}, "mutation_rate"),
    ({"crossover_rate": -0.1}, "crossover_rate"),
    ({"tournament_size": 0}, "tournament_size"),
])
def test_bad_genetic_options_are_a_422_naming_the_option(client: FlaskClient, options: dict[str, object],
                                                         field: str) -> None:
    response = client.post("/v1/studies", json=study_body(suggester={"name": "genetic", "options": options}))
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["suggester.options"]


@pytest.mark.parametrize("name", NAMES)
def test_every_suggester_serves_a_whole_small_study(client: FlaskClient, name: str) -> None:
    """Asks (single and batched) and tells for 14 trials: params valid, numbers sequential, values stored."""
    create(client, suggester={"name": name, "options": {"n_initial": 3} if name == "bayesian" else {}})
    numbers = []
    for count in (1, 3, 1, 4, 1, 2, 2):
        for trial in ask(client, count=count):
            numbers.append(trial["number"])
            params = trial["params"]
            loss = (params["lr"] - 0.01) ** 2 + (params["batch_size"] - 64) ** 2 / 1e4
            assert tell(client, trial["number"], loss).status_code == 200
    assert numbers == list(range(14))
    study = client.get("/v1/studies/s").json
    assert study["trial_counts"]["completed"] == 14
    assert client.get("/v1/studies/s/best").status_code == 200


def test_a_batch_from_a_model_based_suggester_holds_distinct_points(client: FlaskClient) -> None:
    create(client, suggester={"name": "bayesian", "options": {"n_initial": 4}})
    for trial in ask(client, count=6):
        tell(client, trial["number"], trial["params"]["lr"])
    batch = ask(client, count=8)
    assert len({repr(sorted(t["params"].items())) for t in batch}) == 8


def test_a_space_too_wide_for_the_gaussian_process_is_refused_at_creation(client: FlaskClient) -> None:
    """40 categoricals of 30 choices: 1,200 one-hot columns. The genetic suggester takes the same space."""
    space = {"params": [{"name": f"c{i}", "type": "categorical", "choices": list(range(30))} for i in range(40)]}
    response = client.post("/v1/studies", json=study_body(space=space, suggester={"name": "bayesian"}))
    assert response.status_code == 422, response.json
    assert "1,200" in response.json["detail"] and "genetic" in response.json["detail"]
    assert "space" in response.json["errors"]
    create(client, space=space, suggester={"name": "genetic"})
    assert len(ask(client, count=2)) == 2


def test_wide_categorical_spaces_are_served_by_genetic_and_random(client: FlaskClient) -> None:
    """25 categoricals of 1,000 choices: 25,000 cube columns, beyond what a Sobol engine supports."""
    space = {"params": [{"name": f"c{i}", "type": "categorical", "choices": [f"v{j}" for j in range(1000)]}
                        for i in range(25)]}
    for name in ("genetic", "random"):
        create(client, name, space=space, suggester={"name": name, "options": {"population_size": 2}
                                                     if name == "genetic" else {}})
        for _ in range(3):
            for trial in ask(client, name, count=2):
                assert tell(client, trial["number"], float(trial["number"]), name=name).status_code == 200
