"""`suggest-train --objectives`: accuracy against size and latency, as a multi-objective study.

The metrics are checked on their own first (no service); then the installed command runs a tiny
sweep against a real server on each backend, and what it told is read back from the service.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import requests
import torch

from suggest_client.torch import build_model, load_digits_splits, resolve_params, train
from suggest_client.torch import objectives as metrics
from tests.support.servers import HTTP_TIMEOUT_S, StartServer
from tests.trainer.test_suggest_train import run_suggest_train, study_trials

DIGITS_FEATURES, DIGITS_CLASSES = 64, 10


def expected_params(params: dict[str, Any]) -> int:
    """Weights and biases of the network `params` describe, counted by hand."""
    hidden: int = params["hidden_size"]
    layers: int = params["num_layers"]
    if layers == 0:
        return DIGITS_FEATURES * DIGITS_CLASSES + DIGITS_CLASSES
    return ((DIGITS_FEATURES + 1) * hidden + (layers - 1) * (hidden + 1) * hidden
            + (hidden + 1) * DIGITS_CLASSES)


def test_objectives_are_parsed_with_their_goals() -> None:
    assert metrics.parse_objectives("val_accuracy, n_params,latency_ms") == ["val_accuracy", "n_params", "latency_ms"]
    assert metrics.study_objectives(["n_params", "val_accuracy"]) == [
        {"name": "n_params", "goal": "minimize"}, {"name": "val_accuracy", "goal": "maximize"}]
    for text, problem in [("val_accuracy,flops", "unknown objective 'flops'"), ("n_params", "must include"),
                          ("val_accuracy,n_params,n_params", "named twice")]:
        with pytest.raises(ValueError, match=problem):
            metrics.parse_objectives(text)


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_count_params_counts_every_weight_and_bias(layers: int) -> None:
    params = resolve_params({"num_layers": layers, "hidden_size": 17, "dropout": 0.2})
    model = build_model(DIGITS_FEATURES, DIGITS_CLASSES, params, seed=0)
    assert metrics.count_params(model) == expected_params(params)


def test_latency_is_a_mean_over_timed_passes_of_a_fixed_batch() -> None:
    model = build_model(DIGITS_FEATURES, DIGITS_CLASSES, resolve_params({}), seed=0)
    calls: list[int] = []
    model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    latency = metrics.measure_latency_ms(model, torch.zeros(10, DIGITS_FEATURES), batch=32, warmup=2, repeats=5)
    assert calls == [32] * 7  # fewer rows than a batch are repeated to fill it; warm-up passes run too
    assert 0.0 < latency < 1000.0 and not model.training
    with pytest.raises(ValueError, match="no rows"):
        metrics.measure_latency_ms(model, torch.zeros(0, DIGITS_FEATURES))


def test_trial_metrics_measure_the_trained_network() -> None:
    data = load_digits_splits(0)
    result = train({"epochs": 1, "hidden_size": 8}, data, device="cpu", seed=0)
    x_val = torch.as_tensor(data.x_val)
    measured = metrics.trial_metrics(["val_accuracy", "n_params", "latency_ms", "train_seconds"], result, x_val)
    assert measured["val_accuracy"] == result.val_accuracy and measured["train_seconds"] == result.seconds
    assert measured["n_params"] == expected_params(result.params)
    assert measured["latency_ms"] > 0.0
    assert list(metrics.trial_metrics(["n_params", "val_accuracy"], result, x_val)) == ["n_params", "val_accuracy"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_latency_on_cuda_waits_for_the_kernels() -> None:
    """A network 100× wider is measurably slower only if the timing waits for the GPU's work."""
    x = torch.randn(4096, DIGITS_FEATURES, device="cuda")
    small = build_model(DIGITS_FEATURES, DIGITS_CLASSES, resolve_params({"hidden_size": 16}), seed=0, device="cuda")
    wide = build_model(DIGITS_FEATURES, DIGITS_CLASSES, resolve_params({"hidden_size": 4096, "num_layers": 6}),
                       seed=0, device="cuda")
    fast = metrics.measure_latency_ms(small, x, batch=4096)
    slow = metrics.measure_latency_ms(wide, x, batch=4096)
    assert 0.0 < fast < slow, (fast, slow)


@pytest.mark.slow
def test_suggest_train_with_three_objectives_tells_values_and_prints_the_front(database_url: str,
                                                                               serve: StartServer,
                                                                               tmp_path: Path) -> None:
    server = serve(database_url, workers=2)
    summary_path = tmp_path / "summary.json"
    result = run_suggest_train(server.base_url, tmp_path, "--study", "mo-e2e", "--trials", "4", "--epochs", "2",
                               "--objectives", "val_accuracy,n_params,latency_ms", "--device", "cpu",
                               "--no-progress", "--json-summary", str(summary_path))
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "pruner none, objectives val_accuracy (maximize), n_params (minimize), latency_ms (minimize)" \
        in result.stdout

    url = f"{server.base_url}/v1/studies/mo-e2e"
    study = requests.get(url, timeout=HTTP_TIMEOUT_S).json()
    assert study["objectives"] == [{"name": "val_accuracy", "goal": "maximize"},
                                   {"name": "n_params", "goal": "minimize"}, {"name": "latency_ms", "goal": "minimize"}]
    assert study["pruner"] is None and study["suggester"]["name"] == "bayesian"
    trials = study_trials(server.base_url, "mo-e2e")
    assert [t["state"] for t in trials] == ["completed"] * 4, [(t["state"], t["fail_reason"]) for t in trials]
    for trial in trials:
        values = trial["values"]
        assert set(values) == {"val_accuracy", "n_params", "latency_ms"} and trial["value"] is None
        assert math.isclose(values["val_accuracy"], trial["intermediate"][-1]["value"])  # the last epoch
        assert values["n_params"] == expected_params(resolve_params(trial["params"], {"epochs": 2}))
        assert values["latency_ms"] > 0.0

    front = requests.get(f"{url}/pareto", params={"limit": 1000}, timeout=HTTP_TIMEOUT_S).json()
    numbers = [t["number"] for t in front["trials"]]
    assert numbers and front["size"] == len(numbers)
    assert f"Pareto front: {len(numbers)} trial" in result.stdout
    table = result.stdout.split("Pareto front:", 1)[1].splitlines()[1:]
    assert table[0].split() == ["trial", "val_acc", "n_params", "latency_ms", "test_acc", "params"]
    assert [int(line.split()[0]) for line in table[1:1 + len(numbers)]] == numbers
    for line, trial in zip(table[1:1 + len(numbers)], front["trials"], strict=True):
        assert line.split()[2] == str(int(trial["values"]["n_params"]))

    summary = json.loads(summary_path.read_text())
    assert summary["objectives"] == study["objectives"] and summary["pruner"] is None
    assert [t["number"] for t in summary["pareto"]["trials"]] == numbers
    assert summary["pareto"]["size"] == front["size"] and summary["pareto"]["hypervolume"] == front["hypervolume"]
    assert summary["counts"]["completed"] == 4 and summary["epochs"]["trained"] == 8


@pytest.mark.slow
def test_a_pruner_is_refused_and_one_objective_trains_as_before(serve: StartServer, tmp_path: Path) -> None:
    server = serve(f"sqlite:///{tmp_path / 'mo.db'}", workers=1)
    refused = run_suggest_train(server.base_url, tmp_path, "--study", "mo-pruned", "--trials", "1", "--epochs", "1",
                                "--objectives", "val_accuracy,n_params", "--pruner", "asha", "--device", "cpu")
    assert refused.returncode == 2 and "--pruner asha cannot be used with several objectives" in refused.stderr
    assert requests.get(f"{server.base_url}/v1/studies/mo-pruned", timeout=HTTP_TIMEOUT_S).status_code == 404
    unknown = run_suggest_train(server.base_url, tmp_path, "--objectives", "n_params")
    assert unknown.returncode == 2 and "must include val_accuracy" in unknown.stderr

    single = run_suggest_train(server.base_url, tmp_path, "--study", "mo-single", "--trials", "1", "--epochs", "1",
                               "--objectives", "val_accuracy", "--device", "cpu", "--no-progress")
    assert single.returncode == 0, f"stdout:\n{single.stdout}\nstderr:\n{single.stderr}"
    study = requests.get(f"{server.base_url}/v1/studies/mo-single", timeout=HTTP_TIMEOUT_S).json()
    assert study["objective"] == {"name": "val_accuracy", "goal": "maximize"} and len(study["objectives"]) == 1
    assert study["pruner"]["name"] == "hyperband" and study["pareto"] is None
    [trial] = study_trials(server.base_url, "mo-single")
    assert trial["state"] == "completed" and trial["values"] is None and trial["value"] is not None
    assert "Pareto front" not in single.stdout and f"{trial['number']:>5}  {trial['value']:7.4f}" in single.stdout
    assert len(trial["intermediate"]) == 1  # --epochs 1: one report
