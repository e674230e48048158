"""Property-based API tests: schemathesis fuzzes every operation of `/openapi.json`, in process (WSGI).

Each operation is one test per backend (SQLite, PostgreSQL: the `app` fixture's parameters), on an
empty migrated database holding one study, "bench", with a mixed space (log float, stepped int,
categorical, conditional float) and trials in every state. Generated requests (schemathesis's
examples, coverage and fuzzing phases; positive and negative data; derandomized, so CI reproduces a
failure) are steered to "bench", its trials and valid parameters most of the time, so the paths
behind "no such study" run too. Every answer must be documented: no 5xx, and a status code,
content type, headers and body that match the document; invalid requests must be refused (4xx) and
undeclared methods answered 405 with `Allow`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
import jsonschema_rs
import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from suggest_api.app import create_app
from suggest_api.config import Settings
from tests.api.helpers import SPACE, ask, create, study_body, tell

BENCH = "bench"
OTHER = "fuzzed"  # a study name the fuzzer may create, beside "bench"
TRIAL_NUMBERS = range(10)  # "bench" has trials 0..9 after seeding
VALID_PARAMS: list[dict[str, Any]] = [
    {"lr": 0.01, "batch_size": 32, "optimizer": "sgd", "momentum": 0.9},
    {"lr": 1e-5, "batch_size": 256, "optimizer": "adam"},
    {"lr": 0.1, "batch_size": 16, "optimizer": "rmsprop"},
]
CONFIG = schemathesis.Config.from_dict({
    "seed": 20240917,
    "generation": {"max-examples": 30, "deterministic": True, "database": "none", "mode": "all"},
    "phases": {"stateful": {"enabled": False}},
})
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    allow_header_conformance,
]


def seed_bench(client: FlaskClient) -> None:
    """Study "bench": trials 0-2 completed, failed, pruned; 3-7 running (3 with reports); 8, 9 imported;
    one parameter set enqueued."""
    create(client, BENCH)
    completed, failed, pruned, reported, *_running = (t["number"] for t in ask(client, BENCH, count=8))
    assert tell(client, completed, 0.25, name=BENCH).status_code == 200
    assert tell(client, failed, name=BENCH, state="failed").status_code == 200
    assert tell(client, pruned, 0.5, name=BENCH, state="pruned").status_code == 200
    for step, value in enumerate((0.9, 0.7)):
        response = client.post(f"/v1/studies/{BENCH}/trials/{reported}/report", json={"step": step, "value": value})
        assert response.status_code == 200, response.json
    response = client.post(f"/v1/studies/{BENCH}/trials", json={"trials": [
        {"params": VALID_PARAMS[0]}, {"params": VALID_PARAMS[1], "value": 0.4},
        {"params": VALID_PARAMS[2], "state": "failed"}]})
    assert response.status_code == 201, response.json


def load_schema() -> Any:
    """The document the service serves. create_app connects to nothing, so no database is needed."""
    app = create_app(Settings(database_url="sqlite://"))
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)
    app.extensions["suggest_api"].engine.dispose()
    return loaded


schema = load_schema()


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Mostly "bench" and its trials; sometimes the generated value (404s, odd names)."""
    if not path_parameters:
        return st.just(path_parameters)
    choices: dict[str, st.SearchStrategy[Any]] = {}
    name = path_parameters.get("name")
    if isinstance(name, str) and name:  # valid as documented: replacing it keeps a negative case negative
        choices["name"] = st.sampled_from([BENCH, BENCH, BENCH, name])
    number = path_parameters.get("number")
    if isinstance(number, int) and not isinstance(number, bool) and number >= 0:
        choices["number"] = st.sampled_from([*TRIAL_NUMBERS, number])
    return st.fixed_dictionaries(choices).map(lambda chosen: {**path_parameters, **chosen})


_validators: dict[str, jsonschema_rs.Validator] = {}


def conforms(value: Any, component: str, field: str | None = None) -> bool:
    """Whether `value` is valid as the document says, for a component schema or one of its fields."""
    pointer = f"#/components/schemas/{component}" + (f"/properties/{field}" if field else "")
    if pointer not in _validators:
        root = {"$ref": pointer, "components": schema.raw_schema["components"]}
        _validators[pointer] = jsonschema_rs.validator_for(root)
    return _validators[pointer].is_valid(value)


def _steer_study(body: dict[str, Any]) -> list[dict[str, Any]]:
    if not all(conforms(body.get(f), "StudyIn", f) for f in ("name", "space")) \
            or not all(conforms(body[f], "StudyIn", f) for f in ("suggester", "pruner") if f in body):
        return []

    def valid_definition(name: str) -> dict[str, Any]:
        steered = {**body, "name": name, "space": SPACE}
        if "suggester" in steered:
            steered["suggester"] = {"name": "random", "options": {}}
        if "pruner" in steered:
            steered["pruner"] = None
        return steered

    steered = [valid_definition(OTHER), valid_definition(BENCH)]  # a new study; "bench" redefined (409)
    if conforms(body, "StudyIn"):
        steered.append(study_body(BENCH))  # "bench" as it is (200)
    return steered


def _steer_tell(body: dict[str, Any]) -> list[dict[str, Any]]:
    if not conforms(body.get("number"), "TellIn", "number"):
        return []
    told = [{**body, "number": number} for number in TRIAL_NUMBERS]
    if body.get("value") is None and body.get("state") is None:  # adding a valid field keeps the case's kind
        told = [{**body, "number": number, "value": 0.5} for number in TRIAL_NUMBERS] + told
    return told


def _steer_trials(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("trials")
    if not isinstance(items, list) or not all(
            isinstance(item, dict) and conforms(item.get("params"), "NewTrialIn", "params") for item in items):
        return []
    return [{**body, "trials": [{**item, "params": params} for item in items]} for params in VALID_PARAMS]


# What the generator cannot guess (a valid space, a running trial's number, params inside the space)
# is swapped in, only for fields whose generated value is already valid as documented: a negative
# case (its invalid part elsewhere) stays negative, so negative_data_rejection still holds.
STEERING: dict[tuple[str, str], Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    ("POST", "/v1/studies"): _steer_study,
    ("POST", "/v1/studies/{name}/tell"): _steer_tell,
    ("POST", "/v1/studies/{name}/trials"): _steer_trials,
}


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    steer = STEERING.get((context.operation.method.upper(), context.operation.path))
    alternatives = steer(body) if steer is not None and isinstance(body, dict) else []
    # Hypothesis favours the first choices, so the steered ones come first; the generated body
    # stays among them, so odd-but-valid input still reaches the service.
    return st.sampled_from([*alternatives, body])


@pytest.fixture
def bench(client: FlaskClient) -> None:
    seed_bench(client)


@schema.parametrize()
# One database per operation (not per example) is the point; a slow CI machine is not a failure.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_api_conforms_to_its_openapi_document(case: Case[Any], app: flask.Flask, client: FlaskClient,
                                              bench: None) -> None:
    response = case.call_and_validate(app=app, checks=CHECKS)
    if case.method.upper() == "DELETE" and response.status_code == 204 and case.path_parameters["name"] == BENCH:
        create(client, BENCH)  # the next examples need "bench" again
