"""One training run: params in, validation and test accuracy out, reporting after every epoch.

The whole data set is moved to the device once and batches are index slices of a seeded
permutation: for tabular data that fits in memory this is what a DataLoader would do, without its
per-example collation, and the order depends only on the run's seed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import nn
from torch.nn import functional

from suggest_client.errors import TrialPruned
from suggest_client.torch.data import Splits
from suggest_client.torch.device import pick_device
from suggest_client.torch.model import ORDER_STREAM, build_model, stream_seed
from suggest_client.torch.space import resolve_params
from suggest_client.trial import PruneDecision

#: `report(epoch, val_accuracy)`: True means stop now (the study prunes this trial). `trial.report`
#: answers a bool; `trial.report_decision` the whole decision, whose reason then goes into TrialPruned.
Report = Callable[[int, float], Union[bool, PruneDecision]]
#: `on_epoch(epoch, train_loss, val_accuracy)`: progress, e.g. a progress bar.
OnEpoch = Callable[[int, float, float], None]

EVAL_BATCH = 8192  # rows per forward pass when measuring accuracy (bounds the memory it takes)


class Diverged(RuntimeError):
    """The loss became NaN or infinite: the run failed (typically a learning rate too high)."""


class Cancelled(RuntimeError):
    """The caller's `cancel` event was set: the run stopped between two batches."""


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # from 1
    train_loss: float  # mean over the epoch's batches, weighted by batch size, penalty included
    val_accuracy: float
    lr: float  # the learning rate this epoch trained with


@dataclass(frozen=True)
class TrainResult:
    """The final model's accuracy on the validation split (the objective) and on the test split."""

    val_accuracy: float
    test_accuracy: float
    params: dict[str, Any]  # every hyperparameter as trained, defaults included
    history: list[EpochResult] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    #: The trained network (on `device`, in eval mode), to save or use; not part of equality.
    model: nn.Module | None = field(default=None, repr=False, compare=False)


def train(params: Mapping[str, Any], data: Splits, *, device: str | torch.device | None = None, seed: int = 0,
          report: Report | None = None, on_epoch: OnEpoch | None = None,
          cancel: threading.Event | None = None) -> TrainResult:
    """Train the network that `params` describe on `data` and measure it.

    `params` may name any subset of `space.DEFAULT_PARAMS` (the rest take their defaults). `seed`
    fixes the initial weights, the batch order and the dropout masks: on the CPU the same params,
    data and seed give the same metrics. After each epoch `report(epoch, val_accuracy)` is called
    (pass `trial.report`, or `trial.report_decision` for the service's reason in the message); when it
    says prune, TrialPruned is raised. Raises Diverged when the loss stops being finite, and Cancelled
    as soon as `cancel` (if given) is set.
    """
    p = resolve_params(params)
    where = pick_device(device)
    started = time.perf_counter()
    model = build_model(data.n_features, data.n_classes, p, seed=seed, device=where)
    optimizer = make_optimizer(model, p)
    scheduler = make_scheduler(optimizer, p)
    x_train, y_train = _tensors(data.x_train, data.y_train, where)
    x_val, y_val = _tensors(data.x_val, data.y_val, where)
    order = torch.Generator().manual_seed(stream_seed(seed, ORDER_STREAM))
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    l1, batch_size, rows = p["l1"], p["batch_size"], x_train.shape[0]
    history: list[EpochResult] = []
    for epoch in range(1, p["epochs"] + 1):
        model.train()
        lr = float(optimizer.param_groups[0]["lr"])
        total = torch.zeros((), device=where)
        permutation = torch.randperm(rows, generator=order).to(where)
        for start in range(0, rows, batch_size):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"training cancelled in epoch {epoch}")
            batch = permutation[start:start + batch_size]
            loss = functional.cross_entropy(model(x_train[batch]), y_train[batch])
            if l1 > 0:
                loss = loss + l1 * sum(w.abs().sum() for w in weights)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            total += loss.detach() * batch.shape[0]
        train_loss = float(total.item()) / rows  # one device sync per epoch, not per batch
        if not math.isfinite(train_loss):
            raise Diverged(f"the training loss became {train_loss} in epoch {epoch} (lr {p['lr']:.3g}, "
                           f"optimizer {p['optimizer']}): the run diverged; a lower lr usually fixes it")
        if scheduler is not None:
            scheduler.step()
        val_accuracy = accuracy(model, x_val, y_val)
        history.append(EpochResult(epoch, train_loss, val_accuracy, lr))
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val_accuracy)
        if report is not None:
            answer = report(epoch, val_accuracy)
            decision = answer if isinstance(answer, PruneDecision) else PruneDecision(prune=bool(answer))
            if decision.prune:
                why = f": {decision.reason}" if decision.reason else ""
                raise TrialPruned(f"pruned after epoch {epoch} (validation accuracy {val_accuracy:.4f}){why}")
    x_test, y_test = _tensors(data.x_test, data.y_test, where)
    return TrainResult(val_accuracy=history[-1].val_accuracy, test_accuracy=accuracy(model, x_test, y_test),
                       params=p, history=history, seconds=time.perf_counter() - started, device=str(where),
                       model=model)


def make_optimizer(model: nn.Module, p: Mapping[str, Any]) -> torch.optim.Optimizer:
    """SGD (with `momentum`), Adam or RMSprop; `weight_decay` is the L2 penalty."""
    lr, decay = p["lr"], p["weight_decay"]
    if p["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=p["momentum"], weight_decay=decay)
    if p["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=decay)
    return torch.optim.RMSprop(model.parameters(), lr=lr, weight_decay=decay)


def make_scheduler(optimizer: torch.optim.Optimizer,
                   p: Mapping[str, Any]) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate decay, stepped once per epoch: none, step (every `step_size` epochs) or
    exponential (every epoch), each multiplying the rate by `gamma`."""
    if p["lr_decay"] == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=p["step_size"], gamma=p["gamma"])
    if p["lr_decay"] == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=p["gamma"])
    return None


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows whose highest logit is the true class (the model in eval mode)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[0], EVAL_BATCH):
        logits = model(x[start:start + EVAL_BATCH])
        correct += (logits.argmax(dim=1) == y[start:start + EVAL_BATCH]).sum()
    return float(correct.item()) / max(1, x.shape[0])


def _tensors(x: Any, y: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
