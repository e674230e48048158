"""The Python client against a real `suggest-api serve`, on SQLite and PostgreSQL: every method,
and the service's problems arriving as typed exceptions with the service's own message."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

import suggest_client.paging
from suggest_client import Client, PruneDecision, Study, Trial, TrialPruned, errors
from tests.support.servers import Server

pytestmark = pytest.mark.slow

SPACE: dict[str, Any] = {"params": [
    {"name": "x", "type": "float", "low": -5.0, "high": 5.0},
    {"name": "n", "type": "int", "low": 1, "high": 9},
    {"name": "kind", "type": "categorical", "choices": ["a", "b"]},
    {"name": "width", "type": "float", "low": 0.0, "high": 1.0, "when": {"kind": ["b"]}},
]}
GRID: list[dict[str, Any]] = [{"name": "c", "type": "categorical", "choices": ["p", "q", "r"]}]


def make(api: Client, name: str, **kwargs: Any) -> Study:
    return api.create_study(name, kwargs.pop("space", SPACE), kwargs.pop("objective", "minimize"), **kwargs)


def test_create_study_is_get_or_create_and_refuses_another_definition(api: Client, study_name: str) -> None:
    first = make(api, study_name, suggester="random", seed=7)
    again = make(api, study_name, suggester="random", seed=7)
    assert first.info == again.info
    assert (first.goal, first.info["seed"], first.info["suggester"]["name"]) == ("minimize", 7, "random")
    with pytest.raises(errors.Conflict) as conflict:
        make(api, study_name, objective="maximize", seed=7)
    assert conflict.value.status == 409
    assert conflict.value.body["differing_fields"] == ["objective.goal"]
    assert study_name in str(conflict.value)


def test_space_given_as_a_list_and_objective_with_a_name(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, GRID, {"name": "val_acc", "goal": "maximize"},
                             {"name": "grid", "options": {"shuffle": True}}, heartbeat_timeout=12.5,
                             metadata={"owner": "ünïcode ✓"})
    assert study.info["objective"] == {"name": "val_acc", "goal": "maximize"}
    assert study.info["suggester"]["options"]["shuffle"] is True
    assert study.heartbeat_timeout == 12.5
    assert study.info["metadata"] == {"owner": "ünïcode ✓"}


def test_study_lookup_listing_and_delete(api: Client, study_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"{study_name}-{i}" for i in range(3)]
    for name in names:
        make(api, name)
    assert api.study(names[1]).name == names[1]
    monkeypatch.setattr(suggest_client.paging, "PAGE_SIZE", 2)  # several pages, followed to the end
    listed = [s.name for s in api.studies()]
    assert [n for n in listed if n in names] == names
    api.delete_study(names[0])
    with pytest.raises(errors.NotFound, match="no study named"):
        api.study(names[0])
    with pytest.raises(errors.NotFound):
        api.delete_study(names[0])
    api.delete_study(names[0], missing_ok=True)


def test_ask_tell_best_and_trials(api: Client, study_name: str) -> None:
    study = make(api, study_name, seed=3)
    assert study.best() is None
    trials = study.ask(3, client_id="worker-α")
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state == "running" and t.client_id == "worker-α" and t.study is study for t in trials)
    for trial in trials:
        assert -5 <= trial.params["x"] <= 5 and ("width" in trial.params) == (trial.params["kind"] == "b")
    told = study.tell(trials[0], 2.5, metadata={"note": "first"})
    assert (told.state, told.value, told.metadata) == ("completed", 2.5, {"note": "first"})
    assert trials[0].state == "completed" and trials[0].finished_at is not None  # updated in place
    study.tell(1, 0.5)
    study.tell(trials[2], state="failed")
    best = study.best()
    assert best is not None and (best.number, best.value) == (1, 0.5)
    assert [t.state for t in study.trials()] == ["completed", "completed", "failed"]
    assert [t.number for t in study.trials("completed")] == [0, 1]
    assert study.trial_at(2).state == "failed"
    assert study.refresh()["trial_counts"] == {"running": 0, "completed": 2, "failed": 1, "pruned": 0, "total": 3}


def test_telling_the_same_result_twice_is_harmless_and_another_is_a_conflict(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    trial = study.ask()[0]
    study.tell(trial, 1.0)
    assert study.tell(trial, 1.0).value == 1.0
    with pytest.raises(errors.Conflict, match="already"):
        study.tell(trial, 2.0)


def test_non_finite_values_are_refused_before_sending(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    trial = study.ask()[0]
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="not finite"):
            study.tell(trial, bad)
        with pytest.raises(ValueError, match="not finite"):
            trial.report(0, bad)
    with pytest.raises(ValueError, match="state must be one of"):
        study.tell(trial, state="running")
    assert study.trial_at(trial.number).state == "running"


def test_report_and_heartbeat(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    trial = study.ask()[0]
    assert trial.report(0, 0.9) is False and trial.report(1, 0.7) is False
    assert trial.should_prune is False
    before = study.trial_at(trial.number).heartbeat_at
    time.sleep(0.01)
    trial.heartbeat()
    stored = study.trial_at(trial.number)
    # Without a pruner, prune and reason of each report are null.
    assert stored.intermediate == [{"step": 0, "value": 0.9, "prune": None, "reason": None},
                                   {"step": 1, "value": 0.7, "prune": None, "reason": None}]
    assert (stored.should_prune, stored.prune_reason, stored.pruned_step, stored.last_step) == (False, None, None, 1)
    assert study.report_decision(trial.number, 1, 0.7) == PruneDecision(prune=False, reason=None)
    assert before is not None and stored.heartbeat_at is not None and stored.heartbeat_at > before
    with pytest.raises(errors.Conflict, match="step 1"):
        trial.report(1, 0.1)
    study.tell(trial, 0.7)
    with pytest.raises(errors.Conflict):
        trial.heartbeat()


def test_create_study_takes_a_pruner_by_name_or_with_options(api: Client, study_name: str) -> None:
    by_name = make(api, study_name, pruner="median")
    assert by_name.info["pruner"]["name"] == "median"
    again = make(api, study_name, pruner={"name": "median", "options": {}})  # the same definition
    assert again.info == by_name.info
    with pytest.raises(errors.Conflict) as conflict:
        make(api, study_name, pruner={"name": "median", "options": {"min_trials": 2}})
    assert any(field.startswith("pruner") for field in conflict.value.body["differing_fields"]), conflict.value.body
    with pytest.raises(errors.Conflict):
        make(api, study_name)  # no pruner is another definition too

    options = {"min_resource": 1, "reduction_factor": 3}
    halving = make(api, f"{study_name}-sh", pruner={"name": "successive_halving", "options": options})
    assert halving.info["pruner"]["name"] == "successive_halving"
    assert options.items() <= halving.info["pruner"]["options"].items()  # the service fills in the rest
    assert make(api, f"{study_name}-none").info["pruner"] is None
    with pytest.raises(errors.ValidationError, match="no-such-pruner"):
        make(api, f"{study_name}-bad", pruner="no-such-pruner")


def test_report_answers_prune_with_the_pruners_reason(api: Client, study_name: str) -> None:
    study = make(api, study_name, pruner={"name": "threshold", "options": {"upper": 1.0}})  # minimize: above stops
    trial = study.ask()[0]
    assert trial.report(1, 0.5) is False
    assert (trial.should_prune, trial.prune_reason) == (False, None)

    assert trial.report(2, 3.0) is True  # the bool, as before; the reason is kept beside it
    reason = trial.prune_reason
    assert isinstance(reason, str) and reason, reason
    assert trial.should_prune is True
    assert study.report_decision(trial.number, 2, 3.0) == PruneDecision(prune=True, reason=reason)  # a retry
    assert trial.report_decision(3, 0.1) == PruneDecision(prune=True, reason=reason)  # once pruned, always
    assert study.report(trial.number, 4, 0.1) is True

    stored = study.trial_at(trial.number)  # the service's view keeps each report's decision
    assert [(r["step"], r["prune"]) for r in stored.intermediate] == [(1, False), (2, True), (3, True), (4, True)]
    assert stored.intermediate[1]["reason"] == reason
    assert (stored.should_prune, stored.prune_reason, stored.pruned_step, stored.last_step) == (True, reason, 2, 4)
    told = study.tell(trial, state="pruned")
    assert told.state == "pruned" and trial.state == "pruned" and trial.prune_reason == reason
    assert [t.prune_reason for t in study.trials("pruned")] == [reason]
    with pytest.raises(errors.Conflict):
        trial.report(5, 0.1)  # a finished trial takes no more reports


def test_an_objective_stopped_by_the_pruner_is_told_pruned_with_the_reason(api: Client, study_name: str) -> None:
    study = make(api, study_name, pruner={"name": "threshold", "options": {"upper": 1.0}})
    messages: list[str] = []

    def objective(trial: Trial) -> float:
        for step, value in enumerate([0.5, 0.4, 2.0 if trial.number == 1 else 0.3]):
            if trial.report(step, value):
                messages.append(str(trial.prune_reason))
                raise TrialPruned(trial.prune_reason)
        return value

    finished = study.optimize(objective, n_trials=3)
    assert [(t.number, t.state) for t in finished] == [(0, "completed"), (1, "pruned"), (2, "completed")]
    pruned = study.trial_at(1)
    assert messages == [pruned.prune_reason] and pruned.pruned_step == 2


def test_enqueue_and_import(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    assert study.enqueue([{"x": 1.0, "n": 2, "kind": "a"}]) == 1
    imported = study.add_trials([{"params": {"x": 0.0, "n": 5, "kind": "b", "width": 0.5}, "value": -1.0}])
    assert [(t.number, t.state, t.value) for t in imported] == [(0, "completed", -1.0)]
    asked = study.ask()[0]
    assert asked.params == {"x": 1.0, "n": 2, "kind": "a"}
    with pytest.raises(errors.ValidationError) as invalid:
        study.enqueue([{"x": 99.0, "n": 2, "kind": "a"}])
    assert invalid.value.status == 422 and invalid.value.errors


def test_typed_errors_carry_the_services_problem(api: Client, study_name: str) -> None:
    with pytest.raises(errors.NotFound) as missing:
        api.study(study_name)
    assert missing.value.type == "urn:suggest-api:problem:not-found"
    assert missing.value.detail == f"no study named {study_name!r}; create it with POST /v1/studies"
    with pytest.raises(errors.ValidationError) as invalid:
        api.create_study(study_name, {"params": [{"name": "x", "type": "float", "low": 1, "high": 0}]})
    assert invalid.value.type == "urn:suggest-api:problem:invalid-space"
    assert invalid.value.errors and "low" in str(invalid.value)
    study = make(api, study_name)
    with pytest.raises(errors.ValidationError) as count:
        study.ask(0)
    assert count.value.errors == {"count": ["Must be greater than or equal to 1."]}
    with pytest.raises(errors.NotFound):
        study.tell(99, 1.0)
    with pytest.raises(ValueError, match="objective must be"):
        make(api, study_name, objective="smallest")


def test_a_used_up_grid_raises_grid_exhausted(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, GRID, suggester="grid")
    assert sorted(t.params["c"] for t in study.ask(5)) == ["p", "q", "r"]
    with pytest.raises(errors.GridExhausted) as exhausted:
        study.ask()
    assert isinstance(exhausted.value, errors.Conflict)
    assert exhausted.value.grid_size == 3


def test_idempotency_key_reuse_maps_to_its_own_class(server: Server, study_name: str) -> None:
    import requests

    with Client(server.base_url) as api:
        make(api, study_name)
    url = f"{server.base_url}/v1/studies/{study_name}/ask"
    headers = {"Idempotency-Key": "same-key"}
    assert requests.post(url, json={"count": 1}, headers=headers, timeout=30).status_code == 201
    again = requests.post(url, json={"count": 2}, headers=headers, timeout=30)
    error = errors.from_problem(again.status_code, again.json())
    assert isinstance(error, errors.IdempotencyKeyReused) and isinstance(error, errors.ValidationError)


def test_trial_context_tells_completed_with_value_and_metadata(api: Client, study_name: str) -> None:
    study = make(api, study_name, heartbeat_timeout=0.6)
    with study.trial(client_id="ctx") as trial:
        time.sleep(1.5)  # well past the heartbeat timeout: only the background heartbeats keep it alive
        trial.metadata["test_acc"] = 0.93
        trial.value = trial.params["x"] ** 2
    stored = study.trial_at(trial.number)
    assert (stored.state, stored.fail_reason) == ("completed", None)
    assert stored.value == pytest.approx(trial.params["x"] ** 2)
    assert stored.metadata == {"test_acc": 0.93} and stored.client_id == "ctx"
    assert stored.heartbeat_at is not None and stored.created_at is not None
    assert (stored.heartbeat_at - stored.created_at).total_seconds() > 0.5


def test_trial_context_fails_on_exception_and_reraises(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    with pytest.raises(RuntimeError, match="CUDA out of memory"), study.trial() as trial:
        raise RuntimeError("CUDA out of memory")
    stored = study.trial_at(trial.number)
    assert stored.state == "failed"
    assert stored.metadata["error"] == "RuntimeError: CUDA out of memory"


def test_trial_context_prunes_on_trial_pruned(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    with study.trial() as trial:
        trial.report(0, 5.0)
        raise TrialPruned()
    assert study.trial_at(trial.number).state == "pruned"


def test_trial_context_without_a_value_fails_the_trial_and_says_so(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    with pytest.raises(ValueError, match=r"set `trial.value`"), study.trial() as trial:
        pass
    assert study.trial_at(trial.number).state == "failed"


def test_trial_objects_round_trip(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    trial = study.ask()[0]
    assert isinstance(trial, Trial) and "number=0" in repr(trial) and "created_at" not in repr(trial)
    with pytest.raises(RuntimeError, match="not attached"):
        Trial(number=1, params={}).report(0, 1.0)


def test_names_with_spaces_unicode_and_url_characters(api: Client, study_name: str) -> None:
    name = f"résumé sweep ✓ ?#%&+ {study_name}"
    study = make(api, name)
    study.tell(study.ask()[0], 1.0)
    assert api.study(name).info["trial_counts"]["completed"] == 1
    assert study.best() is not None
    api.delete_study(name)
    with pytest.raises(errors.NotFound):
        api.study(name)


def test_a_url_that_is_not_http_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="url must start with http"):
        Client("127.0.0.1:8000")
