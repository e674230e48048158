"""Team quotas: how many studies a team keeps, how many trials one ask may take, how many run at once.

Quotas are what keeps one team from using up a service many teams share, so each must hold exactly at
its limit (one more is refused, one fewer is not), say which quota and which limit refused a request
(403 quota-exceeded: waiting will not help; 429 running-trials-quota with Retry-After: it will), never
spill over to another team, apply from the next request on when the operator changes it, fall back to the
service's default when reset, and hold under concurrent requests (the team's and the study's row locks).
Every test runs on SQLite and PostgreSQL, in process with the Flask test client.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from suggest_api.accounts import Role, parse_key
from suggest_api.app import create_app
from suggest_api.config import Settings
from suggest_api.service import accounts
from suggest_api.storage.database import transaction
from suggest_api.storage.models import StudyRow, TrialRow
from tests.api.support import assert_problem, study_body
from tests.support.teams import TeamKeys, make_team_with_keys

Json = dict[str, Any]

QUOTA_EXCEEDED = "urn:suggest-api:problem:quota-exceeded"
RUNNING_TRIALS_QUOTA = "urn:suggest-api:problem:running-trials-quota"
#: The service's defaults in `small_defaults`: small, so that a team without quotas of its own reaches them.
DEFAULTS = {"max_studies": 2, "max_running_trials": 3, "max_trials_per_ask": 4}
THREADS = 8


def as_key(app: flask.Flask, key: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def set_quotas(app: flask.Flask, team: str, **change: int) -> None:
    """What `suggest-api teams set-quota` does; 0 resets a quota to the service's default."""
    with transaction(app.extensions["suggest_api"].sessions, write=True) as session:
        accounts.set_quotas(session, team, accounts.QuotaChange(**change))


def create(client: FlaskClient, name: str, **overrides: Any) -> TestResponse:
    return client.post("/v1/studies", json=study_body(name, **overrides))


def ask(client: FlaskClient, count: int, study: str = "s") -> TestResponse:
    return client.post(f"/v1/studies/{study}/ask", json={"count": count})


def asked(client: FlaskClient, count: int, study: str = "s") -> list[int]:
    response = ask(client, count, study)
    assert response.status_code == 201, response.json
    return [trial["number"] for trial in response.json["trials"]]


def tell(client: FlaskClient, number: int, study: str = "s") -> None:
    response = client.post(f"/v1/studies/{study}/tell", json={"number": number, "value": 0.5})
    assert response.status_code == 200, response.json


def quota_exceeded(response: TestResponse, quota: str, limit: int, field: str | None = None) -> Json:
    body = assert_problem(response, 403, field)
    assert body["type"] == QUOTA_EXCEEDED, body
    assert (body["quota"], body["limit"]) == (quota, limit), body
    assert str(limit) in body["detail"], body
    return body


def running_trials_quota(response: TestResponse, limit: int, running: int) -> Json:
    body = assert_problem(response, 429)
    assert body["type"] == RUNNING_TRIALS_QUOTA, body
    assert (body["quota"], body["limit"], body["running"]) == ("max_running_trials", limit, running), body
    retry_after = response.headers.get("Retry-After", "")
    assert retry_after.isdigit() and int(retry_after) > 0, response.headers
    return body


def team(client: FlaskClient) -> Json:
    response = client.get("/v1/team")
    assert response.status_code == 200, response.json
    body: Json = response.get_json()
    return body


def running_in_database(app: flask.Flask, study: str = "s") -> int:
    with transaction(app.extensions["suggest_api"].sessions, write=False) as session:
        count = session.scalar(select(func.count()).select_from(TrialRow).join(StudyRow)
                               .where(StudyRow.name == study, TrialRow.state == "running"))
    return int(count or 0)


@pytest.fixture
def member(secured_app: flask.Flask, alpha: TeamKeys) -> FlaskClient:
    return as_key(secured_app, alpha.member)


@pytest.fixture
def small_defaults(database_url: str) -> Iterator[flask.Flask]:
    """The app with small service-wide quotas, for teams that have none of their own."""
    app = create_app(Settings(database_url=database_url, auth="required",
                              quota_max_studies=DEFAULTS["max_studies"],
                              quota_max_running_trials=DEFAULTS["max_running_trials"],
                              quota_max_trials_per_ask=DEFAULTS["max_trials_per_ask"]))
    yield app
    app.extensions["suggest_api"].engine.dispose()


# --- max_studies --------------------------------------------------------------------------------

def test_max_studies_holds_at_the_limit_and_deleting_a_study_makes_room(
        secured_app: flask.Flask, alpha: TeamKeys, beta: TeamKeys, member: FlaskClient) -> None:
    set_quotas(secured_app, "alpha", max_studies=3)
    for name in ("s0", "s1", "s2"):
        assert create(member, name).status_code == 201
    refused = quota_exceeded(create(member, "s3"), "max_studies", 3)
    assert "alpha" in refused["detail"]
    assert create(member, "s0").status_code == 200  # the same study again is no new study: not refused
    assert create(member, "s0", seed=8).status_code == 409  # nor is a different one of that name counted
    assert member.delete("/v1/studies/s1").status_code == 204
    assert create(member, "s3").status_code == 201
    quota_exceeded(create(member, "s4"), "max_studies", 3)
    assert sorted(s["name"] for s in member.get("/v1/studies").json["studies"]) == ["s0", "s2", "s3"]
    other = as_key(secured_app, beta.member)  # beta keeps the service's default, and its own count
    for name in ("s0", "s1", "s2", "s3", "s4"):
        assert create(other, name).status_code == 201
    assert team(other)["studies"] == 5 and team(member)["studies"] == 3


# --- max_trials_per_ask -------------------------------------------------------------------------

def test_max_trials_per_ask_refuses_one_more_naming_count_and_the_limit(
        secured_app: flask.Flask, alpha: TeamKeys, member: FlaskClient) -> None:
    set_quotas(secured_app, "alpha", max_trials_per_ask=5)
    assert create(member, "s").status_code == 201
    assert len(asked(member, 5)) == 5
    refused = quota_exceeded(ask(member, 6), "max_trials_per_ask", 5, field="count")
    assert "5" in " ".join(refused["errors"]["count"])
    assert member.get("/v1/studies/s").json["trial_counts"]["running"] == 5  # the refused ask took nothing


# --- max_running_trials -------------------------------------------------------------------------

def test_max_running_trials_refuses_the_ask_past_the_limit_until_a_trial_finishes(
        secured_app: flask.Flask, alpha: TeamKeys, member: FlaskClient) -> None:
    set_quotas(secured_app, "alpha", max_running_trials=4)
    assert create(member, "s").status_code == 201
    first = asked(member, 1) + asked(member, 3)
    assert len(first) == 4
    running_trials_quota(ask(member, 1), limit=4, running=4)
    tell(member, first[0])
    [fifth] = asked(member, 1)
    assert fifth == 4  # refused asks used no trial number
    running_trials_quota(ask(member, 1), limit=4, running=4)
    tell(member, first[1])
    tell(member, first[2])
    refused = running_trials_quota(ask(member, 3), limit=4, running=2)
    assert "at most 2" in refused["detail"], refused
    assert len(asked(member, 2)) == 2
    assert running_in_database(secured_app) == 4


def test_the_running_trials_quota_is_per_study(secured_app: flask.Flask, alpha: TeamKeys,
                                               member: FlaskClient) -> None:
    set_quotas(secured_app, "alpha", max_running_trials=2)
    for name in ("a", "b"):
        assert create(member, name).status_code == 201
    asked(member, 2, "a")
    running_trials_quota(ask(member, 1, "a"), limit=2, running=2)
    assert len(asked(member, 2, "b")) == 2


def test_stale_trials_free_the_running_trials_quota(secured_app: flask.Flask, alpha: TeamKeys,
                                                    member: FlaskClient) -> None:
    """The ask fails trials whose lease ended before it counts the running ones."""
    set_quotas(secured_app, "alpha", max_running_trials=2)
    assert create(member, "s", heartbeat_timeout=0.2).status_code == 201
    stale = asked(member, 2)
    running_trials_quota(ask(member, 1), limit=2, running=2)
    time.sleep(0.4)
    assert len(asked(member, 2)) == 2
    for number in stale:
        trial = member.get(f"/v1/studies/s/trials/{number}").json
        assert (trial["state"], trial["fail_reason"]) == ("failed", "stale")



def test_a_trial_whose_lease_just_ended_frees_the_quota_even_before_the_periodic_reap(
        secured_app: flask.Flask, alpha: TeamKeys, member: FlaskClient) -> None:
    """Asks reap at most every heartbeat_timeout / 4; a refusal must not count a trial whose lease has
    ended in between (the refused ask expires it first)."""
    set_quotas(secured_app, "alpha", max_running_trials=2)
    assert create(member, "s", heartbeat_timeout=2.0).status_code == 201
    [first] = asked(member, 1)
    time.sleep(1.8)
    assert len(asked(member, 1)) == 1  # reaps (due), so the next periodic reap is 0.5 s away
    time.sleep(0.3)  # the first trial's lease has ended; the periodic reap is not due yet
    assert len(asked(member, 1)) == 1
    trial = member.get(f"/v1/studies/s/trials/{first}").json
    assert (trial["state"], trial["fail_reason"]) == ("failed", "stale")

# --- changing quotas ----------------------------------------------------------------------------

def test_a_quota_change_applies_on_the_next_request_and_0_restores_the_default(
        small_defaults: flask.Flask) -> None:
    app = small_defaults
    keys = make_team_with_keys(app.extensions["suggest_api"].sessions, "alpha")
    member = as_key(app, keys.member)
    assert team(member)["quotas"] == DEFAULTS

    # max_studies: the default (2) holds, a raised quota lets more in, a reset brings the default back
    assert create(member, "s").status_code == 201
    assert create(member, "t").status_code == 201
    quota_exceeded(create(member, "u"), "max_studies", 2)
    set_quotas(app, "alpha", max_studies=3)
    assert team(member)["quotas"]["max_studies"] == 3
    assert create(member, "u").status_code == 201
    set_quotas(app, "alpha", max_studies=0)
    assert team(member)["quotas"]["max_studies"] == 2
    quota_exceeded(create(member, "v"), "max_studies", 2)

    # max_trials_per_ask: default 4; lowered to 1; reset
    quota_exceeded(ask(member, 5), "max_trials_per_ask", 4, field="count")
    set_quotas(app, "alpha", max_trials_per_ask=1)
    quota_exceeded(ask(member, 2), "max_trials_per_ask", 1, field="count")
    set_quotas(app, "alpha", max_trials_per_ask=0)
    assert len(asked(member, 3)) == 3

    # max_running_trials: default 3 (3 run now); raised to 5; reset while 5 run: none more until 2 finish
    running_trials_quota(ask(member, 1), limit=3, running=3)
    set_quotas(app, "alpha", max_running_trials=5)
    more = asked(member, 2)
    running_trials_quota(ask(member, 1), limit=5, running=5)
    set_quotas(app, "alpha", max_running_trials=0)
    running_trials_quota(ask(member, 1), limit=3, running=5)
    for number in more:
        tell(member, number)
    running_trials_quota(ask(member, 1), limit=3, running=3)
    assert team(member)["quotas"] == DEFAULTS


def test_quotas_changed_together_leave_the_others_alone(small_defaults: flask.Flask) -> None:
    app = small_defaults
    keys = make_team_with_keys(app.extensions["suggest_api"].sessions, "alpha",
                               accounts.QuotaChange(max_studies=9, max_running_trials=8, max_trials_per_ask=7))
    member = as_key(app, keys.member)
    assert team(member)["quotas"] == {"max_studies": 9, "max_running_trials": 8, "max_trials_per_ask": 7}
    set_quotas(app, "alpha", max_running_trials=0)  # None for the others: unchanged
    assert team(member)["quotas"] == {"max_studies": 9, "max_running_trials": 3, "max_trials_per_ask": 7}


# --- concurrent requests ------------------------------------------------------------------------

def all_at_once(app: flask.Flask, key: str, request: Callable[[FlaskClient, int], TestResponse]) -> list[int]:
    """THREADS requests released together (each thread with its own client); their statuses."""
    start = threading.Barrier(THREADS, timeout=30)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def one(index: int) -> None:
        client = as_key(app, key)
        try:
            start.wait()
            response = request(client, index)
            assert response.status_code in (201, 403, 429), response.json
            statuses.append(response.status_code)
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(statuses) == THREADS
    return statuses


def test_concurrent_creates_stop_exactly_at_max_studies(secured_app: flask.Flask, alpha: TeamKeys) -> None:
    set_quotas(secured_app, "alpha", max_studies=5)
    statuses = all_at_once(secured_app, alpha.member, lambda client, i: create(client, f"study-{i}"))
    assert Counter(statuses) == {201: 5, 403: 3}
    member = as_key(secured_app, alpha.member)
    assert team(member)["studies"] == 5 and len(member.get("/v1/studies").json["studies"]) == 5


def test_concurrent_asks_stop_exactly_at_max_running_trials(secured_app: flask.Flask, alpha: TeamKeys,
                                                            member: FlaskClient) -> None:
    set_quotas(secured_app, "alpha", max_running_trials=3)
    assert create(member, "s").status_code == 201
    statuses = all_at_once(secured_app, alpha.member, lambda client, i: ask(client, 1))
    assert Counter(statuses) == {201: 3, 429: 5}
    assert running_in_database(secured_app) == 3
    trials = member.get("/v1/studies/s/trials").json["trials"]
    assert sorted(t["number"] for t in trials) == [0, 1, 2]


# --- GET /v1/team -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_its_teams_effective_quotas_and_study_count(
        secured_app: flask.Flask, alpha: TeamKeys, beta: TeamKeys, member: FlaskClient, role: Role) -> None:
    set_quotas(secured_app, "alpha", max_studies=7, max_trials_per_ask=5)
    for name in ("a", "b"):
        assert create(member, name).status_code == 201
    settings = secured_app.extensions["suggest_api"].settings
    seen = team(as_key(secured_app, alpha.of(role)))
    assert seen == {"name": "alpha", "role": role.value, "key_id": parse_key(alpha.of(role)),
                    "quotas": {"max_studies": 7, "max_running_trials": settings.quota_max_running_trials,
                               "max_trials_per_ask": 5},
                    "studies": 2}
    other = team(as_key(secured_app, beta.of(role)))
    assert other["quotas"] == {"max_studies": settings.quota_max_studies,
                               "max_running_trials": settings.quota_max_running_trials,
                               "max_trials_per_ask": settings.quota_max_trials_per_ask}
    assert (other["name"], other["role"], other["studies"]) == ("beta", role.value, 0)
