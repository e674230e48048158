"""Multi-objective studies and constraints through the Python client and the `suggest` command, against a
real `suggest-api serve` on SQLite and PostgreSQL: create, tell `values`, read the Pareto front."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import suggest_client.paging
from suggest_client import Client, MultiObjectiveStudy, ParetoFront, Study, Trial, errors
from suggest_client.client import ObjectiveSpec
from tests.support.servers import Server

pytestmark = pytest.mark.slow

SUGGEST = str(Path(sys.executable).with_name("suggest"))
SPACE: dict[str, Any] = {"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}
OBJECTIVES: list[ObjectiveSpec] = [("accuracy", "maximize"), {"name": "size", "goal": "minimize"}]
CONSTRAINTS = [("latency", "<=", 10.0)]
REFERENCE = [0.5, 200.0]
#: (accuracy, size, latency) told to trials 0-6; trial 5 fails. Trial 3 would dominate every other but
#: breaks the latency bound; 2 is dominated by 0; 6 equals 0 in both objectives, so both stay on the front.
TOLD: dict[int, tuple[float, float, float]] = {
    0: (0.9, 100.0, 5.0), 1: (0.8, 50.0, 5.0), 2: (0.85, 120.0, 5.0), 3: (0.95, 10.0, 20.0),
    4: (0.7, 20.0, 9.0), 6: (0.9, 100.0, 1.0),
}
FRONT = [0, 1, 4, 6]
#: The area the front dominates up to REFERENCE, with accuracy negated (smaller is better):
#: (0.9-0.5)·(200-100) + (0.8-0.5)·(100-50) + (0.7-0.5)·(50-20).
HYPERVOLUME = 40.0 + 15.0 + 6.0


def make(api: Client, name: str, **kwargs: Any) -> Study:
    return api.create_study(name, SPACE, objectives=OBJECTIVES, constraints=CONSTRAINTS, **kwargs)


def metrics(accuracy: float, size: float, latency: float) -> dict[str, float]:
    return {"accuracy": accuracy, "size": size, "latency": latency}


def told_study(api: Client, name: str) -> Study:
    """TOLD, trial by trial, in a study with REFERENCE as its reference point."""
    study = make(api, name, reference_point=REFERENCE, seed=1)
    for trial in study.ask(7):
        if trial.number == 5:
            study.tell(trial, state="failed")
        else:
            study.tell(trial, values=metrics(*TOLD[trial.number]))
    return study


def test_create_a_multi_objective_study_and_get_it_back(api: Client, study_name: str) -> None:
    study = make(api, study_name, reference_point=REFERENCE, seed=3)
    assert study.objectives == [{"name": "accuracy", "goal": "maximize"}, {"name": "size", "goal": "minimize"}]
    assert study.constraints == [{"name": "latency", "op": "<=", "bound": 10.0}]
    assert study.multi_objective and study.metric_names == ["accuracy", "size", "latency"]
    assert study.info["objective"] == {"name": "accuracy", "goal": "maximize"} and study.goal == "maximize"
    assert study.info["reference_point"] == REFERENCE and study.info["best_trial"] is None
    assert study.info["pareto"]["size"] == 0 and study.info["pareto"]["hypervolume"] is None
    again = api.create_study(study_name, SPACE, objectives=[("accuracy", "maximize"), ("size", "minimize")],
                             constraints=[{"name": "latency", "op": "<=", "bound": 10}], reference_point=REFERENCE,
                             seed=3)
    assert again.info == study.info  # tuples and dicts are the same definition
    with pytest.raises(errors.Conflict):
        make(api, study_name, reference_point=[0.4, 200.0], seed=3)
    with pytest.raises(ValueError, match="not both"):
        api.create_study(f"{study_name}-both", SPACE, "minimize", objectives=OBJECTIVES)
    with pytest.raises(errors.ValidationError) as refused:
        make(api, f"{study_name}-pruned", pruner="median")
    assert "pruner" in refused.value.errors, refused.value.errors
    with pytest.raises(ValueError, match="name, goal"):
        api.create_study(f"{study_name}-bad", SPACE, objectives=[("accuracy",)])  # type: ignore[list-item]


def test_values_are_told_and_the_front_is_read_over_every_page(api: Client, study_name: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    study = told_study(api, study_name)
    trials = study.trials()
    assert [(t.number, t.state) for t in trials] == [(n, "failed" if n == 5 else "completed") for n in range(7)]
    for trial in trials:
        assert trial.value is None
        if trial.number != 5:
            assert trial.values == metrics(*TOLD[trial.number])
            assert trial.feasible is (trial.number != 3)
    monkeypatch.setattr(suggest_client.paging, "PAGE_SIZE", 2)  # the front's 4 trials come in 2 pages
    front = study.pareto()
    assert isinstance(front, ParetoFront) and [t.number for t in front] == FRONT
    assert all(isinstance(t, Trial) and t.study is study and t.feasible is True for t in front)
    assert front.size == 4 and front.hypervolume == pytest.approx(HYPERVOLUME)
    assert front.reference_point == REFERENCE and front.reference_point_derived is False
    summary = study.refresh()["pareto"]
    assert summary["size"] == 4 and summary["hypervolume"] == pytest.approx(HYPERVOLUME)
    with pytest.raises(MultiObjectiveStudy) as no_best:
        study.best()
    assert isinstance(no_best.value, errors.Conflict) and no_best.value.status == 409
    assert no_best.value.type == "urn:suggest-api:problem:multi-objective"
    assert "/pareto" in no_best.value.detail


def test_the_reference_point_is_derived_from_the_front_when_none_was_given(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    empty = study.pareto()
    assert (list(empty), empty.size, empty.hypervolume) == ([], 0, None)
    first, second = study.ask(2)
    first.tell(values=metrics(0.9, 100.0, 1.0))
    second.tell(values=metrics(0.8, 50.0, 1.0))
    front = study.pareto()
    assert [t.number for t in front] == [0, 1] and front.reference_point_derived is True
    # The nadir (0.8, 100) moved away from the front by a tenth of each range (0.1, 50), in each objective's units.
    assert front.reference_point == pytest.approx([0.79, 105.0])
    assert front.hypervolume == pytest.approx((0.9 - 0.79) * (105 - 100) + (0.8 - 0.79) * (100 - 50))


def test_refused_results(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    trial = study.ask()[0]
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="not finite"):
            study.tell(trial, values=metrics(0.5, bad, 1.0))
    with pytest.raises(ValueError, match="not both"):
        study.tell(trial, 0.5, values=metrics(0.5, 1.0, 1.0))
    with pytest.raises(errors.ValidationError) as missing:
        study.tell(trial, values={"accuracy": 0.5, "size": 1.0})
    assert "values.latency" in missing.value.errors, missing.value.errors
    with pytest.raises(errors.ValidationError) as extra:
        study.tell(trial, values={**metrics(0.5, 1.0, 1.0), "bogus": 1.0})
    assert "values.bogus" in extra.value.errors, extra.value.errors
    with pytest.raises(errors.ValidationError):
        study.tell(trial, 0.5)  # one value for two objectives
    assert study.trial_at(trial.number).state == "running"
    assert study.tell(trial, state="failed").state == "failed"  # failing needs no values


def test_the_with_block_tells_values_and_fails_a_refused_result(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    with study.trial() as trial:
        trial.values = metrics(0.6, 30.0, 2.0)
    assert (trial.state, trial.values, trial.feasible) == ("completed", metrics(0.6, 30.0, 2.0), True)
    with pytest.raises(errors.ValidationError), study.trial() as refused:
        refused.values = {"accuracy": 0.6}
    stored = study.trial_at(refused.number)
    assert stored.state == "failed" and "refused" in stored.metadata["error"], stored.metadata
    asked = study.ask()[0]
    assert asked.tell(values=metrics(0.7, 40.0, 11.0)).feasible is False
    assert asked.values == metrics(0.7, 40.0, 11.0) and asked.state == "completed"


def test_optimize_tells_the_dict_an_objective_returns(api: Client, study_name: str) -> None:
    study = make(api, study_name, suggester="random", seed=5)

    def objective(trial: Trial) -> dict[str, float]:
        x = trial.params["x"]
        if trial.number == 4:
            return {"accuracy": math.nan, "size": 1.0, "latency": 1.0}
        if trial.number == 5:
            return {"accuracy": x}  # missing metrics: the service refuses, the trial fails, the loop goes on
        return {"accuracy": x, "size": 100.0 * x * x, "latency": 1.0}

    finished = study.optimize(objective, 7, n_workers=2)
    assert sorted(t.number for t in finished) == list(range(7))
    stored = {t.number: t for t in study.trials()}
    assert [stored[n].state for n in range(7)] == ["completed"] * 4 + ["failed"] * 2 + ["completed"]
    for number in (0, 1, 2, 3, 6):
        x = stored[number].params["x"]
        assert stored[number].values == pytest.approx({"accuracy": x, "size": 100.0 * x * x, "latency": 1.0})
    assert "nan" in stored[4].metadata["error"] and "refused" in stored[5].metadata["error"]
    assert len(study.pareto()) == 5  # more accurate is bigger here: every completed trial is on the front


def test_one_objective_with_constraints_and_values_for_a_plain_study(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, SPACE, {"name": "loss", "goal": "minimize"},
                             constraints=[("memory", "<=", 1.0)])
    assert not study.multi_objective and study.metric_names == ["loss", "memory"] and study.info["pareto"] is None
    over, within = study.ask(2)
    over.tell(values={"loss": 0.3, "memory": 2.0})
    within.tell(values={"loss": 0.5, "memory": 0.5})
    assert (over.value, over.values, over.feasible) == (0.3, {"loss": 0.3, "memory": 2.0}, False)
    assert (within.value, within.feasible) == (0.5, True)

    plain = api.create_study(f"{study_name}-plain", SPACE)
    name = plain.objectives[0]["name"]
    told = plain.tell(plain.ask()[0], values={name: 0.25})
    assert (told.state, told.value, told.values, told.feasible) == ("completed", 0.25, None, None)


def test_imported_trials_take_values(api: Client, study_name: str) -> None:
    study = make(api, study_name)
    imported = study.add_trials([{"params": {"x": 0.2}, "values": metrics(0.9, 10.0, 1.0)},
                                 {"params": {"x": 0.4}, "values": metrics(0.5, 50.0, 1.0)}])
    assert [(t.state, t.values, t.feasible) for t in imported] == [
        ("completed", metrics(0.9, 10.0, 1.0), True), ("completed", metrics(0.5, 50.0, 1.0), True)]
    assert [t.number for t in study.pareto()] == [imported[0].number]


# --- the `suggest` command ---------------------------------------------------------------------------------

def suggest(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SUGGEST, "--url", server.base_url, *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_suggest_pareto_lists_the_front_as_a_table_csv_and_json(server: Server, api: Client, study_name: str) -> None:
    study = told_study(api, study_name)
    table = suggest(server, "pareto", study_name)
    assert table.returncode == 0, table.stderr
    header, *rows, last = table.stdout.splitlines()
    assert header.split() == ["NUMBER", "accuracy", "(max)", "size", "(min)", "PARAMS"]
    assert [row.split()[:3] for row in rows] == [[str(n), f"{TOLD[n][0]:.6g}", f"{TOLD[n][1]:.6g}"] for n in FRONT]
    assert last == f"Pareto front: 4 trials, hypervolume {HYPERVOLUME:.6g} (reference point [0.5, 200])"

    listed = json.loads(suggest(server, "pareto", study_name, "--format", "json").stdout)
    assert [t["number"] for t in listed["trials"]] == FRONT
    assert listed["trials"][0]["values"] == metrics(*TOLD[0]) and listed["trials"][0]["feasible"] is True
    assert (listed["size"], listed["reference_point"], listed["reference_point_derived"]) == (4, REFERENCE, False)
    assert listed["hypervolume"] == pytest.approx(HYPERVOLUME)

    exported = suggest(server, "pareto", study_name, "--format", "csv")
    rows_csv = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [int(r["number"]) for r in rows_csv] == FRONT
    assert [float(r["value.size"]) for r in rows_csv] == [TOLD[n][1] for n in FRONT]
    front = {t.number: t for t in study.pareto()}
    assert [float(r["param.x"]) for r in rows_csv] == [front[n].params["x"] for n in FRONT]


def test_suggest_trials_and_studies_show_the_values(server: Server, api: Client, study_name: str,
                                                    tmp_path: Path) -> None:
    told_study(api, study_name)
    out = tmp_path / "trials.csv"
    assert suggest(server, "trials", study_name, "-o", str(out)).returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0])[9:] == ["feasible", "value.accuracy", "value.size", "value.latency", "param.x"]
    assert [r["feasible"] for r in rows if r["state"] == "completed"] == ["true"] * 3 + ["false"] + ["true"] * 2
    assert [r["value.latency"] for r in rows] == [repr(TOLD[n][2]) if n in TOLD else "" for n in range(7)]
    assert {r["value"] for r in rows} == {""}

    table = suggest(server, "trials", study_name, "--format", "table")
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["NUMBER", "STATE", "accuracy", "size", "latency", "FEASIBLE", "STEPS", "NOTE"]
    assert lines[3].split()[:6] == ["3", "completed", "0.95", "10", "20", "no"]
    assert lines[5].split()[:6] == ["5", "failed", "-", "-", "-", "-"]

    listed = suggest(server, "studies")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(study_name))
    assert row.split() == [study_name, "random", "maximize,minimize", "7", "6", "0", "front", "of", "4"]
    best = suggest(server, "best", study_name)
    assert best.returncode == 1 and "/pareto" in best.stderr, best.stderr
