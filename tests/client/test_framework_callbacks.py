"""The Lightning and Keras pruning callbacks, with the real frameworks (CPU, tiny MLPs) against real servers.

A median pruner whose completed peers reported far lower (or far higher) losses at every epoch decides:
far lower stops the trial at the first step after the warmup, far higher never does.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before Keras is imported: never tensorflow

import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import keras  # type: ignore[import-untyped]  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from suggest_client import Client, Study, Trial, TrialPruned  # noqa: E402
from suggest_client import keras as suggest_keras  # noqa: E402
from suggest_client import lightning as suggest_lightning  # noqa: E402

pytestmark = [
    # The frameworks' own deprecations under torch 2.13 / numpy 2, not ours.
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
]

MAX_EPOCHS = 5
WARMUP = 2  # the median pruner never prunes steps 0 and 1, so a pruned trial runs exactly 3 epochs
SPACE = {"params": [{"name": "lr", "type": "float", "low": 0.01, "high": 0.1, "log": True}]}


def median_study(api: Client, name: str, peer_loss: float) -> Study:
    """A median-pruned study with two completed trials that reported `peer_loss` at every epoch."""
    study = api.create_study(name, SPACE, seed=3, pruner={"name": "median", "options": {
        "min_trials": 2, "warmup_steps": WARMUP}})
    for peer in study.ask(2):
        for step in range(MAX_EPOCHS):
            assert peer.report(step, peer_loss) is False
        study.tell(peer, peer_loss)
    return study


@pytest.fixture
def pruning_study(api: Client, study_name: str) -> Study:
    return median_study(api, study_name, 1e-6)  # every real loss is worse: pruned after the warmup


@pytest.fixture
def lenient_study(api: Client, study_name: str) -> Study:
    return median_study(api, study_name, 1e6)  # every real loss is better: never pruned


def reported_steps(study: Study, trial: Trial) -> list[int]:
    return [entry["step"] for entry in study.trial_at(trial.number).intermediate]


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


# --- Lightning ------------------------------------------------------------------------------------------


class Regressor(pl.LightningModule):
    """A 2-layer MLP that counts the epochs it started and logs `val_loss` (or `log_value(loss)`)."""

    def __init__(self, lr: float, log_value: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
        self.lr = lr
        self.log_value = log_value
        self.epochs_started = 0

    def on_train_epoch_start(self) -> None:
        self.epochs_started += 1

    def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch: list[torch.Tensor], index: int) -> None:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("val_loss", loss if self.log_value is None else self.log_value(loss))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loader() -> DataLoader[Any]:
    x, y = data()
    return DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=64)


def fit_lightning(trial: Trial, model: Regressor, **options: Any) -> tuple[suggest_lightning.PruningCallback,
                                                                          pl.Trainer]:
    torch.manual_seed(0)
    trainer_options = {key: options.pop(key) for key in ("val_check_interval", "max_epochs") if key in options}
    callback = suggest_lightning.PruningCallback(trial, **options)
    trainer = pl.Trainer(**{"max_epochs": MAX_EPOCHS, **trainer_options}, accelerator="cpu", devices=1,
                         callbacks=[callback], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, loader(), loader())
    return callback, trainer


def test_lightning_trial_the_pruner_stops_is_told_pruned_after_fewer_epochs(pruning_study: Study) -> None:
    model = Regressor(lr=0.05)
    with pruning_study.trial() as trial:
        with pytest.raises(TrialPruned) as raised:
            fit_lightning(trial, model, monitor="val_loss")
        raise raised.value  # as an objective would let it out of fit: the context tells the trial pruned
    assert model.epochs_started == WARMUP + 1 < MAX_EPOCHS
    stored = pruning_study.trial_at(trial.number)
    assert stored.state == "pruned"
    assert [e["step"] for e in stored.intermediate] == [0, 1, 2]  # one report per epoch run
    assert [e["prune"] for e in stored.intermediate] == [False, False, True]
    assert str(raised.value) == stored.prune_reason == trial.prune_reason
    assert "median" in str(raised.value)


def test_lightning_trial_not_pruned_completes_with_every_epoch_reported(lenient_study: Study) -> None:
    model = Regressor(lr=0.05)
    with lenient_study.trial() as trial:
        _, trainer = fit_lightning(trial, model)
        trial.value = float(trainer.callback_metrics["val_loss"])
    assert model.epochs_started == MAX_EPOCHS
    stored = lenient_study.trial_at(trial.number)
    assert (stored.state, stored.value) == ("completed", trial.value)
    assert [e["step"] for e in stored.intermediate] == list(range(MAX_EPOCHS))
    assert stored.intermediate[-1]["value"] == pytest.approx(trial.value)


def test_lightning_without_raising_stops_and_check_pruned_raises(pruning_study: Study) -> None:
    model = Regressor(lr=0.05)
    trial = pruning_study.ask()[0]
    callback, trainer = fit_lightning(trial, model, raise_on_prune=False)  # fit returns: should_stop ended it
    assert trainer.should_stop and model.epochs_started == WARMUP + 1
    assert callback.pruned and callback.reason == pruning_study.trial_at(trial.number).prune_reason
    with pytest.raises(TrialPruned, match="median"):
        callback.check_pruned()


def test_lightning_global_step_reports_every_validation_and_epoch_refuses_two_per_epoch(
        lenient_study: Study) -> None:
    trial = lenient_study.ask()[0]
    fit_lightning(trial, Regressor(lr=0.05), step="global_step", val_check_interval=0.5, max_epochs=2)
    assert reported_steps(lenient_study, trial) == [2, 4, 6, 8]  # 4 batches per epoch, validation every 2

    other = lenient_study.ask()[0]
    with pytest.raises(ValueError, match="step='global_step'"):
        fit_lightning(other, Regressor(lr=0.05), val_check_interval=0.5, max_epochs=2)
    assert reported_steps(lenient_study, other) == [0]
    with pytest.raises(ValueError, match="step must be one of epoch, global_step"):
        suggest_lightning.PruningCallback(other, step="batch")


def test_lightning_missing_or_non_finite_metric_fails_the_trial_naming_it(lenient_study: Study) -> None:
    with pytest.raises(ValueError, match="monitors 'val_acc', which was not logged at epoch 0; the logged "
                                         "metrics are 'val_loss'"):
        with lenient_study.trial() as trial:
            fit_lightning(trial, Regressor(lr=0.05), monitor="val_acc")
    stored = lenient_study.trial_at(trial.number)
    assert stored.state == "failed" and "val_acc" in stored.metadata["error"] and stored.intermediate == []

    with pytest.raises(ValueError, match="val_loss is nan at epoch 0: the run diverged"):
        with lenient_study.trial() as diverged:
            fit_lightning(diverged, Regressor(lr=0.05, log_value=lambda loss: loss * float("nan")))
    assert lenient_study.trial_at(diverged.number).state == "failed"
    assert lenient_study.trial_at(diverged.number).intermediate == []  # NaN was never sent


# --- Keras ----------------------------------------------------------------------------------------------


class EpochCounter(keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.started = 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.started += 1


def fit_keras(trial: Trial, counter: EpochCounter | None = None, **options: Any
              ) -> tuple[suggest_keras.PruningCallback, EpochCounter, Any]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=options.pop("loss", "mse"))
    x, y = data()
    validation = options.pop("validation", True)
    callback, counter = suggest_keras.PruningCallback(trial, **options), counter or EpochCounter()
    history = model.fit(x, y, validation_data=(x, y) if validation else None, epochs=MAX_EPOCHS, batch_size=64,
                        verbose=0, callbacks=[counter, callback])
    return callback, counter, history


def test_keras_runs_on_torch() -> None:
    assert keras.backend.backend() == "torch"


def test_keras_trial_the_pruner_stops_is_told_pruned_after_fewer_epochs(pruning_study: Study) -> None:
    counter = EpochCounter()
    with pruning_study.trial() as trial:
        with pytest.raises(TrialPruned) as raised:
            fit_keras(trial, counter)
        raise raised.value
    assert counter.started == WARMUP + 1 < MAX_EPOCHS
    stored = pruning_study.trial_at(trial.number)
    assert stored.state == "pruned"
    assert [e["step"] for e in stored.intermediate] == [0, 1, 2]
    assert [e["prune"] for e in stored.intermediate] == [False, False, True]
    assert str(raised.value) == stored.prune_reason == trial.prune_reason and "median" in str(raised.value)


def test_keras_trial_not_pruned_completes_with_every_epoch_reported(lenient_study: Study) -> None:
    with lenient_study.trial() as trial:
        _, counter, history = fit_keras(trial)
        trial.value = history.history["val_loss"][-1]
    assert counter.started == MAX_EPOCHS
    stored = lenient_study.trial_at(trial.number)
    assert stored.state == "completed"
    assert [e["value"] for e in stored.intermediate] == history.history["val_loss"]  # each epoch, in order
    assert [e["step"] for e in stored.intermediate] == list(range(MAX_EPOCHS))


def test_keras_without_raising_stops_after_the_epoch_and_check_pruned_raises(pruning_study: Study) -> None:
    trial = pruning_study.ask()[0]
    callback, counter, history = fit_keras(trial, raise_on_prune=False)
    assert counter.started == len(history.history["val_loss"]) == WARMUP + 1 < MAX_EPOCHS
    assert reported_steps(pruning_study, trial) == [0, 1, 2]
    with pytest.raises(TrialPruned, match="median"):
        callback.check_pruned()


def test_keras_missing_or_non_finite_metric_fails_the_trial_naming_it(lenient_study: Study) -> None:
    with pytest.raises(ValueError, match="monitors 'val_loss', which is not in the logs of epoch 0; the logged "
                                         "metrics are 'loss'"):
        with lenient_study.trial() as trial:
            fit_keras(trial, validation=False)
    assert lenient_study.trial_at(trial.number).state == "failed"

    def diverging(y: Any, predicted: Any) -> Any:
        return keras.ops.mean(keras.ops.square(y - predicted)) * float("inf")

    with pytest.raises(ValueError, match=r"val_loss is (nan|inf) at epoch 0: the run diverged"):
        with lenient_study.trial() as diverged:
            fit_keras(diverged, loss=diverging)
    stored = lenient_study.trial_at(diverged.number)
    assert stored.state == "failed" and stored.intermediate == []


# --- packaging ------------------------------------------------------------------------------------------


def test_importing_the_client_loads_no_framework() -> None:
    frameworks = ("keras", "lightning", "pytorch_lightning", "torch", "optuna")
    code = ("import sys, suggest_client, suggest_client.study, suggest_client.cli; "
            f"print(sorted(m for m in {frameworks!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
