"""Study export and import (`GET /export`, `POST /v1/studies:import`, `suggest-api export|import`) on SQLite and
PostgreSQL: a lossless round trip, idempotent by content, and a refused document writes nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient

from suggest_api import cli
from suggest_api.app import create_app
from suggest_api.config import Limits, Settings
from tests.api.support import ask, assert_problem, create, run_all, tell
from tests.support.teams import TeamKeys, bearer

Json = dict[str, Any]
NAME = "sweep-ü"  # unicode names travel too


def export(client: FlaskClient, name: str = NAME) -> Json:
    response = client.get(f"/v1/studies/{name}/export")
    assert response.status_code == 200, response.json
    body: Json = response.get_json()
    return body


def import_(client: FlaskClient, document: Any, name: str | None = None, **headers: str) -> Any:
    query = f"?name={name}" if name is not None else ""
    return client.post(f"/v1/studies:import{query}", json=document, headers=headers)


def renamed(document: Json, name: str) -> Json:
    return {**document, "study": {**document["study"], "name": name}}


def busy_study(client: FlaskClient) -> Json:
    """A study with every kind of stored thing: completed, pruned, failed and running trials, reports with
    pruner answers and rung entries, metadata, a client id and a queue."""
    create(client, NAME, pruner={"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 2}},
           metadata={"owner": "ana", "note": "λ sweep"})
    for index in range(5):
        trial = ask(client, NAME, client_id=f"worker-{index}")[0]
        for step in range(1, 5):
            answer = client.post(f"/v1/studies/{NAME}/trials/{trial['number']}/report",
                                 json={"step": step, "value": 1.0 + index - 0.1 * step})
            assert answer.status_code == 200
            if answer.json["prune"]:
                break
        if index == 3:
            failed = tell(client, trial["number"], name=NAME, state="failed", metadata={"error": "OOM"})
            assert failed.status_code == 200
        elif index < 4:
            state = "pruned" if answer.json["prune"] else None
            outcome = {"state": "pruned"} if state else {"value": 0.5 + index}
            assert tell(client, trial["number"], name=NAME, metadata={"ckpt": f"s3://b/{index}"},
                        **outcome).status_code == 200
    queued = client.post(f"/v1/studies/{NAME}/trials", json={"trials": [
        {"params": {"lr": 0.01, "batch_size": 64, "optimizer": "sgd", "momentum": 0.9}, "metadata": {"why": "prior"}}]})
    assert queued.status_code == 201
    return export(client)


def test_an_export_imports_back_to_the_same_document(client: FlaskClient) -> None:
    document = busy_study(client)
    states = {t["state"] for t in document["trials"]}
    assert states == {"completed", "pruned", "failed", "running"}, states
    assert any(t["rungs"] for t in document["trials"]) and document["queue"]
    assert all(r["created_at"] for t in document["trials"] for r in t["intermediate"])

    answer = import_(client, document, name="copy")
    assert answer.status_code == 201, answer.json
    assert answer.json["name"] == "copy" and answer.json["trial_counts"]["total"] == 5
    assert answer.json["queued"] == 1 and answer.json["metadata"] == {"owner": "ana", "note": "λ sweep"}
    again = export(client, "copy")
    # Byte for byte, apart from the name: every timestamp, report, reason, rung and counter came back.
    assert json.dumps(again) == json.dumps(renamed(document, "copy"))


def test_an_imported_study_goes_on_where_the_original_was(client: FlaskClient) -> None:
    """The suggester's position travels: a grid study's next point is the same in the original and the copy."""
    space = {"params": [{"name": "x", "type": "int", "low": 0, "high": 9}]}
    create(client, NAME, space=space, suggester={"name": "grid"})
    for trial in ask(client, NAME, count=4):
        assert tell(client, trial["number"], float(trial["params"]["x"]), name=NAME).status_code == 200
    assert import_(client, export(client), name="copy").status_code == 201
    original, copied = ask(client, NAME, count=3), ask(client, "copy", count=3)
    assert [t["params"] for t in original] == [t["params"] for t in copied]
    assert [t["number"] for t in copied] == [4, 5, 6]


def test_several_objectives_and_constraints_round_trip(client: FlaskClient) -> None:
    create(client, NAME, objective=None, objectives=[{"name": "acc", "goal": "maximize"},
                                                      {"name": "ms", "goal": "minimize"}],
           constraints=[{"name": "mb", "op": "<=", "bound": 10}], reference_point=[0, 100])
    for index, trial in enumerate(ask(client, NAME, count=3)):
        values = {"acc": 0.7 + index / 10, "ms": 28.0 + 2 * index, "mb": 8.0 + 2 * index}
        assert tell(client, trial["number"], name=NAME, values=values).status_code == 200
    document = export(client)
    assert [t["feasible"] for t in document["trials"]] == [True, True, False]
    assert import_(client, document, name="copy").status_code == 201
    assert json.dumps(export(client, "copy")) == json.dumps(renamed(document, "copy"))
    front = client.get("/v1/studies/copy/pareto").json
    assert [t["number"] for t in front["trials"]] == [0, 1] and front["reference_point"] == [0, 100]


def test_the_same_document_twice_makes_one_study(client: FlaskClient) -> None:
    document = busy_study(client)
    first = import_(client, document, name="copy")
    second = import_(client, document, name="copy")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json["trial_counts"] == first.json["trial_counts"]
    names = [s["name"] for s in client.get("/v1/studies").json["studies"]]
    assert names.count("copy") == 1
    # With an Idempotency-Key, a retry replays the first answer itself.
    keyed = import_(client, renamed(document, "third"), **{"Idempotency-Key": "k1"})
    replay = import_(client, renamed(document, "third"), **{"Idempotency-Key": "k1"})
    assert keyed.status_code == replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"


def test_concurrent_imports_of_one_document_make_one_study(app: flask.Flask, client: FlaskClient) -> None:
    document = busy_study(client)
    statuses: list[int] = []

    def importing() -> None:
        statuses.append(import_(app.test_client(), document, name="copy").status_code)

    run_all([importing] * 4)
    assert sorted(statuses) == [200, 200, 200, 201]
    assert json.dumps(export(client, "copy")) == json.dumps(renamed(document, "copy"))


def test_another_teams_study_of_that_name_is_not_in_the_way(secured_app: flask.Flask, alpha: TeamKeys,
                                                            beta: TeamKeys) -> None:
    """Names are per team: beta imports alpha's export under the same name, and each sees only its own."""
    source = secured_app.test_client()
    source.environ_base["HTTP_AUTHORIZATION"] = bearer(alpha.member)["Authorization"]
    document = busy_study(source)
    other = secured_app.test_client()
    other.environ_base["HTTP_AUTHORIZATION"] = bearer(beta.member)["Authorization"]
    assert import_(other, document).status_code == 201
    assert export(other) == document and export(source) == document
    reader = secured_app.test_client()
    reader.environ_base["HTTP_AUTHORIZATION"] = bearer(beta.read)["Authorization"]
    assert_problem(import_(reader, renamed(document, "x")), 403)


def test_a_study_of_that_name_with_other_content_is_a_conflict(client: FlaskClient) -> None:
    document = busy_study(client)
    changed = copy.deepcopy(document)
    changed["trials"][1]["metadata"] = {"ckpt": "elsewhere"}
    body = assert_problem(import_(client, changed), 409)
    assert body["differing_fields"] == ["trials[1]"] and "another name" in body["detail"]
    reseeded = copy.deepcopy(document)
    reseeded["study"]["seed"] += 1
    assert assert_problem(import_(client, reseeded), 409)["differing_fields"] == ["study.seed"]
    assert export(client) == document  # untouched


def _broken(document: Json, path: str, value: Any) -> Json:
    """The document with the value at a dotted path (list indexes as numbers) replaced."""
    broken = copy.deepcopy(document)
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    target: Any = broken
    for part in parents:
        target = target[part]
    target[last] = value
    return broken


@pytest.mark.parametrize(("path", "value", "field"), [
    ("format", "optuna", "format"),
    ("version", 2, "version"),
    ("version", True, "version"),
    ("study.seed", "7", "study.seed"),
    ("study.space", {"params": []}, "study.space.params"),
    ("study.created_at", "2026-01-01T00:00:00", "study.created_at"),
    ("study.suggester", {"name": "nope"}, "study.suggester.name"),
    ("study.heartbeat_timeout", 0, "study.heartbeat_timeout"),
    ("trials.0.number", 3, "trials[0].number"),
    ("trials.1.state", "done", "trials[1].state"),
    ("trials.1.params", {"lr": 5.0, "batch_size": 32, "optimizer": "adam"}, "trials[1].params.lr"),
    ("trials.0.value", "0.5", "trials[0].value"),
    ("trials.0.value", True, "trials[0].value"),
    ("trials.0.values", {"loss": 1.0}, "trials[0].value"),  # value and values both
    ("trials.4.value", 0.3, "trials[4].state"),
    ("trials.0.intermediate.1.step", 0, "trials[0].intermediate[1].step"),
    ("trials.0.intermediate.0.value", None, "trials[0].intermediate[0].value"),
    ("trials.0.created_at", "yesterday", "trials[0].created_at"),
    ("trials.0.source", "magic", "trials[0].source"),
    ("trials.0.fail_reason", "x" * 65, "trials[0].fail_reason"),
    ("trials.0.surprise", 1, "trials[0].surprise"),
    ("queue.0.params", {"lr": 0.01}, "queue[0].params.batch_size"),
])
def test_a_bad_document_is_refused_naming_the_field_and_writes_nothing(client: FlaskClient, path: str, value: Any,
                                                                       field: str) -> None:
    document = busy_study(client)
    assert_problem(import_(client, _broken(document, path, value), name="copy"), 422, field)
    assert_problem(client.get("/v1/studies/copy"), 404)


@pytest.mark.parametrize("body", [[], "study", 7, {}])
def test_a_body_that_is_no_document_is_refused(client: FlaskClient, body: Any) -> None:
    assert_problem(import_(client, body), 422)


def test_a_refusal_names_at_most_fifty_fields(client: FlaskClient) -> None:
    document = {**busy_study(client), "trials": [1] * 300, "queue": [{"params": {}}] * 3}
    body = assert_problem(import_(client, document, name="copy"), 422)
    assert len(body["errors"]) == 51 and body["errors"]["trials[0]"] and body["errors"][""] == ["and 250 more"]


def test_non_finite_numbers_are_refused_before_anything_is_read(client: FlaskClient) -> None:
    document = json.dumps(busy_study(client)).replace('"value": 0.5', '"value": NaN', 1)
    response = client.post("/v1/studies:import?name=copy", data=document, content_type="application/json")
    assert_problem(response, 400)
    assert_problem(client.get("/v1/studies/copy"), 404)


def test_documents_are_bounded(database_url: str, client: FlaskClient) -> None:
    document = busy_study(client)
    app = create_app(Settings(database_url=database_url, limits=Limits(max_import_trials=3, max_reports=2,
                                                                       max_export_rows=20)))
    try:
        limited = app.test_client()
        body = assert_problem(limited.get(f"/v1/studies/{NAME}/export"), 409)
        assert body["type"].endswith("export-too-large") and body["limit"] == 20 and body["rows"] > 20
        assert "suggest-api export" in body["detail"]
        assert_problem(import_(limited, document, name="copy"), 422, "trials")
        few = {**document, "trials": document["trials"][:3]}
        assert_problem(import_(limited, few, name="copy"), 422, "trials[0].intermediate")
        assert_problem(limited.get("/v1/studies/copy"), 404)
    finally:
        app.extensions["suggest_api"].engine.dispose()


def test_a_running_trial_comes_back_running_with_a_lease_of_its_own(client: FlaskClient) -> None:
    document = busy_study(client)
    assert import_(client, document, name="copy").status_code == 201
    running = [t for t in client.get("/v1/studies/copy/trials?state=running").json["trials"]]
    assert [t["number"] for t in running] == [4] and running[0]["lease_expires_at"] is not None
    assert tell(client, 4, 0.25, name="copy").status_code == 200  # its trainer can still tell it


def test_imports_count_against_the_team_quotas(database_url: str, client: FlaskClient) -> None:
    document = busy_study(client)
    for quotas, which in (({"quota_max_studies": 1}, "max_studies"), ({"quota_max_running_trials": 0},
                                                                         "max_running_trials")):
        app = create_app(Settings(database_url=database_url, **quotas))  # type: ignore[arg-type]
        try:
            body = assert_problem(import_(app.test_client(), document, name="copy"), 403)
            assert body["quota"] == which
        finally:
            app.extensions["suggest_api"].engine.dispose()


def test_the_cli_exports_and_imports_across_databases(database_url: str, tmp_path: Path, app: flask.Flask,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`suggest-api export` from this database, `suggest-api import` into a fresh SQLite one, and back."""
    busy_study(app.test_client())
    out = tmp_path / "study.json"
    assert cli.main(["export", NAME, "--database-url", database_url, "--output", str(out)]) == 0
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert cli.main(["import", str(out), "--database-url", other]) == 0
    assert "imported" in capsys.readouterr().err
    assert cli.main(["import", str(out), "--database-url", other]) == 0
    assert "nothing was written" in capsys.readouterr().err
    assert cli.main(["export", NAME, "--database-url", other]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(out.read_text())
    out.write_text(out.read_text().replace('"version": 1', '"version": 9'))
    assert cli.main(["import", str(out), "--database-url", other, "--name", "x"]) == 1
    assert "version" in capsys.readouterr().err
    assert cli.main(["import", str(out), "--database-url", other, "--team", "nobody"]) == 1
    assert "no team named 'nobody'" in capsys.readouterr().err
