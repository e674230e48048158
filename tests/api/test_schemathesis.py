"""Property-based API tests: schemathesis fuzzes every operation of `/openapi.json` in-process (WSGI).

On SQLite and PostgreSQL (the `app` fixture's backends), each operation gets positive and negative
requests, derandomized so a failure reproduces in CI. Every answer must be documented: no 5xx, a
status code, content type, headers and body that match the document. A study named "bench" with a
mixed space and trials in every state exists first, and generated `name` / `number` path
parameters are steered to it most of the time, so the paths past "no such study" are exercised too.
"""

from __future__ import annotations

from typing import Any

import flask
import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from suggest_api.app import create_app
from suggest_api.config import Settings
from tests.api.helpers import ask, create, tell

BENCH = "bench"
EXAMPLES_PER_OPERATION = 40
CONFIG = schemathesis.Config.from_dict({
    "seed": 20240917,
    "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True, "database": "none",
                   "mode": "all"},
    "phases": {"stateful": {"enabled": False}},
})
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def seed_bench(client: FlaskClient) -> dict[str, int]:
    """Study "bench": trials completed, failed, pruned, reported and still running. Returns their numbers."""
    create(client, BENCH)
    done, failed, pruned, reported, running = (t["number"] for t in ask(client, BENCH, count=5))
    assert tell(client, done, 0.25, name=BENCH).status_code == 200
    assert tell(client, failed, name=BENCH, state="failed").status_code == 200
    assert tell(client, pruned, 0.5, name=BENCH, state="pruned").status_code == 200
    for step, value in enumerate((0.9, 0.7)):
        response = client.post(f"/v1/studies/{BENCH}/trials/{reported}/report", json={"step": step, "value": value})
        assert response.status_code == 200, response.json
    response = client.post(f"/v1/studies/{BENCH}/trials", json={"trials": [
        {"params": {"lr": 0.01, "batch_size": 32, "optimizer": "sgd", "momentum": 0.9}},
        {"params": {"lr": 0.001, "batch_size": 64, "optimizer": "adam"}, "value": 0.4}]})
    assert response.status_code == 201, response.json
    return {"completed": done, "failed": failed, "pruned": pruned, "reported": reported, "running": running}


def load_schema() -> Any:
    """The document the service serves. create_app connects to nothing, so no database is needed here."""
    app = create_app(Settings(database_url="sqlite://"))
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)
    app.extensions["suggest_api"].engine.dispose()
    return loaded


schema = load_schema()


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Mostly the seeded study and its first trials; sometimes what was generated (404s, odd names)."""
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    name = path_parameters.get("name")
    if isinstance(name, str) and name:
        strategies["name"] = st.sampled_from([BENCH, BENCH, BENCH, name])
    number = path_parameters.get("number")
    if isinstance(number, int) and not isinstance(number, bool) and number >= 0:
        strategies["number"] = st.sampled_from([0, 1, 2, 3, 4, 5, number])
    return st.fixed_dictionaries(strategies).map(lambda chosen: {**path_parameters, **chosen})


@pytest.fixture
def bench(client: FlaskClient) -> dict[str, int]:
    return seed_bench(client)


@schema.parametrize()
def test_api_conforms_to_its_openapi_document(case: Case, app: flask.Flask, client: FlaskClient,
                                              bench: dict[str, int]) -> None:
    response = case.call_and_validate(app=app, checks=CHECKS)
    if case.method.upper() == "DELETE" and response.status_code == 204 and case.path_parameters["name"] == BENCH:
        seed_bench(client)  # a fuzzed DELETE may remove "bench": bring it back for the next cases
