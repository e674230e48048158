"""Property-based API tests: schemathesis fuzzes every operation of `/openapi.json`, in process (WSGI).

The app runs as deployed for many teams (SUGGEST_AUTH=required), on SQLite and on PostgreSQL. Team
"alpha" has a key of each role and the study "bench", made by its member key, with a mixed space (log
float, stepped int, categorical, conditional float) and trials in every state.

Checks: all of schemathesis's, none excluded. Every test runs them all on every answer; three need a recorded
chain of calls and so act in the stateful test only (use_after_free: a deleted study or key stays gone;
ensure_resource_availability: what a POST made is there for the call its link leads to;
object_level_authorization: alpha's reads replayed as beta's admin get nothing of alpha's). The others: no
5xx; status code, content type, headers and body as documented; invalid requests refused (4xx) and valid ones
accepted (positive_data_acceptance: 2xx, or 401/403/404/409/429); a missing required header refused; an
operation that declares a key refuses a request without one or with a wrong one (ignored_auth, which replays
each success without the key); undeclared methods answered 405 with `Allow`.

Steering: valid as documented is not always valid for the service, for reasons no schema can state, so the
generated values the service cannot accept for such a reason are swapped for ones it can, each kept valid
(or invalid) as documented, so a case's kind does not change: names of things that exist ("bench", its trial
numbers, alpha's keys; sometimes the generated one, so the paths behind "no such study" run too), a cursor the
service issued (opaque: any string is a valid cursor as documented, a made-up one is rightly a 422), a fresh
Idempotency-Key per case (the same key with another body is rightly a 422), and for a positive body of the
two operations whose rules go beyond JSON Schema (a space's low < high, a step dividing its range, parents
that exist, a genetic tournament no larger than its population; params that fit the study's space) a valid
definition or valid params. The hooks that steer run in every phase (examples, coverage, fuzzing, stateful).

`test_api_conforms_to_its_openapi_document`: each operation is one test per backend, on a fresh migrated
database (the `secured_app` fixture). Every generated request carries alpha's admin key, so every
operation is reachable; a negative case that drops or corrupts `Authorization` must be answered 401.
Examples, coverage and fuzzing phases; positive and negative data; derandomized, so CI reproduces a failure.

`test_no_team_reaches_another_teams_study_or_keys`: tenant isolation. Every operation on a study or a
key, called with the admin key of team "beta" and aimed at alpha's "bench", its trials and alpha's key
ids, must fail (no 2xx, no 5xx, every answer documented); after each operation's run, bench, its trials,
alpha's keys (none revoked) and alpha's audit trail are exactly as seeded. Nothing changes, so the
operations share one database per backend, and fewer (positive) cases suffice: keeps the module's time.

`test_stateful_chains_conform_and_keep_teams_apart`: schemathesis's state machine, per backend, on the
OpenAPI links the document declares (suggest_api/api/links.py: a created study's name to its reads, asks and
deletion, an asked trial's number to its heartbeat and report, a key's id to its revocation). Link inference
is off: dependency analysis would also link a study's creation to operations that need more than the study (a
trial named in the body, the best of trials that do not exist yet), whose rightful 404s
ensure_resource_availability would then report as a missing study. Seeded and derandomized; every scenario
starts from the seeded team, so none depends on what another left; positive data only (a chain goes on from
successes; negative data is the other tests' job). The run must reach the operations in `CHAINED`.
"""


from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask
import jsonschema_rs
import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis import AuthContext, Case

from suggest_api.accounts import parse_key
from suggest_api.api.context import IDEMPOTENCY_HEADER
from suggest_api.app import create_app
from suggest_api.config import Settings
from suggest_api.paging import encode_cursor
from suggest_api.storage.database import make_engine
from suggest_api.storage.migrate import upgrade
from tests.api.support import SPACE, ask, create, study_body, tell
from tests.support.databases import scratch_postgres
from tests.support.teams import TeamKeys, make_team_with_keys

POSTGRES_URL = os.environ.get("SUGGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
BENCH = "bench"
OTHER = "fuzzed"  # a study name the fuzzer may create, beside "bench"
IMPORTED = "imported"  # the study a steered import makes
TRIAL_NUMBERS = range(10)  # "bench" has trials 0..9 after seeding
VALID_PARAMS: list[dict[str, Any]] = [
    {"lr": 0.01, "batch_size": 32, "optimizer": "sgd", "momentum": 0.9},
    {"lr": 1e-5, "batch_size": 256, "optimizer": "adam"},
    {"lr": 0.1, "batch_size": 16, "optimizer": "rmsprop"},
]
SEED = 20240917
CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"max-examples": 30, "deterministic": True, "database": "none", "mode": "all"},
    "phases": {"stateful": {"enabled": False}},
})
# Another team's key: what matters is that valid requests aimed at alpha's things fail (invalid ones are
# refused before any study or key is looked up, and the main test covers those), so fewer, positive cases.
FOREIGN_CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"max-examples": 15, "deterministic": True, "database": "none", "mode": "positive"},
    "phases": {"stateful": {"enabled": False}},
})


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
        # Objectives' and constraints' names must differ, and a reference point fit them: beyond the schema.
        for field in ("objectives", "constraints", "reference_point"):
            steered.pop(field, None)
        given = body.get("objective")
        # Its goal as generated; its name "loss", as bench's: a later tell or import in the chain reports `values`
        # by that name (`_with_own_metric`), whichever study the chain's link aimed it at.
        goal = given.get("goal") if isinstance(given, dict) and conforms(given, "StudyIn", "objective") else None
        steered["objective"] = {"name": "loss", "goal": goal or "minimize"}
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
    body = _with_own_metric(body)
    told = [{**body, "number": number} for number in TRIAL_NUMBERS]
    if body.get("value") is None and body.get("values") is None and body.get("state") is None:
        # adding a valid field keeps the case's kind
        told = [{**body, "number": number, "value": 0.5} for number in TRIAL_NUMBERS] + told
    return told + [body]  # its own number too: in a chain, a link put the number of a trial it asked for there


def _with_own_metric(body: dict[str, Any]) -> dict[str, Any]:
    """`values` names the study's metrics, which the document cannot list: "bench" has one objective, "loss"."""
    if not isinstance(body.get("values"), dict):
        return body
    if body.get("value") is None and body.get("state") != "failed":
        return {**body, "values": {"loss": 0.5}}
    return {k: v for k, v in body.items() if k != "values"}


def _steer_trials(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("trials")
    if not isinstance(items, list) or not all(
            isinstance(item, dict) and conforms(item.get("params"), "NewTrialIn", "params") for item in items):
        return []
    return [{**body, "trials": [{**_with_own_metric(item), "params": params} for item in items]}
            for params in VALID_PARAMS]


def _steer_import(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A study document's trials must fit its own space and objective, and be numbered in order: beyond the
    schema. A positive document becomes a valid one (a new study, 201; the same again, 200)."""
    if not conforms(body, "StudyDocument"):
        return []
    study = {"name": IMPORTED, "space": SPACE, "objective": {"name": "loss", "goal": "minimize"},
             "suggester": {"name": "random", "options": {}}, "seed": 7, "heartbeat_timeout": 60.0,
             "created_at": "2026-01-02T03:04:05+00:00"}
    trials = [{"number": 0, "state": "completed", "params": VALID_PARAMS[0], "value": 0.5,
               "created_at": "2026-01-02T03:05:00+00:00", "intermediate": [{"step": 1, "value": 0.7}]},
              {"number": 1, "state": "failed", "params": VALID_PARAMS[1], "created_at": "2026-01-02T03:06:00+00:00"}]
    return [{"format": "suggest-api.study", "version": 1, "study": study, "trials": trials,
             "queue": [{"params": VALID_PARAMS[2]}]}]


# What the generator cannot guess (a valid space, a running trial's number, params inside the space)
# is swapped in, only for fields whose generated value is already valid as documented: a negative
# case (its invalid part elsewhere) stays negative, so negative_data_rejection still holds.
STEERING: dict[tuple[str, str], Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    ("POST", "/v1/studies"): _steer_study,
    ("POST", "/v1/studies/{name}/tell"): _steer_tell,
    ("POST", "/v1/studies/{name}/trials"): _steer_trials,
    ("POST", "/v1/studies:import"): _steer_import,
}


#: Bodies whose validity the document cannot state in full: a space's rules (low < high, a step that divides
#: the range, parents that exist), a suggester's (tournament_size <= population_size) and params that fit the
#: study's space are beyond JSON Schema. A positive body of these is always steered.
BEYOND_THE_SCHEMA = {"StudyIn": ("POST", "/v1/studies"), "TrialsIn": ("POST", "/v1/studies/{name}/trials"),
                     "TellIn": ("POST", "/v1/studies/{name}/tell"), "StudyDocument": ("POST", "/v1/studies:import")}


def steer_body(context: Any, body: Any) -> Any:
    operation = (context.operation.method.upper(), context.operation.path)
    steer = STEERING.get(operation)
    alternatives = steer(body) if steer is not None and isinstance(body, dict) else []
    # Hypothesis favours the first choices, so the steered ones come first; the generated body
    # stays among them, so odd-but-valid input still reaches the service, unless it is a positive body
    # the schema cannot vouch for.
    return st.sampled_from(alternatives if alternatives and beyond_the_schema(operation, body) else
                           [*alternatives, body])


def beyond_the_schema(operation: tuple[str, str], body: Any) -> bool:
    """Whether `body` is a positive body of an operation whose rules the schema cannot state in full."""
    return isinstance(body, dict) and any(operation == where and conforms(body, component)
                                          for component, where in BEYOND_THE_SCHEMA.items())


KEY_COUNTER = itertools.count()


def fresh_key(length: int) -> str:
    """A new Idempotency-Key, as the docs ask clients to send for each new request: as long as the generated
    one, but at least 8 characters (so that every case of the run gets its own)."""
    return str(next(KEY_COUNTER)).rjust(max(length, 8), "k")


def steer_case(context: Any, case: Case[Any]) -> Case[Any]:
    """What the phases that bypass the body hooks (coverage) need too: a valid Idempotency-Key is a fresh one
    (the same key with another body is rightly refused, 422), and a positive body beyond the schema is steered."""
    key = case.headers.get(IDEMPOTENCY_HEADER) if case.headers else None
    if isinstance(key, str) and re.fullmatch(r"[ -~]{1,255}", key):
        case.headers[IDEMPOTENCY_HEADER] = fresh_key(len(key))
    operation = (case.operation.method.upper(), case.operation.path)
    steer = STEERING.get(operation)
    if steer is not None and isinstance(case.body, dict) and beyond_the_schema(operation, case.body):
        # A tell keeps its number (in a chain, a link's: a trial the chain asked for); only its metrics change.
        case.body = _with_own_metric(case.body) if steer is _steer_tell else steer(case.body)[0]
    if _valid_objective(case.query):  # the examples phase bypasses the query hook
        case.query = {**case.query, "objective": "loss"}
    return case


def _valid_objective(query: Any) -> bool:
    """Whether `query` names an importance `objective` valid as documented: any such name is, but which metrics
    a study has the document cannot say, and an unknown one is rightly refused (422). Steered to bench's one
    metric, "loss"."""
    if not isinstance(query, dict) or not isinstance(query.get("objective"), str):
        return False
    if "objective" not in _validators:
        operation = schema.raw_schema["paths"]["/v1/studies/{name}/importance"]["get"]
        [documented] = [p["schema"] for p in operation["parameters"] if p["name"] == "objective"]
        _validators["objective"] = jsonschema_rs.validator_for(documented)
    return _validators["objective"].is_valid(query["objective"])


#: Cursors this service issues (the positions after which a page starts): a cursor is opaque, so the
#: document cannot say which strings are valid ones, and a made-up one is rightly refused (422).
ISSUED_CURSORS = [encode_cursor(position) for position in (0, 3, 8, 2**31)]


def steer_query(context: Any, query: dict[str, Any] | None) -> Any:
    """A string cursor (valid as documented) becomes one the service issued, or is left out; a valid importance
    `objective` becomes bench's metric, or is left out."""
    if _valid_objective(query):
        assert query is not None
        rest = {k: v for k, v in query.items() if k != "objective"}
        return st.sampled_from([{**query, "objective": "loss"}, rest])
    if not query or not isinstance(query.get("cursor"), str):
        return st.just(query)
    rest = {k: v for k, v in query.items() if k != "cursor"}
    return st.sampled_from([{**rest, "cursor": cursor} for cursor in ISSUED_CURSORS] + [rest])


def steer_examples(context: Any, examples: list[Case[Any]]) -> None:
    """The examples phase (bodies composed from the document's field examples) bypasses the case hooks too."""
    examples[:] = [steer_case(context, case) for case in examples]


for loaded in (schema, foreign):
    loaded.hook("flatmap_body")(steer_body)
    loaded.hook("flatmap_query")(steer_query)
    loaded.hook("map_case")(steer_case)
    loaded.hook("before_add_examples")(steer_examples)


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
    response = case.call_and_validate(app=app, headers={"Authorization": valid} if carries_key else None)
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
    with scratch_postgres(POSTGRES_URL, "suggest_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


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


# --- the stateful phase: chains of calls, each one fed by the answers before it -------------------

STATEFUL_SCENARIOS = 20
STATEFUL_STEPS = 12
#: Operations the seeded run must have answered 2xx, most of them only reachable through a link.
CHAINED = {"POST /v1/studies", "GET /v1/studies/{name}", "DELETE /v1/studies/{name}", "POST /v1/studies/{name}/ask",
           "POST /v1/studies/{name}/tell", "POST /v1/studies/{name}/trials", "GET /v1/studies/{name}/trials/{number}",
           "POST /v1/studies/{name}/trials/{number}/heartbeat", "POST /v1/keys", "DELETE /v1/keys/{key_id}"}


def stateful_config(wfc: Path) -> schemathesis.Config:
    """Positive cases only: a chain goes on from successes, and the negative cases are the other tests' job.
    Alpha's admin acts; beta's admin is its peer, which object_level_authorization replays alpha's reads as."""
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"deterministic": True, "database": "none", "mode": "positive"},
        "phases": {"stateful": {"max-steps": STATEFUL_STEPS, "inference": {"algorithms": []}}},
        "auth": {"wfc": {"path": str(wfc), "user": "alpha", "peers": ["alpha", "beta"]}},
    })


def identities(path: Path, **admins: str) -> Path:
    """A Web Fuzzing Commons auth document: each team's admin key as a fixed header."""
    path.write_text(json.dumps({"auth": [
        {"name": team, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}
        for team, key in admins.items()]}))
    return path


def workflow(app: flask.Flask, alpha: TeamKeys, beta: TeamKeys, wfc: Path, reached: set[str]) -> type[Any]:
    """The state machine schemathesis builds from the links it infers (a study's name from the answers that
    hold it, trial numbers from asks and listings, key ids from the key list), on this test's app. `reached`
    collects the operations that answered 2xx."""
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", app,
                                            config=stateful_config(identities(wfc, alpha=alpha.admin,
                                                                              beta=beta.admin)))
    loaded.hook("flatmap_path_parameters")(steer_own_path)  # a link's values win over it
    loaded.hook("flatmap_body")(steer_body)
    loaded.hook("flatmap_query")(steer_query)
    loaded.hook("map_case")(steer_case)
    acting = key_id(alpha.admin)
    admin = authorized(app.test_client(), alpha.admin)

    class Workflow(loaded.as_state_machine()):  # type: ignore[misc]
        rule_order_seed = SEED

        def setup(self) -> None:
            """Every scenario starts from the seeded team: one that finds what an earlier one left (a study it
            deleted, a trial it told) would answer differently to the same draws, which Hypothesis rightly
            calls flaky, and the run would depend on the order of its scenarios."""
            for study in admin.get("/v1/studies?limit=1000").json["studies"]:
                assert admin.delete(f"/v1/studies/{study['name']}").status_code == 204
            seed_bench(admin)

        def before_call(self, case: Case[Any]) -> None:
            """Revoking the key the run acts with would turn the rest of it into 401s."""
            if case.operation.method.upper() == "DELETE" and case.path_parameters.get("key_id") == acting:
                case.path_parameters["key_id"] = key_id(alpha.member)

        def after_call(self, response: Any, case: Case[Any]) -> None:
            super().after_call(response, case)
            if 200 <= response.status_code < 300:
                reached.add(case.operation.label)

    return Workflow


def test_stateful_chains_conform_and_keep_teams_apart(secured_app: flask.Flask, bench: None, alpha: TeamKeys,
                                                      beta: TeamKeys, aiming_at_alpha_keys_but_admin: None,
                                                      tmp_path: Path) -> None:
    reached: set[str] = set()
    workflow(secured_app, alpha, beta, tmp_path / "identities.json", reached).run(settings=settings(
        max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS, derandomize=True, database=None,
        deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
    assert CHAINED <= reached, sorted(CHAINED - reached)  # a run that reached nothing would pass vacuously
