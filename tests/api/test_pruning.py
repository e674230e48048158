"""Pruners over HTTP: creating studies with them, the answers to reports, what trials show, every refusal.

Each study uses the random suggester with a fixed seed, and the reports carry values chosen here, so
every answer below is computed by hand (tests/unit/test_pruners.py checks the rules themselves).
"""

from __future__ import annotations

from typing import Any

import flask
import pytest
from flask.testing import FlaskClient

from tests.api.support import ask, assert_problem, create, study_body, tell
from tests.support.teams import TeamKeys, bearer

MEDIAN_DEFAULTS = {"min_trials": 5, "warmup_steps": 0, "interval_steps": 1, "min_step_trials": 1, "compare": "best"}


def report(client: FlaskClient, number: int, step: int, value: float, name: str = "s", **kwargs: Any) -> Any:
    return client.post(f"/v1/studies/{name}/trials/{number}/report", json={"step": step, "value": value}, **kwargs)


def answer(client: FlaskClient, number: int, step: int, value: float) -> dict[str, Any]:
    response = report(client, number, step, value)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.json
    assert set(body) == {"prune", "reason"}
    return body


def intermediate(client: FlaskClient, number: int) -> list[dict[str, Any]]:
    response = client.get(f"/v1/studies/s/trials/{number}")
    assert response.status_code == 200
    shown: list[dict[str, Any]] = response.json["intermediate"]
    return shown


# --- creating studies with pruners ---------------------------------------------------------------

@pytest.mark.parametrize(("pruner", "stored"), [
    ({"name": "median"}, {"name": "median", "options": MEDIAN_DEFAULTS}),
    ({"name": "median", "options": {"min_trials": 2, "compare": "last"}},
     {"name": "median", "options": MEDIAN_DEFAULTS | {"min_trials": 2, "compare": "last"}}),
    ({"name": "percentile", "options": {"percentile": 25}},
     {"name": "percentile", "options": MEDIAN_DEFAULTS | {"percentile": 25.0}}),
    ({"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 2}},
     {"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 2,
                                                "min_early_stopping_rate": 0, "bootstrap_count": 0}}),
    ({"name": "successive_halving"},
     {"name": "successive_halving", "options": {"min_resource": "auto", "reduction_factor": 3,
                                                "min_early_stopping_rate": 0, "bootstrap_count": 0}}),
    ({"name": "hyperband", "options": {"max_resource": 27}},
     {"name": "hyperband", "options": {"min_resource": 1, "max_resource": 27, "reduction_factor": 3}}),
    ({"name": "threshold", "options": {"upper": 10}},
     {"name": "threshold", "options": {"lower": None, "upper": 10.0, "warmup_steps": 0, "interval_steps": 1}}),
    ({"name": "patient", "options": {"patience": 3, "pruner": {"name": "median"}}},
     {"name": "patient", "options": {"patience": 3, "min_delta": 0.0,
                                     "pruner": {"name": "median", "options": MEDIAN_DEFAULTS}}}),
    (None, None),
])
def test_a_study_keeps_its_pruner_with_the_options_normalized(client: FlaskClient, pruner: dict[str, Any] | None,
                                                               stored: dict[str, Any] | None) -> None:
    created = create(client, pruner=pruner)
    assert created["pruner"] == stored
    assert client.get("/v1/studies/s").json["pruner"] == stored
    assert client.get("/v1/studies").json["studies"][0]["pruner"] == stored
    again = client.post("/v1/studies", json=study_body(pruner=stored))  # spelled out: the same definition
    assert again.status_code == 200 and again.json["pruner"] == stored


@pytest.mark.parametrize(("pruner", "field"), [
    ({"name": "median", "options": {"min_trials": -1}}, "min_trials"),
    ({"name": "median", "options": {"min_trials": "5"}}, "min_trials"),
    ({"name": "median", "options": {"compare": "worst"}}, "compare"),
    ({"name": "median", "options": {"bogus": 1}}, "bogus"),
    ({"name": "percentile", "options": {}}, "percentile"),
    ({"name": "percentile", "options": {"percentile": 150}}, "percentile"),
    ({"name": "successive_halving", "options": {"min_resource": 0}}, "min_resource"),
    ({"name": "successive_halving", "options": {"reduction_factor": 1}}, "reduction_factor"),
    ({"name": "hyperband", "options": {"min_resource": 9, "max_resource": 3}}, "max_resource"),
    ({"name": "threshold", "options": {}}, "lower"),
    ({"name": "patient", "options": {"patience": -1}}, "patience"),
    ({"name": "patient", "options": {"patience": 1, "pruner": {"name": "median", "options": {"warmup_steps": -1}}}},
     "pruner"),
])
def test_bad_pruner_options_are_422_naming_the_field(client: FlaskClient, pruner: dict[str, Any], field: str) -> None:
    problem = assert_problem(client.post("/v1/studies", json=study_body(pruner=pruner)), 422, "pruner.options")
    assert field in problem["errors"]["pruner.options"], problem
    assert client.get("/v1/studies").json["studies"] == []


def test_a_bad_nested_pruner_names_its_own_field(client: FlaskClient) -> None:
    pruner = {"name": "patient", "options": {"patience": 1, "pruner": {"name": "median",
                                                                       "options": {"warmup_steps": -1}}}}
    problem = assert_problem(client.post("/v1/studies", json=study_body(pruner=pruner)), 422, "pruner.options")
    assert "warmup_steps" in problem["errors"]["pruner.options"]["pruner"]["pruner.options"]


def test_an_unknown_pruner_is_422_listing_the_known_ones(client: FlaskClient) -> None:
    problem = assert_problem(client.post("/v1/studies", json=study_body(pruner={"name": "nope"})), 422, "pruner.name")
    assert "successive_halving" in " ".join(problem["errors"]["pruner.name"])


@pytest.mark.parametrize(("first", "second"), [
    ({"name": "median"}, {"name": "successive_halving"}),
    ({"name": "median"}, {"name": "median", "options": {"min_trials": 6}}),
    (None, {"name": "median"}),
    ({"name": "median"}, None),
])
def test_recreating_a_study_with_another_pruner_is_409(client: FlaskClient, first: dict[str, Any] | None,
                                                       second: dict[str, Any] | None) -> None:
    create(client, pruner=first)
    problem = assert_problem(client.post("/v1/studies", json=study_body(pruner=second)), 409)
    assert problem["differing_fields"] == ["pruner"] and "pruner" in problem["detail"]
    stored = client.get("/v1/studies/s").json["pruner"]
    assert (stored["name"] if stored else None) == (first["name"] if first else None)


# --- decisions -----------------------------------------------------------------------------------

def test_median_decisions_and_reasons(client: FlaskClient) -> None:
    create(client, pruner={"name": "median", "options": {"min_trials": 2}})
    ask(client, count=3)
    for number, curve in ((0, [1.0, 0.8, 0.6]), (1, [2.0, 1.6, 1.2])):
        for step, value in enumerate(curve):
            assert answer(client, number, step, value) == {
                "prune": False, "reason": f"startup: {number} of the 2 completed trials needed before pruning"}
        assert tell(client, number, curve[-1]).status_code == 200

    # Best values so far of trials 0 and 1: 1.0, 2.0 by step 0; 0.8, 1.6 by step 1; 0.6, 1.2 by step 2.
    assert answer(client, 2, 0, 1.2) == {
        "prune": False, "reason": "best value 1.2 by step 0 is not worse than the median 1.5 of 2 completed trials"}
    assert answer(client, 2, 1, 1.7) == {  # its best is still 1.2: equal to the median
        "prune": False, "reason": "best value 1.2 by step 1 is not worse than the median 1.2 of 2 completed trials"}
    stop = {"prune": True, "reason": "best value 1.2 by step 2 is worse than the median 0.9 of 2 completed trials"}
    assert answer(client, 2, 2, 1.5) == stop
    assert answer(client, 2, 2, 1.5) == stop  # a retry
    assert answer(client, 2, 1, 1.7)["prune"] is False  # a retry of an earlier report gets that report's answer
    assert answer(client, 2, 3, 0.1) == stop  # told to stop: stays stopped, however good the value

    shown = intermediate(client, 2)
    assert shown == [
        {"step": 0, "value": 1.2, "prune": False, "reason": "best value 1.2 by step 0 is not worse than the median "
                                                            "1.5 of 2 completed trials"},
        {"step": 1, "value": 1.7, "prune": False, "reason": "best value 1.2 by step 1 is not worse than the median "
                                                            "1.2 of 2 completed trials"},
        {"step": 2, "value": 1.5, **stop},
        {"step": 3, "value": 0.1, **stop},
    ]
    listed = client.get("/v1/studies/s/trials").json["trials"]
    assert [t["intermediate"] for t in listed] == [intermediate(client, n) for n in range(3)]
    assert [r["prune"] for r in listed[0]["intermediate"]] == [False, False, False]

    pruned = tell(client, 2, 0.1, state="pruned")
    assert pruned.status_code == 200 and pruned.json["state"] == "pruned" and pruned.json["intermediate"] == shown
    assert client.get("/v1/studies/s").json["trial_counts"] == {
        "running": 0, "completed": 2, "failed": 0, "pruned": 1, "total": 3}


def test_successive_halving_decisions_and_reasons(client: FlaskClient) -> None:
    """Rungs at steps 1, 2, 4, 8; at a rung of n entrants the top max(n // 2, 1) continue."""
    create(client, pruner={"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 2}})
    ask(client, count=5)
    assert answer(client, 0, 0, 0.9) == {"prune": False, "reason": "next rung 0 at step 1"}
    assert answer(client, 0, 1, 0.5) == {"prune": False, "reason": "rung 0 (step 1): value 0.5 ranks 1 of 1 trials "
                                                                   "there; the top 1 continue; next rung 1 at step 2"}
    stop = {"prune": True, "reason": "rung 0 (step 1): value 0.7 ranks 2 of 2 trials there; the top 1 continue"}
    assert answer(client, 1, 1, 0.7) == stop
    # A jump to step 4 enters rungs 0, 1 and 2 in turn, first at each.
    assert answer(client, 2, 4, 0.3) == {"prune": False, "reason": "rung 2 (step 4): value 0.3 ranks 1 of 1 trials "
                                                                   "there; the top 1 continue; next rung 3 at step 8"}
    # Four at rung 0 (0.5, 0.7, the jump's 0.3, 0.4): the top 2 continue.
    assert answer(client, 3, 1, 0.4) == {"prune": False, "reason": "rung 0 (step 1): value 0.4 ranks 2 of 4 trials "
                                                                   "there; the top 2 continue; next rung 1 at step 2"}
    assert answer(client, 3, 2, 0.35) == {  # rung 1 holds the jump's 0.3
        "prune": True, "reason": "rung 1 (step 2): value 0.35 ranks 2 of 2 trials there; the top 1 continue"}
    assert answer(client, 0, 2, 0.25) == {"prune": False, "reason": "rung 1 (step 2): value 0.25 ranks 1 of 3 trials "
                                                                    "there; the top 1 continue; next rung 2 at step 4"}
    assert answer(client, 0, 3, 0.24) == {"prune": False, "reason": "next rung 2 at step 4"}
    # Trial 1 was told to stop: its next report is too, and enters no rung (rung 1 keeps 3 entrants).
    assert answer(client, 1, 2, 0.1) == stop
    assert answer(client, 4, 2, 0.28) == {"prune": False, "reason": "rung 1 (step 2): value 0.28 ranks 2 of 4 trials "
                                                                    "there; the top 2 continue; next rung 2 at step 4"}
    assert [(r["step"], r["prune"]) for r in intermediate(client, 1)] == [(1, True), (2, True)]
    assert {r["reason"] for r in intermediate(client, 1)} == {stop["reason"]}
    assert answer(client, 1, 2, 0.1) == stop


def test_a_repeated_report_gets_the_identical_answer(client: FlaskClient) -> None:
    create(client, pruner={"name": "threshold", "options": {"upper": 1.0}})
    ask(client)
    first = answer(client, 0, 3, 0.5)
    assert first == {"prune": False, "reason": "value 0.5 at step 3 is within the thresholds"}
    assert answer(client, 0, 3, 0.5) == first
    assert len(intermediate(client, 0)) == 1
    over = answer(client, 0, 4, 2.0)
    assert over == {"prune": True, "reason": "value 2 at step 4 is above the upper threshold 1"}
    assert answer(client, 0, 4, 2.0) == over
    assert answer(client, 0, 5, 0.5) == over
    assert [r["prune"] for r in intermediate(client, 0)] == [False, True, True]


def test_a_long_reason_is_answered_as_it_is_stored(client: FlaskClient) -> None:
    """Nine patient pruners around a threshold give a reason of 570 characters, above the 500 a report stores:
    the answer, its retry, a later report and the trial must still all say the same."""
    pruner: dict[str, Any] = {"name": "threshold", "options": {"upper": 1.0}}
    for _ in range(9):
        pruner = {"name": "patient", "options": {"patience": 0, "pruner": pruner}}
    create(client, pruner=pruner)
    ask(client)
    assert answer(client, 0, 0, 2.0)["prune"] is False
    first = answer(client, 0, 1, 2.0)
    assert first["prune"] is True and first["reason"].startswith("no improvement on 2 by more than 0")
    assert answer(client, 0, 1, 2.0) == first  # a retry
    assert answer(client, 0, 2, 0.5) == first
    assert intermediate(client, 0)[1]["reason"] == first["reason"]


# --- refusals ------------------------------------------------------------------------------------

def test_reports_that_cannot_be_taken_are_refused(client: FlaskClient) -> None:
    create(client, pruner={"name": "median", "options": {"min_trials": 1}})
    ask(client, count=2)
    assert answer(client, 0, 2, 0.5)["prune"] is False
    before = intermediate(client, 0)

    assert_problem(report(client, 0, -1, 0.5), 422, "step")
    for raw in ('{"step": 3, "value": NaN}', '{"step": 3, "value": Infinity}', '{"step": 3, "value": -Infinity}'):
        problem = assert_problem(client.post("/v1/studies/s/trials/0/report", data=raw,
                                             content_type="application/json"), 400, "body")
        assert "finite" in problem["detail"]
    conflict = assert_problem(report(client, 0, 2, 0.6), 409)
    assert "0.5" in conflict["detail"] and "step 2" in conflict["detail"]
    lower = assert_problem(report(client, 0, 1, 0.5), 409)
    assert "step 2" in lower["detail"]
    assert intermediate(client, 0) == before

    assert tell(client, 0, 0.5).status_code == 200
    assert_problem(report(client, 0, 3, 0.5), 409)
    assert_problem(report(client, 0, 2, 0.5), 409)  # not even a retry, once finished
    assert intermediate(client, 0) == before
    assert_problem(report(client, 7, 0, 0.5), 404)
    assert_problem(report(client, 1, 0, 0.5, name="nope"), 404)


def test_another_teams_study_answers_like_a_missing_one(secured_app: flask.Flask, alpha: TeamKeys,
                                                        beta: TeamKeys) -> None:
    client = secured_app.test_client()
    a, b = bearer(alpha.member), bearer(beta.member)
    missing = report(client, 0, 0, 0.5, headers=b | {"X-Request-ID": "same"})
    created = client.post("/v1/studies", json=study_body(pruner={"name": "median", "options": {"min_trials": 0}}),
                          headers=a)
    assert created.status_code == 201, created.json
    assert client.post("/v1/studies/s/ask", json={}, headers=a).status_code == 201

    theirs = report(client, 0, 0, 0.5, headers=b | {"X-Request-ID": "same"})
    assert_problem(theirs, 404)
    assert (theirs.status_code, theirs.get_data(as_text=True)) == (missing.status_code, missing.get_data(as_text=True))
    assert client.get("/v1/studies/s/trials/0", headers=b).status_code == 404
    assert client.get("/v1/studies/s/trials/0", headers=a).json["intermediate"] == []
    mine = report(client, 0, 0, 0.5, headers=a)
    assert mine.status_code == 200 and mine.json["prune"] is False
