"""Access control across teams: deny by default, roles, tenant isolation, revocation, audit, secrets.

One service serves many teams, so its worst failures are silent ones: an endpoint that forgets its
access rule and ships open, a role that is not checked, another team's study that answers unlike a
missing one (telling the caller it exists) or, worse, answers at all, an idempotent answer replayed to
another team, a key written to a table or a log. The endpoint list is read from the app's url_map and
each endpoint must have a row in ROUTES, so a new endpoint cannot escape these tests.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient
from flask.views import MethodView
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from suggest_api.accounts import KEY_PREFIX, Role, parse_key
from suggest_api.api.access import PUBLIC, declare, declared
from suggest_api.app import create_app
from suggest_api.config import Settings
from suggest_api.logs import JsonFormatter
from suggest_api.logs import configure as configure_logging
from suggest_api.storage.database import transaction
from suggest_api.storage.models import ApiKeyRow, Base
from tests.api.support import assert_problem, study_body
from tests.support.teams import TeamKeys, bearer, make_key, revoke

Json = dict[str, Any]
Headers = dict[str, str]
#: What to send: a path and its JSON body (None: no body).
Request = tuple[str, Json | None]

PROBLEM = "urn:suggest-api:problem:"
STUDY = "s"
PARAMS: Json = {"lr": 0.01, "batch_size": 32, "optimizer": "adam"}
#: Shaped like a key id; no key has it.
MISSING_KEY_ID = "0123456789ab"
PUBLIC_RULES = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/static/<path:filename>",
                "/ui", "/ui/", "/ui/static/<path:filename>"}
SLUGS = {401: "unauthorized", 403: "forbidden", 404: "not-found"}


# --- the endpoint table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Targets:
    """What requests name: the study, a running trial of it, a key of the team, a study they may delete,
    and a name for a new study. Shared targets stay the same; fresh ones are made for each call."""

    study: str
    trial: Callable[[], int]
    key_id: Callable[[], str]
    victim: Callable[[], str]
    new_name: Callable[[], str]


@dataclass(frozen=True)
class Route:
    needed: Role
    ok: int  # the status of a successful call
    names: str | None  # what of a team's the path names ("study", "key"), or None: the caller's own team
    build: Callable[[Targets], Request]


def _in_study(t: Targets, tail: str = "") -> str:
    return f"/v1/studies/{t.study}{tail}"


def _document(name: str) -> Json:
    """A study document with one completed trial, for the import route."""
    body = study_body(name)
    study = {"name": name, "space": body["space"], "objective": body["objective"], "suggester": {"name": "random"},
             "seed": 7, "heartbeat_timeout": 60, "created_at": "2026-01-02T03:04:05+00:00"}
    trial = {"number": 0, "state": "completed", "params": PARAMS, "value": 0.5, "created_at": "2026-01-02T03:05:00Z"}
    return {"format": "suggest-api.study", "version": 1, "study": study, "trials": [trial]}


ROUTES: dict[tuple[str, str], Route] = {
    ("/v1/studies", "GET"): Route(Role.READ, 200, None, lambda t: ("/v1/studies", None)),
    ("/v1/studies", "POST"): Route(Role.MEMBER, 201, None, lambda t: ("/v1/studies", study_body(t.new_name()))),
    ("/v1/studies/<name>", "GET"): Route(Role.READ, 200, "study", lambda t: (_in_study(t), None)),
    ("/v1/studies/<name>", "DELETE"): Route(Role.MEMBER, 204, "study",
                                            lambda t: (f"/v1/studies/{t.victim()}", None)),
    ("/v1/studies/<name>/ask", "POST"): Route(Role.MEMBER, 201, "study",
                                              lambda t: (_in_study(t, "/ask"), {"count": 1})),
    ("/v1/studies/<name>/tell", "POST"): Route(Role.MEMBER, 200, "study",
                                               lambda t: (_in_study(t, "/tell"), {"number": t.trial(), "value": 0.25})),
    ("/v1/studies/<name>/trials", "GET"): Route(Role.READ, 200, "study", lambda t: (_in_study(t, "/trials"), None)),
    ("/v1/studies/<name>/trials", "POST"): Route(Role.MEMBER, 201, "study",
                                                 lambda t: (_in_study(t, "/trials"), {"trials": [{"params": PARAMS}]})),
    ("/v1/studies/<name>/trials/<int:number>", "GET"): Route(Role.READ, 200, "study",
                                                             lambda t: (_in_study(t, "/trials/0"), None)),
    ("/v1/studies/<name>/trials/<int:number>/heartbeat", "POST"): Route(
        Role.MEMBER, 200, "study", lambda t: (_in_study(t, f"/trials/{t.trial()}/heartbeat"), None)),
    ("/v1/studies/<name>/trials/<int:number>/report", "POST"): Route(
        Role.MEMBER, 200, "study", lambda t: (_in_study(t, f"/trials/{t.trial()}/report"), {"step": 1, "value": 0.5})),
    ("/v1/studies/<name>/best", "GET"): Route(Role.READ, 200, "study", lambda t: (_in_study(t, "/best"), None)),
    ("/v1/studies/<name>/pareto", "GET"): Route(Role.READ, 200, "study", lambda t: (_in_study(t, "/pareto"), None)),
    # 200: by the time the allowed calls reach this row (url_map order), the tell row has completed a second trial.
    ("/v1/studies/<name>/importance", "GET"): Route(Role.READ, 200, "study",
                                                    lambda t: (_in_study(t, "/importance"), None)),
    ("/v1/studies/<name>/audit", "GET"): Route(Role.ADMIN, 200, "study", lambda t: (_in_study(t, "/audit"), None)),
    ("/v1/studies/<name>/export", "GET"): Route(Role.READ, 200, "study", lambda t: (_in_study(t, "/export"), None)),
    ("/v1/studies:import", "POST"): Route(Role.MEMBER, 201, None,
                                          lambda t: ("/v1/studies:import", _document(t.new_name()))),
    ("/v1/team", "GET"): Route(Role.READ, 200, None, lambda t: ("/v1/team", None)),
    ("/v1/keys", "GET"): Route(Role.ADMIN, 200, None, lambda t: ("/v1/keys", None)),
    ("/v1/keys", "POST"): Route(Role.ADMIN, 201, None, lambda t: ("/v1/keys", {"role": "read", "label": "matrix"})),
    ("/v1/keys/<key_id>", "DELETE"): Route(Role.ADMIN, 200, "key", lambda t: (f"/v1/keys/{t.key_id()}", None)),
    ("/v1/audit", "GET"): Route(Role.ADMIN, 200, None, lambda t: ("/v1/audit", None)),
}


def endpoint_methods(app: flask.Flask) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    """Every rule and method the app answers, but the automatic OPTIONS, with the view serving it."""
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods or ()):
            if method != "OPTIONS":
                yield rule.rule, method, app.view_functions[rule.endpoint]


def route_of(rule: str, method: str) -> Route:
    return ROUTES[(rule, "GET" if method == "HEAD" else method)]  # HEAD is served by GET


def protected_endpoints(app: flask.Flask) -> list[tuple[str, str]]:
    """Every (rule, method) that is not public; each must have its row in ROUTES, and each row an endpoint."""
    pairs = [(rule, method) for rule, method, view in endpoint_methods(app) if declared(view, method) != PUBLIC]
    served = {(rule, "GET" if method == "HEAD" else method) for rule, method in pairs}
    assert not served - set(ROUTES), f"endpoints with no case in ROUTES: {sorted(served - set(ROUTES))}"
    assert not set(ROUTES) - served, f"cases in ROUTES with no endpoint: {sorted(set(ROUTES) - served)}"
    return pairs


# --- callers --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    label: str
    headers: Headers
    team: str | None = None  # None: no valid key (none, malformed, unknown or revoked)
    role: Role | None = None


def secret_of(key: str) -> str:
    return key.rsplit("_", 1)[1]


def malformed(key: str, other: str) -> dict[str, Headers]:
    """Authorization headers that must not authenticate, made from a valid key (and another key's secret)."""
    flipped = key[:-1] + ("b" if key.endswith("a") else "a")
    return {
        "empty header": {"Authorization": ""},
        "scheme only": {"Authorization": "Bearer"},
        "basic scheme": {"Authorization": "Basic abc"},
        "not a key": {"Authorization": "Bearer sapi_nothex_x"},
        "one character changed": bearer(flipped),
        "one character more": bearer(key + "a"),
        "no scheme": {"Authorization": key},
        "unknown key id": bearer(f"{KEY_PREFIX}{MISSING_KEY_ID}_{secret_of(key)}"),
        "another key's secret": bearer(key.rsplit("_", 1)[0] + "_" + secret_of(other)),
    }


def callers(alpha: TeamKeys, beta: TeamKeys, revoked: str) -> list[Caller]:
    own = [Caller(f"alpha {role}", bearer(alpha.of(role)), "alpha", role) for role in Role]
    other = [Caller(f"beta {role}", bearer(beta.of(role)), "beta", role) for role in (Role.MEMBER, Role.ADMIN)]
    refused = [Caller("revoked alpha key", bearer(revoked)), Caller("no header", {})]
    refused += [Caller(label, headers) for label, headers in malformed(alpha.admin, alpha.member).items()]
    return own + other + refused


#: The roles in order, written out here rather than read from Role, so the matrix does not trust what it tests.
RANK = {Role.READ: 0, Role.MEMBER: 1, Role.ADMIN: 2}


def expected_status(route: Route, caller: Caller) -> int:
    if caller.role is None:
        return 401
    if RANK[caller.role] < RANK[route.needed]:
        return 403
    if caller.team != "alpha" and route.names is not None:
        return 404  # alpha's study or key, asked for by another team: as if it did not exist
    return route.ok


# --- small helpers --------------------------------------------------------------------------------

def key_id(key: str) -> str:
    found = parse_key(key)
    assert found is not None, key
    return found


def request_id(*parts: str) -> str:
    """A valid X-Request-ID, the same for the same parts (problem bodies carry it)."""
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()[:32]


def send(client: FlaskClient, method: str, request: Request, headers: Headers, rid: str | None = None) -> TestResponse:
    path, body = request
    return client.open(path, method=method, json=body, headers={**headers, **({"X-Request-ID": rid} if rid else {})})


def assert_refused(response: TestResponse, status: int, where: str = "") -> None:
    """The status, as a problem of the expected type (HEAD answers carry no body); 401 says how to authenticate."""
    assert response.status_code == status, (where, response.status_code, response.get_data(as_text=True))
    if status == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), (where, dict(response.headers))
    if response.request.method != "HEAD":
        body = assert_problem(response, status)
        assert body["type"] == PROBLEM + SLUGS[status], (where, body)


def make_study(client: FlaskClient, headers: Headers) -> None:
    """Study "s": trial 0 completed (so it has a best) after reports that entered a rung, trials 1 and 2 running."""
    pruner = {"name": "successive_halving", "options": {"min_resource": 1}}
    assert client.post("/v1/studies", json=study_body(STUDY, pruner=pruner), headers=headers).status_code == 201
    asked = client.post(f"/v1/studies/{STUDY}/ask", json={"count": 3}, headers=headers)
    assert [trial["number"] for trial in asked.json["trials"]] == [0, 1, 2], asked.json
    for step in (1, 3):
        reported = client.post(f"/v1/studies/{STUDY}/trials/0/report", json={"step": step, "value": 0.5},
                               headers=headers)
        assert reported.json["prune"] is False, reported.json
    told = client.post(f"/v1/studies/{STUDY}/tell", json={"number": 0, "value": 0.5}, headers=headers)
    assert told.status_code == 200, told.json


def fixed_targets(key: str, counter: Iterator[int]) -> Targets:
    return Targets(STUDY, lambda: 1, lambda: key, lambda: STUDY, lambda: f"made-{next(counter)}")


def fresh_targets(client: FlaskClient, admin: Headers, counter: Iterator[int]) -> Targets:
    """Targets made anew for each call, so every allowed call can succeed (a told trial cannot take a heartbeat)."""
    def trial() -> int:
        response = client.post(f"/v1/studies/{STUDY}/ask", json={"count": 1}, headers=admin)
        assert response.status_code == 201, response.json
        number: int = response.json["trials"][0]["number"]
        return number

    def new_key() -> str:
        response = client.post("/v1/keys", json={"role": "read"}, headers=admin)
        assert response.status_code == 201, response.json
        found: str = response.json["key_id"]
        return found

    def victim() -> str:
        name = f"victim-{next(counter)}"
        assert client.post("/v1/studies", json=study_body(name), headers=admin).status_code == 201
        return name

    return Targets(STUDY, trial, new_key, victim, lambda: f"made-{next(counter)}")


def sessions_of(app: flask.Flask) -> sessionmaker[Session]:
    found: sessionmaker[Session] = app.extensions["suggest_api"].sessions
    return found


def team_state(sessions: sessionmaker[Session], team: str) -> dict[str, list[Json]]:
    """Every row a team owns, table by table (all tables but the idempotency cache hold some)."""
    t = Base.metadata.tables
    with transaction(sessions, write=False) as session:
        team_id = session.execute(select(t["teams"].c.id).where(t["teams"].c.name == team)).scalar_one()
        studies = select(t["studies"].c.id).where(t["studies"].c.team_id == team_id)
        trials = select(t["trials"].c.id).where(t["trials"].c.study_id.in_(studies))
        queries: dict[str, Select[Any]] = {
            "teams": select(t["teams"]).where(t["teams"].c.id == team_id),
            "api_keys": select(t["api_keys"]).where(t["api_keys"].c.team_id == team_id),
            "audit_events": select(t["audit_events"]).where(t["audit_events"].c.team_id == team_id),
            "studies": select(t["studies"]).where(t["studies"].c.team_id == team_id),
            "trials": select(t["trials"]).where(t["trials"].c.id.in_(trials)),
            "trial_reports": select(t["trial_reports"]).where(t["trial_reports"].c.trial_id.in_(trials)),
            "trial_rungs": select(t["trial_rungs"]).where(t["trial_rungs"].c.trial_id.in_(trials)),
            "queued_params": select(t["queued_params"]).where(t["queued_params"].c.study_id.in_(studies)),
        }
        assert set(t) - set(queries) == {"idempotency_keys"}, "a new table: say which of its rows a team owns"
        return {name: [dict(row) for row in session.execute(query.order_by(t[name].c.id)).mappings()]
                for name, query in queries.items()}


@contextmanager
def preserved_logging(name: str = "suggest_api") -> Iterator[logging.Logger]:
    """The logger as it was afterwards: create_app replaces its handlers, tests add their own."""
    logger = logging.getLogger(name)
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    try:
        yield logger
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


# --- 1. deny by default ---------------------------------------------------------------------------

def test_every_endpoint_declares_who_may_call_it(secured_app: flask.Flask) -> None:
    public = set()
    for rule, method, view in endpoint_methods(secured_app):
        found = declared(view, method)
        assert isinstance(found, Role) or found == PUBLIC, f"{method} {rule} declares no access rule ({found!r})"
        if isinstance(found, Role):
            assert found == route_of(rule, method).needed, f"{method} {rule} needs {found}, ROUTES says otherwise"
        else:
            public.add(rule)
    assert public == PUBLIC_RULES
    protected_endpoints(secured_app)  # and every protected one is in ROUTES


def test_public_endpoints_answer_without_a_key(secured_app: flask.Flask) -> None:
    client = secured_app.test_client()
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/static/swagger-ui.css", "/ui",
                 "/ui/", "/ui/static/app.js", "/ui/static/vendor/echarts.min.js"):
        for headers in ({}, {"Authorization": "Bearer sapi_nothex_x"}):
            with client.get(path, headers=headers) as response:  # closes the static file it sends
                assert response.status_code == 200, path


def test_an_endpoint_without_a_declaration_is_refused_to_everyone(database_url: str, alpha: TeamKeys) -> None:
    app = create_app(Settings(database_url=database_url, auth="required"))
    ran: list[str] = []

    @app.get("/v1/undeclared")
    def undeclared() -> str:
        ran.append("undeclared")
        return "open"

    class HalfDeclared(MethodView):
        @declare(Role.READ)
        def get(self) -> str:
            ran.append("get")
            return "declared"

        def post(self) -> str:
            ran.append("post")
            return "open"

    app.add_url_rule("/v1/half", view_func=HalfDeclared.as_view("half"))
    client = app.test_client()
    try:
        for headers in (bearer(alpha.admin), {}):
            assert_refused(client.get("/v1/undeclared", headers=headers), 403)
            assert_refused(client.post("/v1/half", headers=headers), 403)
        assert ran == []
        assert client.get("/v1/half", headers=bearer(alpha.read)).status_code == 200  # the declared method works
        assert ran == ["get"]
    finally:
        app.extensions["suggest_api"].engine.dispose()


# --- 2. function level: keys and audit are for admins ---------------------------------------------

def test_only_admins_manage_keys_and_read_the_audit(secured_app: flask.Flask, alpha: TeamKeys) -> None:
    client = secured_app.test_client()
    make_study(client, bearer(alpha.member))
    target = key_id(alpha.read)
    calls: list[tuple[str, str, Json | None]] = [
        ("GET", "/v1/keys", None), ("POST", "/v1/keys", {"role": "admin"}), ("DELETE", f"/v1/keys/{target}", None),
        ("GET", "/v1/audit", None), ("GET", f"/v1/studies/{STUDY}/audit", None)]
    for role in (Role.MEMBER, Role.READ):
        for method, path, body in calls:
            response = send(client, method, (path, body), bearer(alpha.of(role)))
            assert_refused(response, 403, f"{method} {path} as {role}")
            assert "admin" in response.json["detail"]
    admin = bearer(alpha.admin)
    listed = client.get("/v1/keys", headers=admin)
    assert listed.status_code == 200
    assert len(listed.json["keys"]) == 3, "a refused POST /v1/keys made a key"
    assert all(key["revoked_at"] is None for key in listed.json["keys"]), "a refused DELETE revoked a key"
    for method, path, body in calls:
        response = send(client, method, (path, body), admin)
        assert 200 <= response.status_code < 300, (method, path, response.json)
    assert_refused(client.get("/v1/team", headers=bearer(alpha.read)), 401)  # the admin's DELETE did revoke it


# --- 3. the access matrix -------------------------------------------------------------------------

def test_every_endpoint_answers_every_caller_as_it_should(secured_app: flask.Flask, alpha: TeamKeys,
                                                          beta: TeamKeys) -> None:
    client, sessions = secured_app.test_client(), sessions_of(secured_app)
    pairs = protected_endpoints(secured_app)
    revoked = make_key(sessions, "alpha", Role.ADMIN)
    revoke(sessions, revoked)
    everyone = callers(alpha, beta, revoked)
    counter = itertools.count()
    shared_key = key_id(alpha.read)
    alpha_ids = [key_id(key) for key in (alpha.admin, alpha.member, alpha.read, revoked)]

    # What beta gets for a study that exists in no team yet (and a key id no team has).
    missing: dict[tuple[str, str, str], TestResponse] = {}
    nowhere = fixed_targets(MISSING_KEY_ID, counter)
    for rule, method in pairs:
        if route_of(rule, method).names is not None:
            for caller in (c for c in everyone if c.team == "beta"):
                missing[rule, method, caller.label] = send(client, method, route_of(rule, method).build(nowhere),
                                                           caller.headers, request_id(rule, method, caller.label))

    make_study(client, bearer(alpha.member))
    before = team_state(sessions, "alpha")
    shared = fixed_targets(shared_key, counter)
    allowed: list[tuple[str, str, Caller]] = []
    for rule, method in pairs:
        route = route_of(rule, method)
        for caller in everyone:
            status = expected_status(route, caller)
            if caller.team == "alpha" and status == route.ok:
                allowed.append((rule, method, caller))  # after this loop, on targets of their own
                continue
            where = f"{method} {rule} as {caller.label}"
            request = route.build(shared)
            response = send(client, method, request, caller.headers, request_id(rule, method, caller.label))
            if status in SLUGS:
                assert_refused(response, status, where)
            else:
                assert response.status_code == status, (where, response.get_data(as_text=True))
            if caller.team == "beta":
                text = response.get_data(as_text=True)
                assert not any(alpha_id in text for alpha_id in alpha_ids if alpha_id not in request[0]), (where, text)
                if route.names is not None:
                    assert not 200 <= response.status_code < 300, where
                    like = missing[rule, method, caller.label]
                    assert (response.status_code, response.mimetype) == (like.status_code, like.mimetype), where
                    assert text == like.get_data(as_text=True).replace(MISSING_KEY_ID, shared_key), where

    # Nothing of alpha's changed: not by beta, nor by refused keys and roles.
    after = team_state(sessions, "alpha")
    assert after == before
    assert [trial["state"] for trial in after["trials"]] == ["completed", "running", "running"]
    assert [row["rung"] for row in after["trial_rungs"]] == [0, 1]
    assert [row["revoked_at"] is None for row in after["api_keys"]] == [True, True, True, False]

    fresh = fresh_targets(client, bearer(alpha.admin), counter)
    for rule, method, caller in allowed:
        response = send(client, method, route_of(rule, method).build(fresh), caller.headers)
        assert response.status_code == route_of(rule, method).ok, (method, rule, caller.label, response.json)
    assert {(rule, caller.role) for rule, method, caller in allowed if method == "POST"} >= {
        ("/v1/studies/<name>/ask", Role.MEMBER), ("/v1/keys", Role.ADMIN)}


# --- 4. listing isolation -------------------------------------------------------------------------

def list_names(client: FlaskClient, headers: Headers) -> list[str]:
    names, cursor = [], None
    while True:
        page = client.get("/v1/studies", query_string={"limit": 1, **({"cursor": cursor} if cursor else {})},
                          headers=headers)
        assert page.status_code == 200, page.json
        names += [study["name"] for study in page.json["studies"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return names


def test_a_team_lists_only_its_own_studies_and_names_are_per_team(secured_app: flask.Flask, alpha: TeamKeys,
                                                                   beta: TeamKeys) -> None:
    client = secured_app.test_client()
    a, b = bearer(alpha.member), bearer(beta.member)
    for name in (STUDY, "alpha-only"):
        created = client.post("/v1/studies", json=study_body(name, metadata={"team": "alpha"}), headers=a)
        assert created.status_code == 201, created.json
    both = client.post("/v1/studies", json=study_body(STUDY, seed=8, metadata={"team": "beta"}), headers=b)
    assert both.status_code == 201, both.json  # created: not alpha's study answered back
    alpha_trials = client.post(f"/v1/studies/{STUDY}/ask", json={"count": 3}, headers=a).json["trials"]
    beta_trials = client.post(f"/v1/studies/{STUDY}/ask", json={"count": 2}, headers=b).json["trials"]
    assert [trial["number"] for trial in alpha_trials] == [0, 1, 2]
    assert [trial["number"] for trial in beta_trials] == [0, 1]

    assert list_names(client, b) == [STUDY]
    assert list_names(client, a) == [STUDY, "alpha-only"]
    assert all(study["metadata"] == {"team": "beta"} for study in client.get("/v1/studies", headers=b).json["studies"])
    for headers, team, total in ((a, "alpha", 3), (b, "beta", 2)):
        study = client.get(f"/v1/studies/{STUDY}", headers=headers).json
        assert (study["metadata"], study["trial_counts"]["total"]) == ({"team": team}, total)
        trials = client.get(f"/v1/studies/{STUDY}/trials", headers=headers).json["trials"]
        assert [trial["number"] for trial in trials] == list(range(total))
    assert client.get("/v1/team", headers=a).json["studies"] == 2
    assert client.get("/v1/team", headers=b).json["studies"] == 1


# --- 5. revocation --------------------------------------------------------------------------------

def test_a_revoked_key_is_refused_from_its_next_request(secured_app: flask.Flask, alpha: TeamKeys,
                                                        beta: TeamKeys) -> None:
    client, sessions = secured_app.test_client(), sessions_of(secured_app)
    admin = bearer(alpha.admin)
    key = make_key(sessions, "alpha", Role.MEMBER)
    assert client.get("/v1/team", headers=bearer(key)).status_code == 200

    revoked = client.delete(f"/v1/keys/{key_id(key)}", headers=admin)
    assert revoked.status_code == 200, revoked.json
    assert revoked.json["key_id"] == key_id(key) and revoked.json["revoked_by"] == key_id(alpha.admin)
    assert revoked.json["revoked_at"] is not None
    refused = client.get("/v1/team", headers=bearer(key))
    assert_refused(refused, 401)
    assert "revoked" in refused.json["detail"]
    again = client.delete(f"/v1/keys/{key_id(key)}", headers=admin)
    assert again.status_code == 200 and again.json == revoked.json
    events = client.get("/v1/audit", headers=admin).json["events"]
    assert [e["target"] for e in events if e["action"] == "key.revoked"] == [key_id(key)]

    other = make_key(sessions, "alpha", Role.MEMBER)
    rid = request_id("revoke across teams")
    like = client.delete(f"/v1/keys/{MISSING_KEY_ID}", headers={**bearer(beta.admin), "X-Request-ID": rid})
    by_beta = client.delete(f"/v1/keys/{key_id(other)}", headers={**bearer(beta.admin), "X-Request-ID": rid})
    assert_problem(by_beta, 404)
    assert by_beta.get_data(as_text=True) == like.get_data(as_text=True).replace(MISSING_KEY_ID, key_id(other))
    assert client.get("/v1/team", headers=bearer(other)).status_code == 200


# --- 6. idempotency keys are per team -------------------------------------------------------------

def test_an_idempotency_key_is_scoped_to_the_team(secured_app: flask.Flask, alpha: TeamKeys, beta: TeamKeys) -> None:
    client = secured_app.test_client()
    a, b = bearer(alpha.member), bearer(beta.member)
    assert client.post("/v1/studies", json=study_body(STUDY, seed=1), headers=a).status_code == 201
    assert client.post("/v1/studies", json=study_body(STUDY, seed=2), headers=b).status_code == 201
    same = {"Idempotency-Key": "the-same-key"}
    path = f"/v1/studies/{STUDY}/ask"

    ours = client.post(path, json={"count": 1}, headers={**a, **same})
    theirs = client.post(path, json={"count": 1}, headers={**b, **same})
    assert ours.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers, "beta got alpha's stored answer"
    assert theirs.json["trials"][0]["params"] != ours.json["trials"][0]["params"]
    for headers, first in ((a, ours), (b, theirs)):
        retry = client.post(path, json={"count": 1}, headers={**headers, **same})
        assert retry.headers.get("Idempotent-Replayed") == "true" and retry.json == first.json
        assert client.get(f"/v1/studies/{STUDY}", headers=headers).json["trial_counts"]["total"] == 1

    created = {"Idempotency-Key": "create-t"}
    assert client.post("/v1/studies", json=study_body("t"), headers={**a, **created}).status_code == 201
    again = client.post("/v1/studies", json=study_body("t"), headers={**b, **created})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert client.get("/v1/studies/t", headers=b).status_code == 200


# --- 7. keys are never stored or logged in clear --------------------------------------------------

def every_cell(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    cells = []
    with transaction(sessions, write=False) as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                for column, value in row.items():
                    text = value if isinstance(value, str) else json.dumps(value, default=str)
                    cells.append((table.name, str(column), text))
    return cells


def test_keys_are_never_stored_or_logged_in_clear(secured_app: flask.Flask, alpha: TeamKeys,
                                                  caplog: pytest.LogCaptureFixture,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    client, sessions = secured_app.test_client(), sessions_of(secured_app)
    stream = io.StringIO()
    as_the_app_logs = logging.StreamHandler(stream)
    as_the_app_logs.setFormatter(JsonFormatter())
    with preserved_logging() as logger, caplog.at_level(logging.DEBUG):
        logger.setLevel(logging.DEBUG)
        logger.addHandler(caplog.handler)
        logger.addHandler(as_the_app_logs)

        cli_key = make_key(sessions, "alpha", Role.MEMBER)
        created = client.post("/v1/keys", json={"role": "member", "label": "ci"},
                              headers={**bearer(alpha.admin), "Idempotency-Key": "make-a-key"})
        assert created.status_code == 201, created.json
        api_key = created.json["key"]
        assert key_id(api_key) == created.json["key_id"]
        revoked_key = make_key(sessions, "alpha", Role.READ)
        keys = [alpha.admin, alpha.member, alpha.read, cli_key, api_key, revoked_key]
        assert client.delete(f"/v1/keys/{key_id(revoked_key)}", headers=bearer(alpha.admin)).status_code == 200
        assert client.post("/v1/studies", json=study_body(), headers=bearer(api_key)).status_code == 201
        for key in keys:
            for headers in (bearer(key), *malformed(key, alpha.admin).values()):
                for response in (client.get("/v1/team", headers=headers),
                                 client.post(f"/v1/studies/{STUDY}/ask", json={"count": 1}, headers=headers),
                                 client.get("/v1/keys", headers=headers), client.get("/v1/audit", headers=headers)):
                    assert key not in response.get_data(as_text=True)
                    assert secret_of(key) not in response.get_data(as_text=True)
        assert "/v1/team" in stream.getvalue(), "the capture saw no access log line"

    secrets = {text for key in keys for text in (key, secret_of(key), secret_of(key)[:20], secret_of(key)[20:])}
    leaked = [(table, column) for table, column, text in every_cell(sessions) if any(s in text for s in secrets)]
    assert leaked == []
    with transaction(sessions, write=False) as session:
        digests = {row.key_id: row.digest for row in session.execute(select(ApiKeyRow.key_id, ApiKeyRow.digest))}
    assert all(digests[key_id(key)] == hashlib.sha256(key.encode()).hexdigest() for key in keys)

    captured = capfd.readouterr()
    logged = "\n".join([stream.getvalue(), caplog.text, captured.out, captured.err,
                        *(f"{record.getMessage()} {vars(record)!r}" for record in caplog.records)])
    assert [s for s in secrets if s in logged] == []


# --- 8. audit -------------------------------------------------------------------------------------

def keys_made_by_cli(team: TeamKeys) -> list[tuple[str, str, str]]:
    """The audit events of the fixture's keys, made by the command line in make_team_with_keys's order."""
    return [("cli", "key.created", f"{key_id(team.of(role))} ({role})")
            for role in (Role.ADMIN, Role.MEMBER, Role.READ)]


def test_the_audit_trail_says_which_key_did_what(secured_app: flask.Flask, alpha: TeamKeys, beta: TeamKeys) -> None:
    client = secured_app.test_client()
    member, admin = bearer(alpha.member), bearer(alpha.admin)
    member_id, admin_id = key_id(alpha.member), key_id(alpha.admin)
    rid = request_id("study audit across teams")
    like = client.get(f"/v1/studies/{STUDY}/audit", headers={**bearer(beta.admin), "X-Request-ID": rid})

    for name in (STUDY, "doomed"):
        assert client.post("/v1/studies", json=study_body(name), headers=member).status_code == 201
    assert client.post(f"/v1/studies/{STUDY}/ask", json={"count": 2}, headers=member).status_code == 201
    assert client.post(f"/v1/studies/{STUDY}/tell", json={"number": 0, "value": 1.0}, headers=member).status_code == 200
    assert client.post(f"/v1/studies/{STUDY}/tell", json={"number": 1, "value": 2.0}, headers=admin).status_code == 200
    assert client.delete("/v1/studies/doomed", headers=admin).status_code == 204
    new_id = client.post("/v1/keys", json={"role": "read"}, headers=admin).json["key_id"]
    assert client.delete(f"/v1/keys/{new_id}", headers=admin).status_code == 200

    audit = client.get(f"/v1/studies/{STUDY}/audit", headers=admin)
    assert audit.status_code == 200, audit.json
    assert (audit.json["name"], audit.json["created_by"]) == (STUDY, member_id)
    assert [(t["number"], t["asked_by"], t["told_by"], t["state"]) for t in audit.json["trials"]] == [
        (0, member_id, member_id, "completed"), (1, member_id, admin_id, "completed")]

    events = [(e["actor"], e["action"], e["target"]) for e in client.get("/v1/audit", headers=admin).json["events"]]
    assert events == [
        *keys_made_by_cli(alpha),
        (member_id, "study.created", STUDY), (member_id, "study.created", "doomed"),
        (admin_id, "study.deleted", "doomed"), (admin_id, "key.created", f"{new_id} (read)"),
        (admin_id, "key.revoked", new_id)]

    theirs = client.get("/v1/audit", headers=bearer(beta.admin)).json["events"]
    assert [(e["actor"], e["action"], e["target"]) for e in theirs] == keys_made_by_cli(beta)
    by_beta = client.get(f"/v1/studies/{STUDY}/audit", headers={**bearer(beta.admin), "X-Request-ID": rid})
    assert_problem(by_beta, 404)
    assert by_beta.get_data(as_text=True) == like.get_data(as_text=True)


# --- 9. SUGGEST_AUTH=off --------------------------------------------------------------------------

def test_without_auth_every_endpoint_answers_without_a_key(app: flask.Flask, client: FlaskClient) -> None:
    make_study(client, {})
    counter = itertools.count()
    targets = fresh_targets(client, {}, counter)
    for rule, method in protected_endpoints(app):
        route = route_of(rule, method)
        response = send(client, method, route.build(targets), {})
        assert response.status_code == route.ok, (method, rule, response.get_data(as_text=True))
    team = client.get("/v1/team").json
    assert (team["name"], team["role"], team["key_id"]) == ("default", "admin", None)


def startup_warnings(database_url: str, auth: str, caplog: pytest.LogCaptureFixture,
                     monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What create_app warns about at start-up (its logger gets a fresh handler then, so ours is added after)."""
    def configure_and_capture(level: str) -> None:
        configure_logging(level)
        logging.getLogger("suggest_api").addHandler(caplog.handler)

    caplog.clear()
    with preserved_logging(), monkeypatch.context() as patch:
        patch.setattr("suggest_api.app.configure_logging", configure_and_capture)
        create_app(Settings(database_url=database_url, auth=auth)).extensions["suggest_api"].engine.dispose()
    return [record.getMessage() for record in caplog.records
            if record.name == "suggest_api" and record.levelno == logging.WARNING]


def test_only_a_service_without_auth_warns_at_start_up(database_url: str, caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    warned = startup_warnings(database_url, "off", caplog, monkeypatch)
    assert any("SUGGEST_AUTH=off" in message for message in warned), warned
    assert not any("SUGGEST_AUTH" in message for message in startup_warnings(database_url, "required", caplog,
                                                                              monkeypatch))


# --- names no team can have ----------------------------------------------------------------------

def test_a_name_with_a_nul_byte_is_missing_like_any_other(secured_app: flask.Flask, alpha: TeamKeys) -> None:
    """PostgreSQL refuses NUL in text parameters; the lookup must still answer 404, as SQLite does, not 500."""
    client = secured_app.test_client()
    nul = "a%00b"
    targets = Targets(nul, lambda: 1, lambda: "%00", lambda: nul, lambda: "unused")
    answers = {}
    for rule, method in protected_endpoints(secured_app):
        route = route_of(rule, method)
        if route.names is not None:
            response = send(client, method, route.build(targets), bearer(alpha.admin))
            answers[f"{method} {rule}"] = response.status_code
    assert answers == dict.fromkeys(answers, 404)
