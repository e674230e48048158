"""`suggest-train` end to end: the installed command against a real server, on each backend.

The command runs as users run it (the console script beside this interpreter, in its own process);
what it did is then read back from the service itself, not from the command's own output.
"""

from __future__ import annotations

import ast
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import torch

import suggest_client.torch
from suggest_client.torch import DEFAULT_SPACE_PATH
from tests.support.servers import HTTP_TIMEOUT_S, StartServer

SUGGEST_TRAIN = str(Path(sys.executable).with_name("suggest-train"))
RUN_TIMEOUT_S = 300.0  # 6 trials of 3 epochs take a few seconds; the rest is slack for a busy machine


def run_suggest_train(url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUGGEST_")}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run([SUGGEST_TRAIN, "--url", url, *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, check=False)


def study_trials(url: str, study: str) -> list[dict[str, Any]]:
    response = requests.get(f"{url}/v1/studies/{study}/trials", params={"limit": 1000}, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    trials: list[dict[str, Any]] = body["trials"]
    return trials


def space_problems(params: dict[str, Any], space: dict[str, Any], fixed: set[str]) -> list[str]:
    """What is wrong with `params` as a point of `space` (`fixed` params are not in it at all)."""
    problems = []
    active = set()
    for spec in space["params"]:  # parents come before their children in the default space
        name = spec["name"]
        if name in fixed or not all(params.get(parent) in choices for parent, choices in spec.get("when", {}).items()):
            continue
        active.add(name)
        if name not in params:
            problems.append(f"{name} is active but missing")
            continue
        value = params[name]
        if spec["type"] == "categorical":
            if value not in spec["choices"]:
                problems.append(f"{name}={value!r} is not one of {spec['choices']}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not spec["low"] <= value <= spec["high"]:
            problems.append(f"{name}={value!r} is outside [{spec['low']}, {spec['high']}]")
        elif spec["type"] == "int" and (not isinstance(value, int) or (value - spec["low"]) % spec.get("step", 1)):
            problems.append(f"{name}={value!r} is not an integer on step {spec.get('step', 1)} from {spec['low']}")
    problems += [f"{name} is present but inactive or not in the space" for name in set(params) - active]
    return problems


@pytest.mark.slow
def test_suggest_train_tunes_digits_on_two_workers(database_url: str, serve: StartServer, tmp_path: Path) -> None:
    server = serve(database_url, workers=2)
    summary_path = tmp_path / "summary.json"
    result = run_suggest_train(server.base_url, tmp_path, "--study", "digits-e2e", "--trials", "6", "--epochs", "3",
                               "--workers", "2", "--device", "cpu", "--no-progress",
                               "--json-summary", str(summary_path))
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    trials = study_trials(server.base_url, "digits-e2e")
    assert sorted(t["number"] for t in trials) == list(range(6))
    assert {t["state"] for t in trials} <= {"completed", "pruned"}, [(t["number"], t["state"], t["fail_reason"])
                                                                    for t in trials]
    completed = [t for t in trials if t["state"] == "completed"]
    assert max(t["value"] for t in completed) >= 0.9, [t["value"] for t in completed]

    space = json.loads(DEFAULT_SPACE_PATH.read_text())
    for trial in trials:
        assert space_problems(trial["params"], space, fixed={"epochs"}) == [], trial["params"]
    for trial in completed:
        test_accuracy = trial["metadata"]["test_accuracy"]
        assert isinstance(test_accuracy, float) and 0.0 <= test_accuracy <= 1.0
        assert trial["metadata"]["seed"] == trial["number"]  # --seed 0 + the trial's number
        assert [r["step"] for r in trial["intermediate"]] == [1, 2, 3]
        assert math.isclose(trial["intermediate"][-1]["value"], trial["value"])  # the objective is the last epoch

    summary = json.loads(summary_path.read_text())
    assert summary["counts"] == {"total": 6, "completed": len(completed), "pruned": 6 - len(completed),
                                 "failed": 0, "running": 0}
    best = sorted(completed, key=lambda t: (-t["value"], t["number"]))[:5]
    assert [(b["number"], b["value"], b["test_accuracy"]) for b in summary["best"]] == \
        [(t["number"], t["value"], t["metadata"]["test_accuracy"]) for t in best]
    assert f"study digits-e2e: 6 trials: {len(completed)} completed" in result.stdout

    study = requests.get(f"{server.base_url}/v1/studies/digits-e2e", timeout=HTTP_TIMEOUT_S).json()
    assert study["objective"] == {"name": "val_accuracy", "goal": "maximize"}
    assert study["suggester"]["name"] == "bayesian" and study["seed"] == 0
    assert study["pruner"]["name"] == "hyperband"  # --pruner's default, sized to --epochs
    assert summary["pruner"] == {"name": "hyperband",
                                 "options": {"min_resource": 1, "max_resource": 3, "reduction_factor": 3}}
    trained = sum(len(t["intermediate"]) for t in trials)
    assert summary["epochs"]["trained"] == trained and summary["epochs"]["planned"] == 6 * 3
    tuned = [p["name"] for p in space["params"] if p["name"] != "epochs"]  # --epochs took it out of the space
    assert [p["name"] for p in study["space"]["params"]] == tuned


@pytest.mark.slow
def test_asha_prunes_trials_says_why_and_counts_the_epochs_it_saved(serve: StartServer, tmp_path: Path) -> None:
    """One worker and a seeded random suggester: the same trials, reports and decisions on every run."""
    server = serve(f"sqlite:///{tmp_path / 'asha.db'}", workers=1)
    summary_path = tmp_path / "summary.json"
    result = run_suggest_train(server.base_url, tmp_path, "--study", "asha", "--trials", "8", "--epochs", "3",
                               "--suggester", "random", "--pruner", "asha", "--device", "cpu", "--no-progress",
                               "--json-summary", str(summary_path))
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "pruner successive_halving (min_resource=1 reduction_factor=3)" in result.stdout

    study = requests.get(f"{server.base_url}/v1/studies/asha", timeout=HTTP_TIMEOUT_S).json()
    assert study["pruner"]["name"] == "successive_halving"
    assert {"min_resource": 1, "reduction_factor": 3}.items() <= study["pruner"]["options"].items()
    trials = study_trials(server.base_url, "asha")
    states = [t["state"] for t in trials]
    assert len(trials) == 8 and set(states) <= {"completed", "pruned"}, states
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned and "completed" in states, states
    for trial in pruned:  # stopped at the report that said prune, and the trainer said why
        last = trial["intermediate"][-1]
        assert last["prune"] is True and isinstance(last["reason"], str) and last["reason"], trial["intermediate"]
        assert all(r["prune"] is False for r in trial["intermediate"][:-1]), trial["intermediate"]
        assert f"trial {trial['number']} pruned after epoch {last['step']} " in result.stdout
        assert last["reason"] in result.stdout
    for trial in trials:
        if trial["state"] == "completed":
            assert [r["step"] for r in trial["intermediate"]] == [1, 2, 3]

    trained = sum(len(t["intermediate"]) for t in trials)
    assert trained < 8 * 3
    saved = 8 * 3 - trained
    assert (f"epochs: {trained} of 24 trained (8 trials × 3 epochs), {saved} saved by pruning "
            f"({saved / 24:.0%})") in result.stdout
    summary = json.loads(summary_path.read_text())
    assert summary["epochs"] == {"trained": trained, "planned": 24, "saved_by_pruning": saved}
    assert summary["counts"]["pruned"] == len(pruned)


@pytest.mark.slow
def test_every_pruner_choice_creates_its_study_pruner(serve: StartServer, tmp_path: Path) -> None:
    """--trials 0: the study is created (so the service accepts each mapping) and nothing trains."""
    server = serve(f"sqlite:///{tmp_path / 'pruners.db'}", workers=1)
    for choice, name in [("median", "median"), ("hyperband", "hyperband"), ("none", None)]:
        result = run_suggest_train(server.base_url, tmp_path, "--study", f"pruner-{choice}", "--trials", "0",
                                   "--epochs", "4", "--pruner", choice, "--device", "cpu", "--no-progress")
        assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        assert "epochs: no trial finished" in result.stdout
        study = requests.get(f"{server.base_url}/v1/studies/pruner-{choice}", timeout=HTTP_TIMEOUT_S).json()
        assert (study["pruner"] or {}).get("name") == name, study["pruner"]
        if choice == "hyperband":  # the trainer knows its epochs, so the last rung is not left to "auto"
            assert study["pruner"]["options"]["max_resource"] == 4
    again = run_suggest_train(server.base_url, tmp_path, "--study", "pruner-none", "--trials", "0", "--epochs", "4",
                              "--pruner", "asha", "--device", "cpu", "--no-progress")
    assert again.returncode == 2 and "exists with another definition" in again.stderr, again.stderr  # another pruner


@pytest.mark.slow
def test_a_divergent_trial_fails_without_stopping_the_sweep(serve: StartServer, tmp_path: Path) -> None:
    """lr far too high for plain SGD: every trial diverges, is told failed, and the sweep goes on."""
    server = serve(f"sqlite:///{tmp_path / 'diverge.db'}", workers=1)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"params": [
        {"name": "lr", "type": "float", "low": 1e3, "high": 1e4, "log": True},
        {"name": "optimizer", "type": "categorical", "choices": ["sgd"]}]}))
    result = run_suggest_train(server.base_url, tmp_path, "--study", "diverge", "--trials", "2", "--epochs", "2",
                               "--space", str(space), "--suggester", "random", "--device", "cpu", "--no-progress")
    assert result.returncode == 1, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "every trial failed" in result.stderr
    assert "Diverged: the training loss became nan" in result.stderr
    trials = study_trials(server.base_url, "diverge")
    assert [t["state"] for t in trials] == ["failed", "failed"]
    assert all("diverged" in t["metadata"]["error"] for t in trials)


@pytest.mark.slow
def test_ctrl_c_fails_the_running_trials_prints_the_summary_and_exits_130(serve: StartServer,
                                                                         tmp_path: Path) -> None:
    server = serve(f"sqlite:///{tmp_path / 'interrupt.db'}", workers=2)
    summary_path = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUGGEST_")}
    # No pruner: every trial that ends before Ctrl-C completes, so any failed one was interrupted.
    args = [SUGGEST_TRAIN, "--url", server.base_url, "--study", "interrupt", "--trials", "50", "--epochs", "100",
            "--workers", "2", "--device", "cpu", "--no-progress", "--json-summary", str(summary_path),
            "--pruner", "none"]
    with subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while time.monotonic() < deadline and process.poll() is None:
                trials = study_trials(server.base_url, "interrupt") if _study_exists(server.base_url) else []
                if any(t["state"] == "running" and 1 <= len(t["intermediate"]) <= 5 for t in trials):
                    break  # a training well under way, with most of its 100 epochs to go
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    assert "interrupted; the running trials were told failed" in stderr
    assert "study interrupt:" in stdout  # the summary so far
    trials = study_trials(server.base_url, "interrupt")
    interrupted = [t for t in trials if t["state"] == "failed"]
    assert interrupted and all("interrupted" in t["metadata"]["error"] for t in interrupted)
    assert all(t["state"] in ("completed", "failed") for t in trials)
    summary = json.loads(summary_path.read_text())
    assert summary["interrupted"] is True and summary["counts"]["total"] == len(trials)


def _study_exists(url: str) -> bool:
    return requests.get(f"{url}/v1/studies/interrupt", timeout=HTTP_TIMEOUT_S).status_code == 200


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_suggest_train_trains_on_a_cuda_gpu(serve: StartServer, tmp_path: Path) -> None:
    server = serve(f"sqlite:///{tmp_path / 'gpu.db'}", workers=1)
    result = run_suggest_train(server.base_url, tmp_path, "--study", "digits-gpu", "--trials", "2", "--epochs", "3",
                               "--device", "cuda", "--no-progress", "--pruner", "none")
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "device cuda" in result.stdout
    trials = study_trials(server.base_url, "digits-gpu")
    assert [t["state"] for t in trials] == ["completed", "completed"]
    assert all(t["metadata"]["device"] == "cuda" for t in trials)


@pytest.mark.slow
def test_the_module_docstring_example_runs(serve: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The wrap-your-own-trainer example in suggest_client.torch's docstring, run as written."""
    server = serve(f"sqlite:///{tmp_path / 'example.db'}", workers=2)
    monkeypatch.setenv("SUGGEST_URL", server.base_url)
    code = docstring_example(suggest_client.torch.__doc__ or "")
    assert "study.optimize(objective, n_trials=20, n_workers=2)" in code
    lrs: dict[int, float] = {}

    def make_model(hidden_size: int) -> torch.nn.Linear:
        return torch.nn.Linear(2, hidden_size)

    def train_one_epoch(model: torch.nn.Linear, optimizer: torch.optim.Optimizer) -> None:
        lrs[id(model)] = optimizer.param_groups[0]["lr"]

    def evaluate(model: torch.nn.Linear) -> float:
        """Stands in for the user's evaluation: best at lr 0.01 and 64 hidden units."""
        return 1.0 - abs(math.log10(lrs[id(model)]) + 2) / 4 - abs(math.log2(model.out_features) - 6) / 16

    exec(compile(code, "suggest_client/torch/__init__.py", "exec"),
         {"make_model": make_model, "train_one_epoch": train_one_epoch, "evaluate": evaluate})
    best = ast.literal_eval(capsys.readouterr().out.strip())
    assert set(best) == {"lr", "hidden_size"}
    trials = study_trials(server.base_url, "my-model")
    assert len(trials) == 20 and {t["state"] for t in trials} == {"completed"}
    assert all([r["step"] for r in t["intermediate"]] == list(range(1, 11)) for t in trials)
    assert best == max(trials, key=lambda t: t["value"])["params"]


def docstring_example(doc: str) -> str:
    """The literal block after the first `::` of a docstring: its indented lines, dedented."""
    lines = doc.split("::\n", 1)[1].splitlines()
    block = []
    for line in lines:
        if line.strip() and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


def test_the_readme_shows_the_docstring_example_unchanged() -> None:
    """docs/trainer.md's bring-your-own-trainer block is the example the test above runs."""
    readme = (Path(__file__).resolve().parents[2] / "docs" / "trainer.md").read_text(encoding="utf-8")
    section = readme.split("**Bring your own trainer**", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert block.strip() == docstring_example(suggest_client.torch.__doc__ or "").strip()
