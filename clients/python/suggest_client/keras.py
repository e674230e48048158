"""A Keras 3 callback that reports each epoch to a trial and stops training the pruner stops.

    from suggest_client.keras import PruningCallback

    with study.trial() as trial:
        history = model.fit(x, y, validation_data=(x_val, y_val), epochs=20,
                            callbacks=[PruningCallback(trial, monitor="val_loss")])   # raises TrialPruned
        trial.value = history.history["val_loss"][-1]

Extra: `pip install "suggest-client[keras]"`. Any Keras 3 backend; this module does not choose one, so set
KERAS_BACKEND (e.g. `torch`) as you would without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras  # type: ignore[import-untyped]  # the real Keras (imports are absolute)

from suggest_client.errors import TrialPruned
from suggest_client.pruning_callbacks import PruneState, monitored_value
from suggest_client.trial import Trial

log = logging.getLogger("suggest_client")


class PruningCallback(keras.callbacks.Callback, PruneState):  # type: ignore[misc]
    """Reports `monitor` at the end of every epoch as `trial.report(epoch, value)` (0-based, as Keras
    counts); stops when the service says prune.

    Then `model.stop_training` is set and, with `raise_on_prune` (the default), TrialPruned(reason) is
    raised from the hook: Keras lets it out of `fit`, so `with study.trial()` and `study.optimize` tell
    the trial pruned. With `raise_on_prune=False`, fit ends after that epoch (other callbacks' `on_train_end`
    run) and `check_pruned()` raises TrialPruned.

    A monitored metric missing from the epoch's logs (no `validation_data`, or `validation_freq` above 1
    for a `val_` metric), or NaN or infinite (the service refuses those; a diverging run should be told
    failed), raises ValueError naming it.
    """

    def __init__(self, trial: Trial, monitor: str = "val_loss", *, raise_on_prune: bool = True) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.raise_on_prune = raise_on_prune
        self.pruned = False
        self.reason = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        value = self._value(logs or {}, epoch)
        decision = self.trial.report_decision(epoch, value)
        if not decision.prune:
            return
        self.pruned = True
        self.reason = decision.reason or f"the service said to prune trial {self.trial.number} at epoch {epoch}"
        self.model.stop_training = True
        if self.raise_on_prune:
            log.info("trial %s pruned at epoch %s: %s", self.trial.number, epoch, self.reason)
            raise TrialPruned(self.reason)

    def _value(self, logs: Mapping[str, Any], epoch: int) -> float:
        return monitored_value(logs, self.monitor, self.trial.number, missing=f"is not in the logs of epoch {epoch}",
                               at=f"epoch {epoch}", hint="pass validation_data to fit for val_ metrics, or pass "
                                                        "monitor=")
