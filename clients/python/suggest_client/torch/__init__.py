"""The reference PyTorch trainer (extra ``[torch]``; command ``suggest-train``), and its parts.

Bring your own training code instead: give it the trial's params, report the validation score
after each epoch (a report is also a heartbeat, and may ask you to stop), return the final score::

    import torch
    from suggest_client import Client, TrialPruned

    def objective(trial):
        model = make_model(trial.params["hidden_size"])            # your code
        optimizer = torch.optim.Adam(model.parameters(), lr=trial.params["lr"])
        for epoch in range(1, 11):
            train_one_epoch(model, optimizer)                      # your code
            accuracy = evaluate(model)                             # your code
            if trial.report(epoch, accuracy):                      # True: the study prunes it
                raise TrialPruned()
        return accuracy                                            # raise anything: told failed

    space = {"params": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True},
        {"name": "hidden_size", "type": "int", "low": 16, "high": 256, "log": True}]}
    study = Client().create_study("my-model", space, objective="maximize", suggester="bayesian")
    study.optimize(objective, n_trials=20, n_workers=2)
    print(study.best().params)

Or reuse this trainer's pieces on your data: ``load_data("my.csv")`` (or ``load_digits_splits()``)
gives standardized splits, and ``train(trial.params, data, seed=trial.number, report=trial.report)``
trains the fully-connected network those params describe and returns a TrainResult.
"""

from __future__ import annotations

from suggest_client.torch.data import Splits, load_data, load_digits_splits, split
from suggest_client.torch.device import pick_device
from suggest_client.torch.model import build_model
from suggest_client.torch.space import (
    DEFAULT_PARAMS,
    DEFAULT_SPACE_PATH,
    SpaceError,
    load_space,
    resolve_params,
    without_params,
)
from suggest_client.torch.training import Cancelled, Diverged, EpochResult, TrainResult, accuracy, train

__all__ = [
    "DEFAULT_PARAMS", "DEFAULT_SPACE_PATH", "Cancelled", "Diverged", "EpochResult", "SpaceError", "Splits",
    "TrainResult", "accuracy", "build_model", "load_data", "load_digits_splits", "load_space", "pick_device",
    "resolve_params", "split", "train", "without_params",
]
