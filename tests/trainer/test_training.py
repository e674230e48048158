"""The reference trainer's parts, without a service: data, space, model and training loop.

Every training here runs a few epochs on the digits (about 0.05 s each on one core), so the whole
file stays fast; the service round trip is tests/trainer/test_suggest_train.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from suggest_client import PruneDecision, Trial, TrialPruned
from suggest_client.torch import (
    DEFAULT_PARAMS,
    DEFAULT_SPACE_PATH,
    Cancelled,
    Diverged,
    SpaceError,
    Splits,
    TrainResult,
    load_data,
    load_digits_splits,
    load_space,
    pick_device,
    resolve_params,
    train,
    without_params,
)
from suggest_client.torch import cli as train_cli

FAST = {"lr": 0.01, "epochs": 3}  # Adam, two hidden layers of 64: ~0.95 validation accuracy


@pytest.fixture(scope="module")
def digits() -> Splits:
    return load_digits_splits(seed=0)


def metrics(result: TrainResult) -> tuple[Any, ...]:
    return result.val_accuracy, result.test_accuracy, tuple(result.history)


# --- training ---------------------------------------------------------------------------------

def test_digits_train_to_high_validation_accuracy_in_a_few_epochs(digits: Splits) -> None:
    result = train(FAST, digits, device="cpu", seed=0)
    assert result.val_accuracy >= 0.9
    assert result.test_accuracy >= 0.85
    assert [h.epoch for h in result.history] == [1, 2, 3]
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.params == {**DEFAULT_PARAMS, **FAST}  # every other param at its default
    assert result.device == "cpu" and result.model is not None


def test_same_params_and_seed_give_identical_metrics(digits: Splits) -> None:
    """Weights, batch order, dropout masks and L1 all follow the seed: bit-identical on the CPU."""
    params = {**FAST, "dropout": 0.3, "l1": 1e-4, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
              "lr_decay": "step", "step_size": 1, "gamma": 0.5}
    first, second = train(params, digits, seed=7), train(params, digits, seed=7)
    assert metrics(first) == metrics(second)
    assert metrics(train(params, digits, seed=8)) != metrics(first)


def test_trainings_in_parallel_threads_match_serial_ones(digits: Splits) -> None:
    """`--workers N` runs trials in threads: none may draw from a random state another one uses."""
    params = {**FAST, "dropout": 0.2}
    serial = [metrics(train(params, digits, seed=seed)) for seed in (1, 2)]
    parallel: dict[int, tuple[Any, ...]] = {}

    def run(seed: int) -> None:
        parallel[seed] = metrics(train(params, digits, seed=seed))

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [parallel[1], parallel[2]] == serial


def test_a_divergent_run_raises_diverged_with_a_clear_message(digits: Splits) -> None:
    with pytest.raises(Diverged, match=r"loss became nan in epoch 1 .*diverged.*lower lr"):
        train({"optimizer": "sgd", "lr": 1e3, "epochs": 3}, digits)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_every_optimizer_and_activation_trains(digits: Splits, optimizer: str, activation: str) -> None:
    lr = 0.1 if optimizer == "sgd" else 0.01
    result = train({"optimizer": optimizer, "activation": activation, "lr": lr, "epochs": 2, "num_layers": 1},
                   digits)
    assert result.history[-1].train_loss < result.history[0].train_loss


@pytest.mark.parametrize(("decay", "expected"), [
    ({"lr_decay": "none"}, [0.1, 0.1, 0.1, 0.1]),
    ({"lr_decay": "step", "step_size": 2, "gamma": 0.5}, [0.1, 0.1, 0.05, 0.05]),
    ({"lr_decay": "exponential", "gamma": 0.5}, [0.1, 0.05, 0.025, 0.0125]),
])
def test_learning_rate_decay_steps_once_per_epoch(digits: Splits, decay: dict[str, Any],
                                                  expected: list[float]) -> None:
    result = train({"optimizer": "sgd", "lr": 0.1, "epochs": 4, **decay}, digits)
    assert [h.lr for h in result.history] == pytest.approx(expected)


def test_l1_penalty_and_weight_decay_shrink_the_weights(digits: Splits) -> None:
    def weight_sum(params: dict[str, Any]) -> float:
        model = train({**FAST, **params}, digits).model
        assert model is not None
        with torch.no_grad():
            return float(sum(m.weight.abs().sum() for m in model.modules() if isinstance(m, torch.nn.Linear)))

    plain = weight_sum({})
    assert weight_sum({"l1": 1e-3}) < 0.8 * plain
    assert weight_sum({"weight_decay": 0.5}) < 0.8 * plain


def test_layers_hidden_size_and_dropout_shape_the_network(digits: Splits) -> None:
    model = train({"epochs": 1, "num_layers": 3, "hidden_size": 20, "dropout": 0.25}, digits).model
    assert model is not None
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(64, 20), (20, 20), (20, 20), (20, 10)]
    assert sum(type(m).__name__ == "SeededDropout" for m in model.modules()) == 3


def test_report_is_called_each_epoch_and_true_prunes(digits: Splits) -> None:
    seen: list[tuple[int, float]] = []

    def report(epoch: int, value: float) -> bool:
        seen.append((epoch, value))
        return epoch == 2

    with pytest.raises(TrialPruned, match="after epoch 2"):
        train({**FAST, "epochs": 5}, digits, report=report)
    assert [epoch for epoch, _ in seen] == [1, 2]
    assert all(0.0 <= value <= 1.0 for _, value in seen)


def test_a_decision_that_says_prune_puts_its_reason_in_trial_pruned(digits: Splits) -> None:
    """`report=trial.report_decision`: the message says why the study stopped the run."""
    reason = "value 0.41 at step 2 is worse than the median 0.62 of 5 completed trials"

    def report(epoch: int, value: float) -> PruneDecision:
        return PruneDecision(prune=epoch == 2, reason=reason if epoch == 2 else None)

    with pytest.raises(TrialPruned, match=r"^pruned after epoch 2 \(validation accuracy 0\.\d{4}\): value 0\.41 at"):
        train({**FAST, "epochs": 5}, digits, report=report)
    with pytest.raises(TrialPruned, match=r"after epoch 1 \(validation accuracy 0\.\d{4}\)$"):  # no reason, none added
        train(FAST, digits, report=lambda epoch, value: PruneDecision(prune=True))
    assert len(train(FAST, digits, report=lambda epoch, value: PruneDecision(prune=False)).history) == 3


def test_a_set_cancel_event_stops_the_training(digits: Splits) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        train(FAST, digits, cancel=cancel)


# --- device -----------------------------------------------------------------------------------

def test_device_is_the_one_named_or_the_best_available() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device(None).type == expected
    with pytest.raises(ValueError, match="unknown device 'gpu7'"):
        pick_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")


# --- data -------------------------------------------------------------------------------------

def test_digits_are_split_60_20_20_stratified_and_standardized_on_train_only(digits: Splits) -> None:
    assert (len(digits.y_train), len(digits.y_val), len(digits.y_test)) == (1078, 359, 360)
    assert digits.n_features == 64 and digits.n_classes == 10 and digits.classes == tuple(range(10))
    assert np.allclose(digits.x_train.mean(axis=0), 0.0, atol=1e-5)
    assert not np.allclose(digits.x_val.mean(axis=0), 0.0, atol=1e-5)  # validation statistics never used
    for part in (digits.y_train, digits.y_val, digits.y_test):
        assert np.bincount(part, minlength=10).min() >= 0.09 * len(part)  # each class ~10% in every split
    again = load_digits_splits(seed=0)
    assert np.array_equal(again.x_val, digits.x_val) and np.array_equal(again.y_test, digits.y_test)
    assert not np.array_equal(load_digits_splits(seed=1).y_val, digits.y_val)


def write_csv(path: Path, rows: int, *, header: bool, label_first: bool = False) -> None:
    rng = np.random.default_rng(0)
    lines = ["label,a,b,c" if label_first else "a,b,c,label"] if header else []
    for i in range(rows):
        label = ["cat", "dog", "eel"][i % 3]
        features = ",".join(f"{v:.4f}" for v in rng.normal(size=3) + 4 * (i % 3))
        lines.append(f"{label},{features}" if label_first else f"{features},{label}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("header", [True, False])
def test_a_csv_with_the_label_last_loads_with_the_right_split_sizes(tmp_path: Path, header: bool) -> None:
    path = tmp_path / "data.csv"
    write_csv(path, 100, header=header)
    data = load_data(path, seed=3)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (60, 20, 20)
    assert data.n_features == 3 and data.classes == ("cat", "dog", "eel")
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert train({**FAST, "epochs": 5}, data).val_accuracy >= 0.8  # the classes are well apart


def test_a_csv_label_column_is_chosen_by_name(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    write_csv(path, 50, header=True, label_first=True)
    data = load_data(path, label_column="label")
    assert data.n_features == 3 and data.classes == ("cat", "dog", "eel")
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 50
    with pytest.raises(ValueError, match="no column named 'kind'"):
        load_data(path, label_column="kind")


def test_csv_errors_say_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    with pytest.raises(ValueError, match="line 3: every column but the label must be a number"):
        load_data(path)
    path.write_text("1,2,0\n1,2\n")
    with pytest.raises(ValueError, match="line 2: 2 columns, but the first row has 3"):
        load_data(path)


@pytest.mark.parametrize(("x_name", "y_name"), [("x", "y"), ("X", "y")])
def test_an_npz_loads_with_the_right_split_sizes(tmp_path: Path, x_name: str, y_name: str) -> None:
    path = tmp_path / "data.npz"
    rng = np.random.default_rng(1)
    y = np.arange(250) % 5
    arrays: dict[str, Any] = {x_name: rng.normal(size=(250, 2, 4)) + y[:, None, None], y_name: y}
    np.savez(path, **arrays)
    data = load_data(path)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (150, 50, 50)
    assert data.n_features == 8 and data.n_classes == 5  # 2×4 rows flattened


def test_an_npz_without_x_and_y_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, features=np.zeros((20, 2)), labels=np.zeros(20))
    with pytest.raises(ValueError, match=r"needs the features as x \(or X\) and the labels as y"):
        load_data(path)


# --- space ------------------------------------------------------------------------------------

def test_the_default_space_names_every_param_with_its_conditions() -> None:
    space = load_space()
    by_name = {p["name"]: p for p in space["params"]}
    assert set(by_name) == set(DEFAULT_PARAMS)
    assert by_name["momentum"]["when"] == {"optimizer": ["sgd"]}
    assert by_name["step_size"]["when"] == {"lr_decay": ["step"]}
    assert by_name["gamma"]["when"] == {"lr_decay": ["step", "exponential"]}
    assert by_name["optimizer"]["choices"] == ["sgd", "adam", "rmsprop"]
    assert by_name["activation"]["choices"] == ["relu", "tanh", "sigmoid"]
    assert by_name["lr_decay"]["choices"] == ["none", "step", "exponential"]
    assert space == json.loads(DEFAULT_SPACE_PATH.read_text())


def test_a_custom_space_missing_params_trains_them_at_their_defaults(tmp_path: Path, digits: Splits) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"params": [{"name": "lr", "type": "float", "low": 1e-3, "high": 0.1, "log": True}]}))
    space = load_space(path)
    assert [p["name"] for p in space["params"]] == ["lr"]
    params = resolve_params({"lr": 0.02}, {"epochs": 2})
    assert params == {**DEFAULT_PARAMS, "lr": 0.02, "epochs": 2}
    assert len(train({"lr": 0.02}, digits).history) == DEFAULT_PARAMS["epochs"]


def test_a_param_the_trainer_does_not_know_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps([{"name": "lr", "type": "float", "low": 1e-3, "high": 0.1},
                                {"name": "warmup", "type": "int", "low": 0, "high": 5}]))
    with pytest.raises(SpaceError, match="does not know the param 'warmup'; it tunes only lr, batch_size"):
        load_space(path)
    with pytest.raises(SpaceError, match=r"unknown params \['warmup'\]"):
        resolve_params({"warmup": 3})


def test_choices_and_values_the_trainer_cannot_train_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"params": [{"name": "optimizer", "type": "categorical",
                                            "choices": ["adam", "lamb"]}]}))
    with pytest.raises(SpaceError, match=r"'optimizer' must be a categorical whose choices are among sgd, adam, "
                                         r"rmsprop \(not \['lamb'\]\)"):
        load_space(path)
    with pytest.raises(SpaceError, match="batch_size must be an integer, not 1.5"):
        resolve_params({"batch_size": 1.5})
    with pytest.raises(SpaceError, match="lr must lie in"):
        resolve_params({"lr": 0.0})
    path.write_text("{not json")
    with pytest.raises(SpaceError, match="not valid JSON"):
        load_space(path)


def test_fixing_epochs_removes_it_from_the_space() -> None:
    space = without_params(load_space(), ["epochs"])
    assert "epochs" not in [p["name"] for p in space["params"]]
    assert len(space["params"]) == len(DEFAULT_PARAMS) - 1
    with pytest.raises(SpaceError, match="cannot fix optimizer: 'momentum' depends on it"):
        without_params(load_space(), ["optimizer"])


# --- command line (the parts before the service is called) ------------------------------------

def test_the_command_refuses_a_space_with_an_unknown_param(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"params": [{"name": "momentun", "type": "float", "low": 0, "high": 1}]}))
    assert train_cli.main(["--space", str(path), "--url", "http://127.0.0.1:9"]) == 2
    assert "does not know the param 'momentun'" in capsys.readouterr().err


def test_the_command_refuses_missing_data_and_zero_epochs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_cli.main(["--data", str(tmp_path / "nope.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--epochs", "0"])
    assert exit_info.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err


def test_the_summary_lists_the_best_completed_trials_first() -> None:
    trials = [Trial(number=n, params={"lr": lr, "optimizer": "adam"}, state=state, value=value,
                    metadata={"test_accuracy": value - 0.01} if value else {})
              for n, (state, value, lr) in enumerate([("completed", 0.91, 0.001), ("failed", None, 0.5),
                                                      ("completed", 0.97, 0.0123456), ("pruned", None, 0.2)])]
    table = train_cli.summary_table("demo", trials)
    lines = table.splitlines()
    assert lines[0] == "study demo: 4 trials: 2 completed, 1 pruned, 1 failed, 0 running"
    assert lines[2].split()[:4] == ["2", "0.9700", "0.9600", "lr=0.0123"]
    assert lines[3].split()[:3] == ["0", "0.9100", "0.9000"]
    assert len(lines) == 4


def test_the_summary_counts_the_epochs_trained_against_those_asked_for() -> None:
    def trial(number: int, state: str, reports: int, epochs: int = 3) -> Trial:
        reported = [{"step": s, "value": 0.5, "prune": None, "reason": None} for s in range(1, reports + 1)]
        return Trial(number=number, params={"epochs": epochs}, state=state, intermediate=reported)

    trials = [trial(0, "completed", 3), trial(1, "pruned", 1), trial(2, "pruned", 2), trial(3, "failed", 1),
              trial(4, "running", 1)]
    assert train_cli.epoch_counts(trials) == {"trained": 7, "planned": 12, "saved_by_pruning": 3}
    assert train_cli.epochs_line(trials) == "epochs: 7 of 12 trained (4 trials × 3 epochs), 3 saved by pruning (25%)"
    assert train_cli.epochs_line(trials, {"epochs": 4}) == \
        "epochs: 7 of 16 trained (4 trials × 4 epochs), 5 saved by pruning (31%)"  # --epochs fixes the budget
    mixed = [trial(0, "completed", 5, epochs=5), trial(1, "completed", 10, epochs=10)]
    assert train_cli.epochs_line(mixed) == "epochs: 15 of 15 trained (2 trials of 5 to 10 epochs)"
    assert train_cli.epochs_line([trial(0, "running", 1)]) == "epochs: no trial finished"


def test_each_pruner_choice_maps_to_a_study_pruner_sized_to_the_epochs() -> None:
    assert train_cli.DEFAULT_PRUNER == "hyperband"  # benchmarks/pruning.py: within 0.5 points on both datasets
    assert train_cli._parser().parse_args([]).pruner == train_cli.DEFAULT_PRUNER
    assert train_cli.pruner_spec("asha", 12) == {"name": "successive_halving",
                                                 "options": {"min_resource": 1, "reduction_factor": 3}}
    assert train_cli.pruner_spec("hyperband", 12) == {
        "name": "hyperband", "options": {"min_resource": 1, "max_resource": 12, "reduction_factor": 3}}
    assert train_cli.pruner_spec("median", 12) == {"name": "median", "options": {"min_trials": 5, "warmup_steps": 2}}
    assert train_cli.pruner_spec("none", 12) is None
    space = load_space()
    assert train_cli.max_epochs(space, {}) == 30  # the shipped space's highest epochs
    assert train_cli.max_epochs(space, {"epochs": 4}) == 4  # --epochs
    assert train_cli.max_epochs({"params": [{"name": "lr", "type": "float", "low": 0.01, "high": 0.1}]}, {}) == \
        DEFAULT_PARAMS["epochs"]
    assert train_cli.max_epochs({"params": [{"name": "epochs", "type": "categorical", "choices": [2, 8, 4]}]}, {}) == 8
