"""Ask, tell, heartbeat, report, enqueue/import, list, best: success paths and every refusal."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from suggest_api.space import SearchSpace
from tests.api.support import SPACE, ask, assert_problem, create, study_body, tell


def test_ask_hands_out_sequential_running_trials_that_fit_the_space(client: FlaskClient) -> None:
    create(client)
    space = SearchSpace.from_json(SPACE)
    trials = ask(client, count=5) + ask(client, count=3, client_id="worker-a")
    assert [t["number"] for t in trials] == list(range(8))
    for trial in trials:
        assert trial["state"] == "running" and trial["value"] is None
        assert space.check_params(trial["params"]) == {}
    assert trials[-1]["client_id"] == "worker-a"


def test_ask_without_a_body_asks_for_one(client: FlaskClient) -> None:
    create(client)
    response = client.post("/v1/studies/s/ask")
    assert response.status_code == 201 and len(response.json["trials"]) == 1


def test_random_trial_k_depends_only_on_seed_and_k(client: FlaskClient) -> None:
    create(client, "batched")
    create(client, "serial")
    create(client, "other-seed", seed=8)
    batched = ask(client, "batched", count=6)
    serial = [t for _ in range(3) for t in ask(client, "serial", count=2)]
    assert [t["params"] for t in batched] == [t["params"] for t in serial]
    assert [t["params"] for t in ask(client, "other-seed", count=6)] != [t["params"] for t in batched]


@pytest.mark.parametrize("count", [0, -1, 101, 10**30, 1.5, "3", True, None])
def test_ask_refuses_bad_counts(client: FlaskClient, count: object) -> None:
    create(client)
    assert_problem(client.post("/v1/studies/s/ask", json={"count": count}), 422, "count")
    assert client.get("/v1/studies/s").json["trial_counts"]["total"] == 0


def test_ask_on_a_missing_study_is_404(client: FlaskClient) -> None:
    problem = assert_problem(client.post("/v1/studies/nope/ask", json={}), 404)
    assert "nope" in problem["detail"]


def test_tell_completes_and_repeating_it_is_a_no_op(client: FlaskClient) -> None:
    create(client)
    [trial] = ask(client)
    first = tell(client, trial["number"], 0.125, metadata={"test_accuracy": 0.9})
    assert first.status_code == 200
    assert first.json["state"] == "completed" and first.json["value"] == 0.125
    assert first.json["metadata"] == {"test_accuracy": 0.9} and first.json["finished_at"]
    again = tell(client, trial["number"], 0.125)
    assert again.status_code == 200 and again.json == first.json
    problem = assert_problem(tell(client, trial["number"], 0.5), 409)
    assert "0.125" in problem["detail"]
    assert_problem(tell(client, trial["number"], state="failed"), 409)
    assert client.get("/v1/studies/s/trials/0").json["value"] == 0.125


@pytest.mark.parametrize(("body", "field"), [
    ({"number": 0}, "value"),
    ({"number": 0, "state": "completed"}, "value"),
    ({"number": 0, "state": "failed", "value": 1.0}, "value"),
    ({"number": 0, "state": "running"}, "state"),
    ({"number": 0, "state": "exploded"}, "state"),
    ({"number": 0, "value": "1.0"}, "value"),
    ({"number": -1, "value": 1.0}, "number"),
    ({"number": 2**40, "value": 1.0}, "number"),
    ({"value": 1.0}, "number"),
])
def test_tell_refuses_bad_bodies(client: FlaskClient, body: dict[str, object], field: str) -> None:
    create(client)
    ask(client)
    assert_problem(client.post("/v1/studies/s/tell", json=body), 422, field)
    assert client.get("/v1/studies/s/trials/0").json["state"] == "running"


@pytest.mark.parametrize("raw", ['{"number": 0, "value": NaN}', '{"number": 0, "value": Infinity}',
                                 '{"number": 0, "value": -Infinity}', '{"number": 0, "value": 1e999}'])
def test_tell_refuses_non_finite_values(client: FlaskClient, raw: str) -> None:
    create(client)
    ask(client)
    response = client.post("/v1/studies/s/tell", data=raw, content_type="application/json")
    problem = assert_problem(response, 400, "body")
    assert "finite" in problem["detail"]
    assert client.get("/v1/studies/s/trials/0").json["state"] == "running"


def test_telling_an_unknown_trial_is_404(client: FlaskClient) -> None:
    create(client)
    ask(client)
    problem = assert_problem(tell(client, 5, 1.0), 404)
    assert "0..0" in problem["detail"]


def test_failed_and_pruned_tells(client: FlaskClient) -> None:
    create(client)
    trials = ask(client, count=2)
    assert tell(client, trials[0]["number"], state="failed").json["state"] == "failed"
    pruned = tell(client, trials[1]["number"], 3.0, state="pruned").json
    assert pruned["state"] == "pruned" and pruned["value"] == 3.0
    assert_problem(client.get("/v1/studies/s/best"), 404)


@pytest.mark.parametrize(("goal", "expected"), [("minimize", 0.1), ("maximize", 0.9)])
def test_best_follows_the_goal(client: FlaskClient, goal: str, expected: float) -> None:
    client.post("/v1/studies", json=study_body(objective={"goal": goal}))
    for trial, value in zip(ask(client, count=3), [0.5, 0.1, 0.9], strict=True):
        tell(client, trial["number"], value)
    assert client.get("/v1/studies/s/best").json["value"] == expected


def test_heartbeat_keeps_a_running_trial_alive_and_refuses_finished_ones(client: FlaskClient) -> None:
    create(client, heartbeat_timeout=0.5)
    [trial] = ask(client)
    for _ in range(3):
        time.sleep(0.3)
        assert client.post("/v1/studies/s/trials/0/heartbeat").status_code == 200
    assert client.get("/v1/studies/s/trials/0").json["state"] == "running"
    tell(client, trial["number"], 1.0)
    assert_problem(client.post("/v1/studies/s/trials/0/heartbeat"), 409)
    assert_problem(client.post("/v1/studies/s/trials/9/heartbeat"), 404)


def test_stale_trials_are_reaped_at_listing_and_a_late_tell_is_kept(client: FlaskClient) -> None:
    create(client, heartbeat_timeout=0.2)
    ask(client, count=2)
    client.post("/v1/studies/s/trials/1/heartbeat")
    time.sleep(0.35)
    failed = client.get("/v1/studies/s/trials", query_string={"state": "failed"}).json["trials"]
    assert [(t["number"], t["fail_reason"]) for t in failed] == [(0, "stale"), (1, "stale")]
    assert_problem(client.post("/v1/studies/s/trials/0/heartbeat"), 409)
    late = tell(client, 0, 2.0)
    assert late.status_code == 200 and late.json["state"] == "completed" and late.json["fail_reason"] is None


def test_reading_one_trial_reaps_it_too(client: FlaskClient) -> None:
    create(client, heartbeat_timeout=0.2)
    ask(client)
    time.sleep(0.3)
    trial = client.get("/v1/studies/s/trials/0").json
    assert (trial["state"], trial["fail_reason"]) == ("failed", "stale")


def test_stale_trials_are_reaped_at_ask(client: FlaskClient) -> None:
    create(client, heartbeat_timeout=0.2)
    ask(client)
    time.sleep(0.3)
    ask(client)
    states = [t["state"] for t in client.get("/v1/studies/s/trials").json["trials"]]
    assert states == ["failed", "running"]


def test_report_stores_intermediate_values_and_never_prunes_without_a_pruner(client: FlaskClient) -> None:
    create(client)
    ask(client)
    for step, value in enumerate([0.9, 0.7, 0.6]):
        response = client.post("/v1/studies/s/trials/0/report", json={"step": step, "value": value})
        assert response.status_code == 200 and response.json == {"prune": False, "reason": None}
    assert client.post("/v1/studies/s/trials/0/report", json={"step": 1, "value": 0.7}).status_code == 200
    assert_problem(client.post("/v1/studies/s/trials/0/report", json={"step": 1, "value": 0.1}), 409)
    trial = client.get("/v1/studies/s/trials/0").json
    reports = [{"step": s, "value": v, "prune": None, "reason": None} for s, v in [(0, 0.9), (1, 0.7), (2, 0.6)]]
    assert trial["intermediate"] == reports
    assert client.post("/v1/studies/s/trials/0/heartbeat").json["intermediate"] == reports
    assert tell(client, 0, 0.6).json["intermediate"] == reports
    assert tell(client, 0, 0.6).json["intermediate"] == reports  # the repeated (no-op) tell too
    assert_problem(client.post("/v1/studies/s/trials/0/report", json={"step": 3, "value": 0.5}), 409)


@pytest.mark.parametrize(("body", "field"), [({"step": -1, "value": 1.0}, "step"), ({"value": 1.0}, "step"),
                                             ({"step": 0}, "value"), ({"step": 0, "value": None}, "value")])
def test_report_refuses_bad_bodies(client: FlaskClient, body: dict[str, object], field: str) -> None:
    create(client)
    ask(client)
    assert_problem(client.post("/v1/studies/s/trials/0/report", json=body), 422, field)


def test_enqueued_params_are_handed_out_first_in_order(client: FlaskClient) -> None:
    create(client)
    queued = [{"lr": 0.01, "batch_size": 32, "optimizer": "adam"},
              {"lr": 0.001, "batch_size": 64, "optimizer": "sgd", "momentum": 0.9}]
    response = client.post("/v1/studies/s/trials", json={"trials": [{"params": p} for p in queued]})
    assert response.status_code == 201
    assert response.json == {"imported": [], "enqueued": 2, "queue_length": 2}
    trials = ask(client, count=3)
    assert [t["params"] for t in trials[:2]] == queued
    assert trials[2]["params"] not in queued
    assert client.get("/v1/studies/s").json["queued"] == 0


def test_imported_results_count_as_completed_trials(client: FlaskClient) -> None:
    create(client)
    params = {"lr": 0.01, "batch_size": 32, "optimizer": "adam"}
    response = client.post("/v1/studies/s/trials", json={"trials": [
        {"params": params, "value": 0.05}, {"params": params, "state": "failed"}]})
    assert response.status_code == 201
    imported = response.json["imported"]
    assert [(t["number"], t["state"]) for t in imported] == [(0, "completed"), (1, "failed")]
    assert client.get("/v1/studies/s/best").json["number"] == 0
    assert ask(client)[0]["number"] == 2


@pytest.mark.parametrize(("params", "field"), [
    ({"lr": 0.01, "batch_size": 32}, "optimizer"),
    ({"lr": 5.0, "batch_size": 32, "optimizer": "adam"}, "lr"),
    ({"lr": 0.01, "batch_size": 33, "optimizer": "adam"}, "batch_size"),
    ({"lr": 0.01, "batch_size": 32, "optimizer": "adam", "momentum": 0.5}, "momentum"),
    ({"lr": 0.01, "batch_size": 32, "optimizer": "nadam"}, "optimizer"),
    ({"lr": 0.01, "batch_size": 32, "optimizer": "adam", "extra": 1}, "extra"),
])
def test_added_params_must_fit_the_space(client: FlaskClient, params: dict[str, object], field: str) -> None:
    create(client)
    problem = assert_problem(client.post("/v1/studies/s/trials", json={"trials": [{"params": params}]}), 422)
    assert any(field in key for key in problem["errors"]), problem
    assert client.get("/v1/studies/s").json["queued"] == 0


def test_list_trials_filters_by_state_and_pages(client: FlaskClient) -> None:
    create(client)
    trials = ask(client, count=7)
    for trial in trials[::2]:
        tell(client, trial["number"], 1.0)
    completed = client.get("/v1/studies/s/trials?state=completed").json["trials"]
    assert [t["number"] for t in completed] == [0, 2, 4, 6]
    numbers, cursor = [], None
    while True:
        page = client.get("/v1/studies/s/trials", query_string={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        numbers += [t["number"] for t in page.json["trials"]]
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    assert numbers == list(range(7))
    assert_problem(client.get("/v1/studies/s/trials?state=bogus"), 422, "query.state")
    assert_problem(client.get("/v1/studies/s/trials/99"), 404)
    assert_problem(client.get("/v1/studies/s/trials/99999999999999999999999"), 404)


def test_ask_with_an_idempotency_key_creates_once(client: FlaskClient) -> None:
    create(client)
    headers = {"Idempotency-Key": "ask-1"}
    bodies = [client.post("/v1/studies/s/ask", json={"count": 2}, headers=headers) for _ in range(5)]
    assert all(b.status_code == 201 for b in bodies)
    assert all(b.json == bodies[0].json for b in bodies)
    assert client.get("/v1/studies/s").json["trial_counts"]["total"] == 2
    assert_problem(client.post("/v1/studies/s/ask", json={"count": 3}, headers=headers), 422, "Idempotency-Key")
    # the same key on another endpoint is another request
    assert client.post("/v1/studies/s/tell", json={"number": 0, "value": 1.0}, headers=headers).status_code == 200


def test_tell_with_an_idempotency_key_replays_the_first_answer(client: FlaskClient) -> None:
    create(client)
    ask(client)
    headers = {"Idempotency-Key": "tell-1"}
    first = client.post("/v1/studies/s/tell", json={"number": 0, "value": 1.0}, headers=headers)
    replay = client.post("/v1/studies/s/tell", json={"number": 0, "value": 1.0}, headers=headers)
    assert replay.json == first.json and replay.headers.get("Idempotent-Replayed") == "true"


def test_a_bad_idempotency_key_is_refused(client: FlaskClient) -> None:
    create(client)
    assert_problem(client.post("/v1/studies/s/ask", json={}, headers={"Idempotency-Key": "x" * 300}), 422,
                   "Idempotency-Key")
