"""What a polling dashboard reads: conditional GETs (ETag, 304), trials from a number on, last activity."""

from __future__ import annotations

from datetime import datetime

import flask
from flask.testing import FlaskClient

from tests.api.support import ask, assert_problem, create, tell
from tests.support.teams import TeamKeys, bearer


def test_every_json_read_carries_an_etag_that_a_poll_turns_into_a_304(client: FlaskClient) -> None:
    create(client)
    for path in ("/v1/studies", "/v1/studies/s", "/v1/studies/s/trials", "/v1/team"):
        first = client.get(path)
        assert first.status_code == 200, path
        tag = first.headers["ETag"]
        assert tag.startswith('"') and first.headers["Cache-Control"] == "no-cache, private"
        assert "Authorization" in first.headers["Vary"]
        again = client.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304, path
        assert again.get_data() == b"" and again.headers["ETag"] == tag


def test_the_tag_changes_exactly_when_the_answer_does(client: FlaskClient) -> None:
    create(client)
    before = client.get("/v1/studies/s")
    assert client.get("/v1/studies/s").headers["ETag"] == before.headers["ETag"]  # same answer, same tag
    [trial] = ask(client)
    after_ask = client.get("/v1/studies/s", headers={"If-None-Match": before.headers["ETag"]})
    assert after_ask.status_code == 200 and after_ask.json["trial_counts"]["running"] == 1
    assert after_ask.headers["ETag"] != before.headers["ETag"]
    assert tell(client, trial["number"], 0.5).status_code == 200
    told = client.get("/v1/studies/s", headers={"If-None-Match": after_ask.headers["ETag"]})
    assert told.status_code == 200 and told.json["best_trial"]["value"] == 0.5


def test_writes_errors_and_other_tags_are_not_conditional(client: FlaskClient) -> None:
    created = client.post("/v1/studies", json={"name": "s", "space": {"params": [
        {"name": "x", "type": "float", "low": 0, "high": 1}]}, "objective": {"name": "loss", "goal": "minimize"}})
    assert created.status_code == 201 and "ETag" not in created.headers
    missing = client.get("/v1/studies/nope", headers={"If-None-Match": "*"})
    assert_problem(missing, 404)
    assert "ETag" not in missing.headers
    stale = client.get("/v1/studies/s", headers={"If-None-Match": '"not-the-tag"'})
    assert stale.status_code == 200 and stale.json["name"] == "s"
    assert client.get("/healthz").headers.get("ETag") is None  # ops answers are not under /v1


def test_a_tag_seen_by_one_team_does_not_open_another_teams_study(secured_app: flask.Flask, alpha: TeamKeys,
                                                                  beta: TeamKeys) -> None:
    secured_client = secured_app.test_client()
    body = {"name": "shared-name", "space": {"params": [{"name": "x", "type": "float", "low": 0, "high": 1}]},
            "objective": {"name": "loss", "goal": "minimize"}}
    assert secured_client.post("/v1/studies", json=body, headers=bearer(alpha.member)).status_code == 201
    tag = secured_client.get("/v1/studies/shared-name", headers=bearer(alpha.read)).headers["ETag"]
    answer = secured_client.get("/v1/studies/shared-name", headers={**bearer(beta.read), "If-None-Match": tag})
    assert_problem(answer, 404)


def test_min_number_lists_trials_from_that_number_on(client: FlaskClient) -> None:
    create(client)
    trials = ask(client, count=8)
    for trial in trials[:5]:
        assert tell(client, trial["number"], float(trial["number"])).status_code == 200
    listed = client.get("/v1/studies/s/trials?min_number=3").json
    assert [t["number"] for t in listed["trials"]] == [3, 4, 5, 6, 7] and listed["next_cursor"] is None
    running = client.get("/v1/studies/s/trials?min_number=3&state=running").json["trials"]
    assert [t["number"] for t in running] == [5, 6, 7]
    first = client.get("/v1/studies/s/trials?min_number=2&limit=2").json
    assert [t["number"] for t in first["trials"]] == [2, 3]
    rest = client.get(f"/v1/studies/s/trials?min_number=2&limit=10&cursor={first['next_cursor']}").json
    assert [t["number"] for t in rest["trials"]] == [4, 5, 6, 7]
    assert client.get("/v1/studies/s/trials?min_number=99").json["trials"] == []


def test_min_number_refuses_what_is_not_a_trial_number(client: FlaskClient) -> None:
    create(client)
    for bad in ("-1", "abc", "1.5", str(2**31), "99999999999999999999"):
        assert_problem(client.get(f"/v1/studies/s/trials?min_number={bad}"), 422, "query.min_number")


def test_last_activity_follows_the_newest_trial_event(client: FlaskClient) -> None:
    created = create(client)
    assert created["last_activity_at"] is None
    [first, second] = ask(client, count=2)
    asked_at = parse(client.get("/v1/studies/s").json["last_activity_at"])
    assert asked_at == parse(second["created_at"])
    assert tell(client, first["number"], 1.0).status_code == 200
    told = client.get("/v1/studies/s").json
    assert parse(told["last_activity_at"]) == parse(client.get("/v1/studies/s/trials/0").json["finished_at"])
    assert parse(told["last_activity_at"]) >= asked_at
    beat = client.post(f"/v1/studies/s/trials/{second['number']}/heartbeat")
    assert beat.status_code == 200
    after_beat = parse(client.get("/v1/studies/s").json["last_activity_at"])
    assert after_beat == parse(client.get("/v1/studies/s/trials/1").json["heartbeat_at"]) >= parse(
        told["last_activity_at"])
    listed = client.get("/v1/studies").json["studies"]
    assert [parse(s["last_activity_at"]) for s in listed] == [after_beat]


def parse(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    assert moment.tzinfo is not None, stamp
    return moment



def test_a_listing_without_reports_leaves_intermediate_null_and_the_rest_unchanged(client: FlaskClient) -> None:
    create(client, pruner={"name": "median", "options": {}})
    [trial] = ask(client)
    for step, value in ((1, 0.9), (2, 0.7)):
        assert client.post(f"/v1/studies/s/trials/{trial['number']}/report",
                           json={"step": step, "value": value}).status_code == 200
    full = client.get("/v1/studies/s/trials").json["trials"]
    light = client.get("/v1/studies/s/trials?reports=false").json["trials"]
    assert [r["step"] for r in full[0]["intermediate"]] == [1, 2]
    assert light[0]["intermediate"] is None
    assert {**full[0], "intermediate": None} == light[0]
    assert_problem(client.get("/v1/studies/s/trials?reports=maybe"), 422, "query.reports")
