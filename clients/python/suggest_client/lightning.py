"""A PyTorch Lightning callback that reports each validation to a trial and stops training the pruner stops.

    from suggest_client.lightning import PruningCallback

    with study.trial() as trial:
        trainer = Trainer(max_epochs=20, callbacks=[PruningCallback(trial, monitor="val_loss")])
        trainer.fit(model, train_loader, val_loader)       # raises TrialPruned when the service says stop
        trial.value = float(trainer.callback_metrics["val_loss"])

Extra: `pip install "suggest-client[lightning]"`. Works with `lightning.pytorch` (the `lightning` package)
or `pytorch_lightning` (the `pytorch-lightning` package), whichever is installed (`lightning.pytorch` first).
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from suggest_client.errors import TrialPruned
from suggest_client.pruning_callbacks import PruneState, monitored_value
from suggest_client.trial import Trial

log = logging.getLogger("suggest_client")

STEPS = ("epoch", "global_step")


def _lightning() -> ModuleType:
    """`lightning.pytorch` when the `lightning` package is installed, else `pytorch_lightning`."""
    try:
        return importlib.import_module("lightning.pytorch")
    except ImportError:
        pass
    try:
        return importlib.import_module("pytorch_lightning")
    except ImportError:
        raise ImportError("suggest_client.lightning needs PyTorch Lightning: pip install "
                          "'suggest-client[lightning]' (or the `lightning` package)") from None


pl = _lightning()


class PruningCallback(pl.Callback, PruneState):  # type: ignore[misc,name-defined]  # a base chosen at import
    """Reports `monitor` after every validation as `trial.report(step, value)`; stops when told to prune.

    `step` is "epoch" (the 0-based `trainer.current_epoch`, the default) or "global_step" (optimizer steps
    so far): use "global_step" when validation runs several times per epoch (`val_check_interval`), since a
    trial reports each step once. The sanity-check validation before training is not reported.

    When the service answers prune, training stops: with `raise_on_prune` (the default) TrialPruned(reason)
    is raised from the hook, which ends `trainer.fit` and propagates, so `with study.trial()` and
    `study.optimize` tell the trial pruned. With `raise_on_prune=False`, or under a strategy with several
    processes (where raising in one would leave the others waiting), `trainer.should_stop` is set instead:
    fit ends after the epoch and `check_pruned()` raises TrialPruned. Then only global rank 0 reports,
    and its decision is broadcast to every rank.

    A monitored metric that was not logged, or that is NaN or infinite (the service refuses those; a
    diverging run should be told failed), raises ValueError naming it.
    """

    def __init__(self, trial: Trial, monitor: str = "val_loss", *, step: str = "epoch",
                 raise_on_prune: bool = True) -> None:
        super().__init__()
        if step not in STEPS:
            raise ValueError(f"step must be one of {', '.join(STEPS)}, not {step!r}")
        self.trial = trial
        self.monitor = monitor
        self.step = step
        self.raise_on_prune = raise_on_prune
        self.pruned = False
        self.reason = None
        #: The last step reported, to tell a second validation in the same epoch from a retry.
        self.last_step: int | None = None

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        step = int(trainer.current_epoch if self.step == "epoch" else trainer.global_step)
        value = self._value(trainer.callback_metrics, step)
        decision: tuple[bool, str | None] = (False, None)
        if trainer.is_global_zero:
            if self.last_step == step:
                raise ValueError(f"validation ran twice at {self.step} {step} (val_check_interval?); a trial "
                                 "reports each step once: use PruningCallback(..., step='global_step')")
            self.last_step = step
            answer = self.trial.report_decision(step, value)
            decision = (answer.prune, answer.reason)
        prune, reason = trainer.strategy.broadcast(decision, src=0)
        if not prune:
            return
        self.pruned = True
        self.reason = reason or f"the service said to prune trial {self.trial.number} at step {step}"
        trainer.should_stop = True
        if self.raise_on_prune and trainer.world_size == 1:
            log.info("trial %s pruned at %s %s: %s", self.trial.number, self.step, step, self.reason)
            raise TrialPruned(self.reason)

    def _value(self, metrics: Any, step: int) -> float:
        where = f"{self.step} {step}"
        return monitored_value(metrics, self.monitor, self.trial.number, missing=f"was not logged at {where}",
                               at=where, hint="self.log it in validation_step, or pass monitor=")
