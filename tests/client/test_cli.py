"""The `suggest` command against a real server: list, show, best, export, delete."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from suggest_client import Client
from tests.support.servers import Server

pytestmark = pytest.mark.slow

SUGGEST = str(Path(sys.executable).with_name("suggest"))
SPACE = {"params": [{"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
                    {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
                    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.9, "when": {"opt": ["sgd"]}}]}


def suggest(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SUGGEST, "--url", server.base_url, *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def finished_study(api: Client, study_name: str) -> str:
    study = api.create_study(study_name, SPACE, seed=5)
    trials = study.ask(3)
    trials[0].metadata["test_acc"] = 0.9
    study.tell(trials[0], 0.4)
    study.tell(trials[1], 0.2)
    study.tell(trials[2], state="failed")
    return study_name


def test_studies_lists_counts_and_best(server: Server, finished_study: str) -> None:
    result = suggest(server, "studies")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "SUGGESTER", "GOAL", "TRIALS", "COMPLETED", "RUNNING", "BEST"]
    row = next(r for r in rows if r.startswith(finished_study))
    assert row.split() == [finished_study, "random", "minimize", "3", "2", "0", "0.2", "(#1)"]
    listed = json.loads(suggest(server, "studies", "--json").stdout)
    assert finished_study in [s["name"] for s in listed]


def test_show_and_best(server: Server, finished_study: str) -> None:
    shown = json.loads(suggest(server, "show", finished_study).stdout)
    assert shown["name"] == finished_study and shown["trial_counts"]["total"] == 3
    best = json.loads(suggest(server, "best", finished_study).stdout)
    assert (best["number"], best["value"], best["state"]) == (1, 0.2, "completed")


def test_trials_export_as_csv_and_json(server: Server, finished_study: str, tmp_path: Path, api: Client) -> None:
    out = tmp_path / "trials.csv"
    assert suggest(server, "trials", finished_study, "--output", str(out)).returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["number", "state", "value", "created_at", "finished_at", "fail_reason", "stopped_step",
                             "prune_reason", "client_id", "param.lr", "param.opt", "param.momentum",
                             "metadata.test_acc"]
    assert [(r["stopped_step"], r["prune_reason"]) for r in rows] == [("", "")] * 3  # nothing was pruned
    trials = api.study(finished_study).trials()
    for row, trial in zip(rows, trials, strict=True):
        assert (int(row["number"]), row["state"]) == (trial.number, trial.state)
        assert float(row["param.lr"]) == trial.params["lr"]  # exact: floats are written to round-trip
        assert row["param.momentum"] == ("" if trial.params["opt"] == "adam" else repr(trial.params["momentum"]))
    assert [r["metadata.test_acc"] for r in rows] == ["0.9", "", ""]
    completed = json.loads(suggest(server, "trials", finished_study, "--format", "json", "--state", "completed").stdout)
    assert [(t["number"], t["value"]) for t in completed] == [(0, 0.4), (1, 0.2)]
    assert completed[0]["params"] == trials[0].params and completed[0]["metadata"] == {"test_acc": 0.9}


@pytest.fixture
def pruned_study(api: Client, study_name: str) -> tuple[str, str]:
    """Trial 0 completed, trial 1 stopped by the pruner at step 2 (and its reason), trial 2 failed."""
    study = api.create_study(study_name, SPACE, seed=5, pruner={"name": "threshold", "options": {"upper": 1.0}})
    completed, pruned, failed = study.ask(3)
    for step, value in enumerate([0.9, 0.5, 0.4]):
        assert completed.report(step, value) is False
    study.tell(completed, 0.4)
    assert pruned.report(0, 0.8) is False and pruned.report(1, 0.6) is False
    assert pruned.report(2, 5.0) is True
    study.tell(pruned, state="pruned")
    study.tell(failed, state="failed")
    assert pruned.prune_reason
    return study_name, pruned.prune_reason


def test_trials_list_a_pruned_trial_with_where_it_stopped_and_why(server: Server, pruned_study: tuple[str, str],
                                                                  tmp_path: Path) -> None:
    name, reason = pruned_study
    table = suggest(server, "trials", name, "--format", "table")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["NUMBER", "STATE", "VALUE", "STEPS", "NOTE"]
    assert [line.split()[:4] for line in lines] == [["0", "completed", "0.4", "3"], ["1", "pruned", "-", "3"],
                                                   ["2", "failed", "-", "0"]]
    assert lines[1].endswith(f"stopped at step 2: {reason}")

    out = tmp_path / "trials.csv"
    assert suggest(server, "trials", name, "--output", str(out)).returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["state"], r["stopped_step"], r["prune_reason"]) for r in rows] == [
        ("completed", "", ""), ("pruned", "2", reason), ("failed", "", "")]

    listed = json.loads(suggest(server, "trials", name, "--format", "json", "--state", "pruned").stdout)
    assert [t["number"] for t in listed] == [1]
    assert [(r["step"], r["prune"]) for r in listed[0]["intermediate"]] == [(0, False), (1, False), (2, True)]
    assert listed[0]["intermediate"][2]["reason"] == reason


def test_errors_exit_non_zero_with_the_services_message(server: Server, study_name: str, api: Client) -> None:
    missing = suggest(server, "show", study_name)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (f"suggest: 404 Not found: no study named {study_name!r}; "
                                      "create it with POST /v1/studies")
    api.create_study(study_name, SPACE)
    no_best = suggest(server, "best", study_name)
    assert no_best.returncode == 1 and "no completed trial yet" in no_best.stderr
    refused = suggest(server, "delete", study_name)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert suggest(server, "delete", study_name, "--yes").returncode == 0
    assert suggest(server, "show", study_name).returncode == 1
