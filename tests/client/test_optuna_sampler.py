"""`ServiceSampler` against real servers: unchanged Optuna programs get the service's suggestions and tell it
their results (completed, pruned, failed, several objectives); the service study is defined from the first
Optuna trials when it does not exist."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import ExperimentalWarning

from suggest_client import Client, SpaceMismatch
from suggest_client.define_by_run import MAX_DISCOVERY_TRIALS
from suggest_client.optuna import TRIAL_ATTR, ServiceSampler, distribution, param_json
from suggest_client.space_inference import categorical_param, float_param
from suggest_client.study import Study
from tests.support.servers import Server

pytestmark = pytest.mark.slow
INDEPENDENT = "is sampled independently"


@pytest.fixture(autouse=True)
def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def quadratic(trial: optuna.Trial) -> float:
    """Optuna's first example, unchanged."""
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", -3, 3)
    return (x - 2) ** 2 + y ** 2


def classifier(trial: optuna.Trial) -> float:
    """Optuna's conditional example (a classifier and its own hyperparameters), with a stand-in for the score."""
    name = trial.suggest_categorical("classifier", ["SVC", "RandomForest"])
    if name == "SVC":
        c = trial.suggest_float("svc_c", 1e-10, 1e10, log=True)
        return math.log10(c) ** 2 / 100
    depth = trial.suggest_int("rf_max_depth", 2, 32, log=True)
    return 1 / depth + trial.suggest_float("rf_min_split", 0.1, 1.0, step=0.1)


def check_the_same(study: optuna.Study, service: Study) -> None:
    """Every Optuna trial is a service trial with the same params, state and value."""
    stored = {t.metadata["optuna_trial"]: t for t in service.trials()}
    assert sorted(stored) == [t.number for t in study.trials]
    states = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed"}
    for trial in study.trials:
        twin = stored[trial.number]
        assert (twin.params, twin.state) == (trial.params, states[trial.state.name])
        if trial.state.name == "COMPLETE" and len(study.directions) == 1:
            assert twin.value == trial.value


@pytest.mark.parametrize("dist", [
    FloatDistribution(-1, 1), FloatDistribution(1e-5, 1, log=True), FloatDistribution(0, 1, step=0.25),
    IntDistribution(0, 10), IntDistribution(1, 1024, log=True), IntDistribution(0, 96, step=16),
    CategoricalDistribution(["a", 1, 2.5, True, False]),
])
def test_each_distribution_maps_to_a_param_and_back(dist: BaseDistribution) -> None:
    assert distribution(param_json("p", dist)) == dist


def test_a_none_choice_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(ValueError, match="param 'act': choice None cannot be sent .* use a string such as 'none'"):
        param_json("act", CategoricalDistribution([None, "relu"]))


def test_an_unchanged_optuna_program_gets_the_service_suggestions(server: Server, api: Client,
                                                                  study_name: str) -> None:
    sampler = ServiceSampler(study=study_name, url=server.base_url, suggester="bayesian", seed=1)
    study = optuna.create_study(sampler=sampler, direction="minimize")
    study.optimize(quadratic, n_trials=12, n_jobs=2)
    service = api.study(study_name)
    assert service.space == {"params": [float_param("x", -10, 10), {"name": "y", "type": "int", "low": -3, "high": 3}]}
    assert service.info["suggester"]["name"] == "bayesian" and service.info["seed"] == 1
    check_the_same(study, service)
    asked = [t for t in study.trials if TRIAL_ATTR in t.system_attrs]  # the rest were the discovery trials
    assert len(asked) >= 12 - 2 and all(service.trial_at(t.system_attrs[TRIAL_ATTR]).metadata["optuna_trial"]
                                        == t.number for t in asked)
    best = service.best()
    assert best is not None and (study.best_value, study.best_params) == (best.value, best.params)


def test_the_conditional_example_defines_when_and_gets_every_param_from_the_service(
        server: Server, api: Client, study_name: str, caplog: pytest.LogCaptureFixture) -> None:
    study = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url, suggester="random", seed=2))
    with caplog.at_level(logging.WARNING, logger="suggest_client"):
        study.optimize(classifier, n_trials=MAX_DISCOVERY_TRIALS + 5)
    assert INDEPENDENT not in caplog.text  # every param came from the service, once it existed
    service = api.study(study_name)
    by_name = {p["name"]: p for p in service.space["params"]}
    assert by_name == {
        "classifier": categorical_param("classifier", ["SVC", "RandomForest"]),
        "svc_c": {**float_param("svc_c", 1e-10, 1e10, log=True), "when": {"classifier": ["SVC"]}},
        "rf_max_depth": {"name": "rf_max_depth", "type": "int", "low": 2, "high": 32, "log": True,
                         "when": {"classifier": ["RandomForest"]}},
        "rf_min_split": {**float_param("rf_min_split", 0.1, 1.0, step=0.1), "when": {"classifier": ["RandomForest"]}},
    }
    check_the_same(study, service)
    discovered = [t for t in service.trials() if t.metadata.get("define_by_run") == "discovery"]
    assert 2 <= len(discovered) < MAX_DISCOVERY_TRIALS
    assert {t.params["classifier"] for t in discovered} == {"SVC", "RandomForest"}


def test_a_param_whose_call_changes_later_is_a_mismatch_every_time(server: Server, api: Client,
                                                                  study_name: str) -> None:
    """Each call is checked, not only a param's first: bounds that change at trial 4 stop the loop there."""
    study = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url, suggester="random", seed=3))

    def widening(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", -10.0, 10.0 if trial.number < 4 else 20.0) ** 2

    with pytest.raises(SpaceMismatch, match="high is 20.0, the study's is 10.0"):
        study.optimize(widening, n_trials=8)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4 + ["FAIL"]
    assert api.study(study_name).space == {"params": [float_param("x", -10, 10)]}
    assert [t.state for t in api.study(study_name).trials()] == ["completed"] * 4 + ["failed"]


def test_pruned_and_failed_trials_are_told_so(server: Server, api: Client, study_name: str) -> None:
    def sometimes(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(3):
            trial.report(x + step, step)
        if trial.number % 3 == 1:
            raise optuna.TrialPruned()
        if trial.number % 3 == 2:
            raise ValueError("diverged")
        return x

    study = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url, suggester="random", seed=3))
    study.optimize(sometimes, n_trials=9, catch=(ValueError,))
    service = api.study(study_name)
    check_the_same(study, service)
    stored = {t.metadata["optuna_trial"]: t for t in service.trials()}
    assert [stored[n].state for n in range(9)] == ["completed", "pruned", "failed"] * 3
    asked = stored[4]  # asked from the service (trial 0 defined it): its reports were stored there too
    assert [(r["step"], r["value"]) for r in asked.intermediate] == [(s, asked.params["x"] + s) for s in range(3)]
    assert asked.value == asked.params["x"] + 2  # a pruned trial's value is its last report, as in Optuna


def test_several_objectives_are_named_from_metric_names(server: Server, api: Client, study_name: str) -> None:
    def two(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        return x, 1 - x

    named = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url, suggester="random"),
                                directions=["minimize", "maximize"])
    with pytest.warns(ExperimentalWarning, match="set_metric_names"):
        named.set_metric_names(["loss", "accuracy"])
    named.optimize(two, n_trials=4)
    service = api.study(study_name)
    assert service.objectives == [{"name": "loss", "goal": "minimize"}, {"name": "accuracy", "goal": "maximize"}]
    assert all(t.values == {"loss": t.params["x"], "accuracy": 1 - t.params["x"]} for t in service.trials())
    check_the_same(named, service)
    plain = optuna.create_study(sampler=ServiceSampler(study_name + "-2", server.base_url, suggester="random"),
                                directions=["minimize", "minimize"])
    plain.optimize(two, n_trials=2)
    assert [o["name"] for o in api.study(study_name + "-2").objectives] == ["objective_0", "objective_1"]
    wrong = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url), direction="minimize")
    with pytest.raises(ValueError, match="directions are \\['minimize'\\]; use matching directions"):
        wrong.optimize(two, n_trials=1)


def test_an_existing_service_study_is_checked_and_used(server: Server, api: Client, study_name: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    api.create_study(study_name, [float_param("x", -10, 10)], suggester="random", seed=4)

    def extra(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", -10, 10) + trial.suggest_float("noise", 0, 1)

    study = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url))
    with caplog.at_level(logging.WARNING, logger="suggest_client"):
        study.optimize(extra, n_trials=3)
    assert caplog.text.count(f"The parameter 'noise' in Optuna trial 0 {INDEPENDENT}") == 1
    assert "has no param 'noise'" in caplog.text
    assert [t.params for t in api.study(study_name).trials()] == [{"x": t.params["x"]} for t in study.trials]
    quiet = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url, warn_independent_sampling=False))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="suggest_client"):
        quiet.optimize(extra, n_trials=1)
    assert INDEPENDENT not in caplog.text

    def narrower(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", -1, 1)

    other = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url))
    with pytest.raises(SpaceMismatch, match="defines 'x' as suggest_float\\('x', -10.0, 10.0\\): low is -1.0"):
        other.optimize(narrower, n_trials=1)
    assert api.study(study_name).trials()[-1].state == "failed"


def test_a_trial_asked_in_one_process_is_told_from_another(server: Server, api: Client, study_name: str,
                                                           tmp_path: Path) -> None:
    """Ask-and-tell through an Optuna RDB storage: the service trial's number lives in the Optuna trial."""
    api.create_study(study_name, [float_param("x", 0, 1)], suggester="random")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    asking = optuna.create_study(storage=storage, study_name="o", sampler=ServiceSampler(study_name, server.base_url))
    trial = asking.ask()
    x = trial.suggest_float("x", 0, 1)
    telling = optuna.load_study(storage=storage, study_name="o", sampler=ServiceSampler(study_name, server.base_url))
    telling.tell(trial.number, x * 2)
    [told] = api.study(study_name).trials()
    assert (told.state, told.value, told.params) == ("completed", x * 2, {"x": x})


def test_values_fixed_by_enqueue_trial_are_imported_instead(server: Server, api: Client, study_name: str) -> None:
    api.create_study(study_name, [float_param("x", 0, 1)], suggester="random")
    study = optuna.create_study(sampler=ServiceSampler(study_name, server.base_url))
    study.enqueue_trial({"x": 0.125})
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    states = [(t.state, t.params, t.value) for t in api.study(study_name).trials()]
    assert states[0][0] == "failed" and states[1] == ("completed", {"x": 0.125}, 0.125)
