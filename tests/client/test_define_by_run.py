"""Define-by-run against real servers: `trial.suggest_*` defines a study's space (conditionals included) or is
checked against it, and every mismatch is a SpaceMismatch that names the param."""

from __future__ import annotations

from typing import Any

import pytest

from suggest_client import Client, DeferredStudy, SpaceMismatch, Study, Trial, TrialPruned
from suggest_client.define_by_run import MAX_DISCOVERY_TRIALS, define
from suggest_client.errors import Conflict, NotFound
from suggest_client.space_inference import Observation, categorical_param, float_param, int_param

pytestmark = pytest.mark.slow


def quadratic(trial: Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    return (x - 2.0) ** 2


def conditional(trial: Trial) -> float:
    """Two branches, one with a nested categorical of its own: every kind of param and condition."""
    kind = trial.suggest_categorical("kind", ["linear", "quadratic"])
    x = trial.suggest_float("x", -5, 5, step=0.5)
    if kind == "quadratic":
        scale = trial.suggest_int("scale", 1, 9, step=2)
        shape = trial.suggest_categorical("shape", ["wide", "narrow"])
        if shape == "wide":
            return scale * x ** 2 * trial.suggest_float("width", 0.5, 2.0)
        return scale * x ** 2
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    return abs(x) * lr + trial.suggest_int("depth", 1, 64, log=True)


def conditional_value(params: dict[str, Any]) -> float:
    """What `conditional` returns for these params (to check the service was told the right value)."""
    if params["kind"] == "quadratic":
        return float(params["scale"] * params["x"] ** 2 * params.get("width", 1.0))
    return float(abs(params["x"]) * params["lr"] + params["depth"])


CONDITIONAL_SPACE = {
    "kind": {"name": "kind", "type": "categorical", "choices": ["linear", "quadratic"]},
    "x": {"name": "x", "type": "float", "low": -5.0, "high": 5.0, "step": 0.5},
    "scale": {"name": "scale", "type": "int", "low": 1, "high": 9, "step": 2, "when": {"kind": ["quadratic"]}},
    "shape": {"name": "shape", "type": "categorical", "choices": ["wide", "narrow"], "when": {"kind": ["quadratic"]}},
    "width": {"name": "width", "type": "float", "low": 0.5, "high": 2.0, "when": {"shape": ["wide"]}},
    "lr": {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True, "when": {"kind": ["linear"]}},
    "depth": {"name": "depth", "type": "int", "low": 1, "high": 64, "log": True, "when": {"kind": ["linear"]}},
}


def discovery(trials: list[Trial]) -> list[Trial]:
    return [t for t in trials if t.metadata.get("define_by_run") == "discovery"]


def test_a_quadratic_defines_its_space_and_then_asks_the_service(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, objective="minimize", suggester="bayesian", seed=3)
    assert isinstance(study, DeferredStudy) and not study.defined
    assert study.trials() == [] and study.best() is None
    with pytest.raises(NotFound):
        api.study(study_name)  # nothing is created before the first trial ran
    finished = study.optimize(quadratic, n_trials=12)
    assert study.defined and study.space == {"params": [{"name": "x", "type": "float", "low": -10.0, "high": 10.0}]}
    stored = study.trials()
    assert [t.number for t in finished] == [t.number for t in stored] == list(range(12))
    assert all(t.state == "completed" and t.value == pytest.approx((t.params["x"] - 2) ** 2) for t in stored)
    assert [t.number for t in discovery(stored)] == [0]  # no categorical: one trial shows the whole space
    best = study.best()
    assert best is not None and best.value == min(t.value for t in stored if t.value is not None)
    assert api.study(study_name).space == study.space
    more = study.optimize(quadratic, n_trials=2)  # defined now: no discovery again
    assert [t.number for t in more] == [12, 13] and not discovery(more)


def test_a_conditional_space_gets_when_from_the_branches_taken(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, seed=11)
    study.optimize(conditional, n_trials=MAX_DISCOVERY_TRIALS + 6)
    assert {p["name"]: p for p in api.study(study_name).space["params"]} == CONDITIONAL_SPACE
    stored = study.trials()
    assert len(stored) == MAX_DISCOVERY_TRIALS + 6 and all(t.state == "completed" for t in stored)
    first = discovery(stored)
    assert 2 <= len(first) < MAX_DISCOVERY_TRIALS  # stopped once every choice was taken and the space was clear
    assert {(t.params["kind"], t.params.get("shape")) for t in first} >= {("linear", None), ("quadratic", "wide"),
                                                                        ("quadratic", "narrow")}
    for trial in stored:
        assert trial.value == pytest.approx(conditional_value(trial.params))
        assert ("width" in trial.params) == (trial.params.get("shape") == "wide")


def test_calls_are_checked_against_an_existing_study(api: Client, study_name: str) -> None:
    space = [categorical_param("kind", ["a", "b"]), float_param("x", 0, 1),
             {**int_param("y", 1, 5), "when": {"kind": ["a"]}}]
    api.create_study(study_name, space, seed=5)
    study = api.create_study(study_name)  # no space: the existing study, its calls checked
    assert type(study) is Study and study.space["params"][2]["when"] == {"kind": ["a"]}
    study.enqueue([{"kind": "a", "x": 0.25, "y": 3}, {"kind": "b", "x": 0.75}])
    with study.trial() as trial:
        assert trial.suggest_categorical("kind", ["b", "a"]) == "a"  # choices in any order
        assert trial.suggest_float("x", 0.0, 1.0) == 0.25
        assert trial.suggest_int("y", 1, 5) == 3
        with pytest.raises(SpaceMismatch, match=r"'x' as suggest_float\('x', 0.0, 1.0\): high is 2.0, the study's is "
                                                r"1.0; call it as the study defines it"):
            trial.suggest_float("x", 0, 2)
        with pytest.raises(SpaceMismatch, match="'x'.*it is a float param, not int"):
            trial.suggest_int("x", 0, 1)
        with pytest.raises(SpaceMismatch, match="choices \\['c'\\] are not in the study's"):
            trial.suggest_categorical("kind", ["a", "b", "c"])
        with pytest.raises(SpaceMismatch, match="param 'z' .* is not in the search space of study .* whose params "
                                                "are 'kind', 'x', 'y'"):
            trial.suggest_float("z", 0, 1)
        trial.value = 1.0
    with study.trial() as trial:
        assert trial.suggest_categorical("kind", ["a", "b"]) == "b"
        with pytest.raises(SpaceMismatch, match="param 'y' is inactive in trial 1 .* only when 'kind' is one of "
                                                r"\['a'\], and here 'kind' is 'b'"):
            trial.suggest_int("y", 1, 5)
        trial.value = 2.0
    assert [t.state for t in study.trials()] == ["completed", "completed"]


def test_a_mismatch_in_optimize_fails_the_trial_and_names_the_param(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, [float_param("x", 0, 1)])

    def wider(trial: Trial) -> float:
        return trial.suggest_float("x", 0, 10)

    with pytest.raises(SpaceMismatch, match="'x'"):  # even with the default catch: every trial would fail so
        study.optimize(wider, n_trials=3)
    [failed] = study.trials()
    assert failed.state == "failed" and failed.metadata["error"].startswith("SpaceMismatch: trial 0 calls")


def test_create_study_without_a_space_still_checks_the_rest_of_the_definition(api: Client, study_name: str) -> None:
    api.create_study(study_name, [float_param("x", 0, 1)], objective="minimize")
    with pytest.raises(Conflict, match="objective"):
        api.create_study(study_name, objective="maximize")


def test_discovery_stops_at_calls_that_contradict_each_other(api: Client, study_name: str) -> None:
    def moving(trial: Trial) -> float:
        trial.suggest_categorical("c", [1, 2, 3])  # three choices to see: discovery goes on past trial 0
        return trial.suggest_float("x", 0, 1 + trial.number)

    with pytest.raises(SpaceMismatch, match=r"trial 1 calls suggest_float\('x', 0.0, 2.0\), but an earlier trial "
                                            r"asked suggest_float\('x', 0.0, 1.0\); ask 'x' the same way"):
        api.create_study(study_name).optimize(moving, n_trials=5)

    def broken(trial: Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise RuntimeError("no GPU")

    with pytest.raises(RuntimeError, match="none of the 4 first trials .* completed \\(RuntimeError: no GPU\\)"):
        api.create_study(study_name).optimize(broken, n_trials=4)
    with pytest.raises(ValueError, match=r"param 'lr' \(suggest_float\('lr', 0.0, 1.0, log=True\)\): a log scale "
                                         "needs low > 0"):
        api.create_study(study_name).optimize(lambda t: t.suggest_float("lr", 0, 1, log=True), n_trials=1, catch=())
    with pytest.raises(NotFound):
        api.study(study_name)  # none of them made a study


def test_a_branch_that_discovery_never_took_is_named_with_what_to_do(api: Client, study_name: str) -> None:
    def branches(trial: Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return trial.suggest_float(f"x_{kind}", 0, 1)

    study = api.create_study(study_name, seed=9)
    [first] = study.optimize(branches, n_trials=1)  # a budget of one trial: one branch seen
    taken = first.params["kind"]
    other = "b" if taken == "a" else "a"
    assert study.space == {"params": [categorical_param("kind", ["a", "b"]), float_param(f"x_{taken}", 0, 1)]}
    study.enqueue([{"kind": other, f"x_{taken}": 0.5}])
    with pytest.raises(SpaceMismatch, match=f"param 'x_{other}' .* is not in the search space .* a branch they "
                                            "never took is missing from it: delete the study"):
        study.optimize(branches, n_trials=1, catch=())


def test_failed_and_pruned_discovery_trials_are_imported_with_their_state(api: Client, study_name: str) -> None:
    def flaky(trial: Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        x = trial.suggest_float("x", 0, 1)
        trial.metadata["seen"] = kind
        assert trial.report(0, x) is False  # reports answer "go on" while the study is not defined
        if trial.number == 0:
            raise TrialPruned("stopped early")
        if trial.number == 1:
            raise ValueError("diverged")
        return x

    study = api.create_study(study_name, seed=2)
    finished = study.optimize(flaky, n_trials=6)
    stored = study.trials()
    assert [t.number for t in finished] == [t.number for t in stored]
    assert [t.state for t in stored[:2]] == ["pruned", "failed"]
    assert stored[1].metadata["error"] == "ValueError: diverged" and stored[1].metadata["define_by_run"] == "discovery"
    assert all(t.metadata["seen"] == t.params["kind"] for t in stored)
    assert {t.params["kind"] for t in discovery(stored) if t.state == "completed"} == {"a", "b", "c"}


def test_several_workers_run_a_define_by_run_study(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, seed=4)
    finished = study.optimize(conditional, n_trials=30, n_workers=3)
    stored = study.trials()
    assert sorted(t.number for t in finished) == [t.number for t in stored] == list(range(30))
    assert all(t.state == "completed" and t.value == pytest.approx(conditional_value(t.params)) for t in stored)
    other = api.create_study(study_name)  # a second program: uses the study, checks its calls
    assert len(other.optimize(conditional, n_trials=4, n_workers=2, processes=True)) == 4
    assert len(study.trials(state="completed")) == 34


def test_a_second_deferred_handle_adopts_the_study_the_first_defined(api: Client, study_name: str) -> None:
    first, second = api.create_study(study_name, seed=6), api.create_study(study_name, seed=6)
    assert isinstance(first, DeferredStudy) and isinstance(second, DeferredStudy)
    with pytest.raises(RuntimeError, match="run them with study.optimize"):
        second.ask()
    first.optimize(quadratic, n_trials=3)
    added = second.optimize(quadratic, n_trials=2)
    assert second.defined and not discovery(added) and len(second.trials()) == 5


def test_a_study_created_meanwhile_is_taken_when_the_trials_fit_it(api: Client, study_name: str) -> None:
    """The 409 path of concurrent creators: the other creator's space is used if our trials fit it."""
    theirs = {"params": [categorical_param("kind", ["a", "b"]), float_param("x", 0, 1),
                         {**int_param("y", 1, 3), "when": {"kind": ["a"]}}]}
    api.create_study(study_name, theirs, seed=1)
    seen = Observation("trial 0")
    for param, value in ((theirs["params"][0], "a"), (float_param("x", 0, 1), 0.5), (int_param("y", 1, 3), 2)):
        seen.add(param, value)
    ours = {"params": [categorical_param("kind", ["a", "b"]), float_param("x", 0, 1), int_param("y", 1, 3)]}

    def create(space: Any) -> Study:
        return api.create_study(study_name, space, seed=1)

    taken = define(create, lambda: api.study(study_name), ours, [seen], study_name)
    assert taken.space == theirs
    wrong = Observation("trial 0")
    wrong.add(float_param("x", 0, 2), 1.5)
    with pytest.raises(SpaceMismatch, match="'x'"):
        define(create, lambda: api.study(study_name), {"params": [float_param("x", 0, 2)]}, [wrong], study_name)


def test_several_objectives_without_a_space(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, objectives=[("loss", "minimize"), ("size", "minimize")], seed=8)
    assert study.metric_names == ["loss", "size"]

    def two(trial: Trial) -> dict[str, float]:
        x = trial.suggest_float("x", 0, 1)
        return {"loss": x, "size": 1 - x}

    study.optimize(two, n_trials=5)
    stored = study.trials()
    assert len(stored) == 5 and all(t.values == {"loss": t.params["x"], "size": 1 - t.params["x"]} for t in stored)
    assert len(study.pareto()) == 5
