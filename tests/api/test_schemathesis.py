"""Property-based API tests: schemathesis fuzzes every operation of `/openapi.json`, in process (WSGI).

The app runs as deployed for many teams (SUGGEST_AUTH=required), on SQLite and on PostgreSQL. Team
"alpha" has a key of each role and the study "bench", made by its member key, with a mixed space (log
float, stepped int, categorical, conditional float) and trials in every state.

`test_api_conforms_to_its_openapi_document`: each operation is one test per backend, on a fresh migrated
database (the `secured_app` fixture). Every generated request carries alpha's admin key, so every
operation is reachable; a negative case that drops or corrupts `Authorization` must be answered 401.
Requests (schemathesis's examples, coverage and fuzzing phases; positive and negative data;
derandomized, so CI reproduces a failure) are steered to "bench", its trials, alpha's member and read
keys and valid parameters most of the time, so the paths behind "no such study" run too. Every answer
must be documented: no 5xx, and a status code, content type, headers and body that match the document;
invalid requests must be refused (4xx) and undeclared methods answered 405 with `Allow`.

`test_no_team_reaches_another_teams_study_or_keys`: tenant isolation. Every operation on a study or a
key, called with the admin key of team "beta" and aimed at alpha's "bench", its trials and alpha's key
ids, must fail (no 2xx, no 5xx, every answer documented); after each operation's run, bench, its trials,
alpha's keys (none revoked) and alpha's audit trail are exactly as seeded. Nothing changes, so the
operations share one database per backend, and fewer (positive) cases suffice: keeps the module's time.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import flask
import jsonschema_rs
import psycopg
import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import AuthContext, Case
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
from sqlalchemy.engine import make_url

from suggest_api.accounts import parse_key
from suggest_api.app import create_app
from suggest_api.config import Settings
from suggest_api.storage.database import make_engine, normalize_url
from suggest_api.storage.migrate import upgrade
from tests.api.support import SPACE, ask, create, study_body, tell
from tests.support.teams import TeamKeys, make_team_with_keys

POSTGRES_URL = os.environ.get("SUGGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
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
# Another team's key: what matters is that valid requests aimed at alpha's things fail (invalid ones are
# refused before any study or key is looked up, and the main test covers those), so fewer, positive cases.
FOREIGN_CONFIG = schemathesis.Config.from_dict({
    "seed": 20240917,
    "generation": {"max-examples": 15, "deterministic": True, "database": "none", "mode": "positive"},
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


@dataclass
class KeyTargets:
    """Which of alpha's keys a `key_id` aims at: keys are made per test (one database each), while hooks are
    registered once, at import, and read this when the fuzzing phase draws."""

    key_ids: tuple[str, ...] = ()


TARGETS = KeyTargets()


def key_id(key: str) -> str:
    found = parse_key(key)
    assert found is not None
    return found


def authorized(client: FlaskClient, key: str) -> FlaskClient:
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


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


def load_schema(config: schemathesis.Config) -> Any:
    """The document the service serves. create_app connects to nothing, so no database is needed."""
    app = create_app(Settings(database_url="sqlite://", auth="required"))
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    app.extensions["suggest_api"].engine.dispose()
    return loaded


#: What the auth provider puts in a case, swapped for the test's key at call time (`call_as`): the coverage
#: phase's cases are made when pytest collects, before any key exists.
PLACEHOLDER = "Bearer sapi_000000000000_" + "0" * 40


class PlaceholderKey:
    """Every generated case carries the placeholder, except a negative case whose `Authorization` is the
    invalid part: schemathesis then leaves it missing or corrupted, and sends it so."""

    def get(self, case: Case[Any], context: AuthContext) -> str:
        return PLACEHOLDER

    def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
        case.headers["Authorization"] = data


schema = load_schema(CONFIG)
# Each loaded separately: a schema's clones share its hooks and auth.
foreign = load_schema(FOREIGN_CONFIG).include(path_regex=r"\{(name|key_id)\}")
for loaded in (schema, foreign):
    loaded.auth(refresh_interval=None)(PlaceholderKey)


def _valid_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value)  # valid as documented: replacing it keeps a negative case negative


def _valid_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@schema.hook("flatmap_path_parameters")
def steer_own_path(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Mostly "bench", its trials and alpha's other keys; sometimes the generated value (404s, odd names)."""
    if not path_parameters:
        return st.just(path_parameters)
    choices: dict[str, st.SearchStrategy[Any]] = {}
    if _valid_name(name := path_parameters.get("name")):
        choices["name"] = st.sampled_from([BENCH, BENCH, BENCH, name])
    if _valid_number(number := path_parameters.get("number")):
        choices["number"] = st.sampled_from([*TRIAL_NUMBERS, number])
    if _valid_name(key := path_parameters.get("key_id")):
        choices["key_id"] = st.sampled_from([*TARGETS.key_ids, key])
    return st.fixed_dictionaries(choices).map(lambda chosen: {**path_parameters, **chosen})


@foreign.hook("flatmap_path_parameters")
def steer_foreign_path(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Always alpha's: "bench", its trials (or the generated number) and alpha's key ids."""
    if not path_parameters:
        return st.just(path_parameters)
    choices: dict[str, st.SearchStrategy[Any]] = {}
    if _valid_name(path_parameters.get("name")):
        choices["name"] = st.just(BENCH)
    if _valid_number(number := path_parameters.get("number")):
        choices["number"] = st.sampled_from([*TRIAL_NUMBERS, number])
    if _valid_name(path_parameters.get("key_id")):
        choices["key_id"] = st.sampled_from(TARGETS.key_ids)
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


def steer_body(context: Any, body: Any) -> Any:
    steer = STEERING.get((context.operation.method.upper(), context.operation.path))
    alternatives = steer(body) if steer is not None and isinstance(body, dict) else []
    # Hypothesis favours the first choices, so the steered ones come first; the generated body
    # stays among them, so odd-but-valid input still reaches the service.
    return st.sampled_from([*alternatives, body])


for loaded in (schema, foreign):
    loaded.hook("flatmap_body")(steer_body)


@pytest.fixture
def member_client(secured_app: flask.Flask, alpha: TeamKeys) -> FlaskClient:
    """Alpha's member, who made "bench" (and makes it again when the fuzzer deletes it)."""
    return authorized(secured_app.test_client(), alpha.member)


@pytest.fixture
def bench(member_client: FlaskClient) -> None:
    seed_bench(member_client)


@pytest.fixture
def aiming_at_alpha_keys_but_admin(alpha: TeamKeys) -> Iterator[None]:
    """Alpha's member and read keys: revoking the admin key, which the requests carry, would turn the rest
    of the run into 401s."""
    TARGETS.key_ids = (key_id(alpha.member), key_id(alpha.read))
    yield
    TARGETS.key_ids = ()


# One database per operation (not per example) is the point; a slow CI machine is not a failure.
SLOW_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def declared_method(case: Case[Any]) -> bool:
    """False for the coverage phase's probes with a method the operation does not declare (Flask answers
    those itself: 405, or OPTIONS with the allowed methods, before any view or key check runs)."""
    return bool(case.method.upper() == case.operation.method.upper())


def call_as(case: Case[Any], app: flask.Flask, admin_key: str) -> Any:
    """Call with an admin's key in place of the placeholder, and check the answer beyond the document: the key
    is never refused (401, 403: an admin, default quotas), and a request without it (a negative case that
    dropped or corrupted `Authorization`) is answered 401, unless its URL matches no route at all (a negative
    path parameter: Flask's own 404, type about:blank, before any key is read)."""
    valid = f"Bearer {admin_key}"
    carries_key = case.headers.get("Authorization") == PLACEHOLDER
    response = case.call_and_validate(app=app, checks=CHECKS, headers={"Authorization": valid} if carries_key else None)
    if response.request.headers.get("Authorization") == valid:
        assert response.status_code not in (401, 403), (response.status_code, response.text)
    elif declared_method(case):
        unrouted = response.status_code == 404 and response.json()["type"] == "about:blank"
        assert response.status_code == 401 or unrouted, (case.headers, response.status_code, response.text)
    return response


@schema.parametrize()
@SLOW_FIXTURES
def test_api_conforms_to_its_openapi_document(case: Case[Any], secured_app: flask.Flask,
                                              member_client: FlaskClient, bench: None, alpha: TeamKeys,
                                              aiming_at_alpha_keys_but_admin: None) -> None:
    response = call_as(case, secured_app, alpha.admin)
    if case.method.upper() == "DELETE" and response.status_code == 204 \
            and case.path_parameters.get("name") == BENCH:
        create(member_client, BENCH)  # the next examples need "bench" again


def alpha_as_it_is(client: FlaskClient) -> dict[str, Any]:
    """What another team must not change: bench and its trials, alpha's keys, alpha's audit trail."""
    seen: dict[str, Any] = {}
    for path in (f"/v1/studies/{BENCH}", f"/v1/studies/{BENCH}/trials?limit=1000", "/v1/keys?limit=1000",
                 "/v1/audit?limit=1000", f"/v1/studies/{BENCH}/audit?limit=1000"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.json)
        seen[path] = response.json
    return seen


@dataclass(frozen=True)
class World:
    """Teams alpha (with "bench") and beta, shared by every operation of the cross-team test on a backend:
    that test changes nothing (which it checks after each operation), so one database serves them all."""

    app: flask.Flask
    alpha: TeamKeys
    beta: TeamKeys
    seeded: dict[str, Any]


@contextmanager
def private_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the module's own: other tests empty the shared test database before each of theirs."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('cross_team') / 'suggest.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    base = make_url(normalize_url(POSTGRES_URL))
    name = f"suggest_test_{uuid.uuid4().hex[:12]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with private_database(request.param, tmp_path_factory) as url:
        app = create_app(Settings(database_url=url, auth="required"))
        try:
            sessions = app.extensions["suggest_api"].sessions
            alpha, beta = make_team_with_keys(sessions, "alpha"), make_team_with_keys(sessions, "beta")
            seed_bench(authorized(app.test_client(), alpha.member))
            seeded = alpha_as_it_is(authorized(app.test_client(), alpha.admin))
            assert seeded[f"/v1/studies/{BENCH}/trials?limit=1000"]["trials"]
            yield World(app, alpha, beta, seeded)
        finally:
            app.extensions["suggest_api"].engine.dispose()


@pytest.fixture
def aiming_at_alpha(world: World) -> Iterator[None]:
    """A key_id aims at alpha's keys, the admin's included; and after the run, alpha's study, trials, keys
    and audit trail are exactly as seeded."""
    TARGETS.key_ids = tuple(key_id(k) for k in (world.alpha.admin, world.alpha.member, world.alpha.read))
    yield
    TARGETS.key_ids = ()
    now = alpha_as_it_is(authorized(world.app.test_client(), world.alpha.admin))
    assert now == world.seeded
    assert all(key["revoked_at"] is None for key in now["/v1/keys?limit=1000"]["keys"])


@foreign.parametrize()
@SLOW_FIXTURES
def test_no_team_reaches_another_teams_study_or_keys(case: Case[Any], world: World, aiming_at_alpha: None) -> None:
    response = call_as(case, world.app, world.beta.admin)
    if declared_method(case):
        assert not 200 <= response.status_code < 300, (case.path_parameters, response.status_code, response.text)
    else:  # OPTIONS: Flask lists the allowed methods, and shows nothing of any team's
        assert response.status_code == 405 or (case.method.upper() == "OPTIONS" and not response.content)
