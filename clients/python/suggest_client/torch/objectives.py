"""What `suggest-train --objectives` can optimize besides accuracy: the network's size, speed and cost.

Accuracy alone favours the biggest network that still trains; asking for the size or the inference
latency as well makes the study a multi-objective one, whose answer is the Pareto front: each
network on it is the most accurate of those at least as small (or as fast).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from suggest_client.study import ParetoFront
from suggest_client.torch.training import TrainResult
from suggest_client.trial import Trial

#: Every metric the trainer can tell, with its goal.
GOALS: dict[str, str] = {
    "val_accuracy": "maximize",  # the final epoch's validation accuracy
    "n_params": "minimize",      # trainable weights and biases
    "latency_ms": "minimize",    # mean inference time of one batch of LATENCY_BATCH rows, on the training device
    "train_seconds": "minimize",  # wall time of the training run
}
#: The metric every study optimizes: without it the others would favour the smallest network, however bad.
ACCURACY = "val_accuracy"
#: Rows per timed forward pass: fixed, so that latencies compare across trials whatever their batch_size.
LATENCY_BATCH = 256
LATENCY_WARMUP = 5  # untimed passes first: kernel selection, caches, lazy initialization
LATENCY_REPEATS = 30
#: How each metric is printed in the summary: header, then the format of a value.
COLUMNS: dict[str, tuple[str, str]] = {
    "val_accuracy": ("val_acc", "{:.4f}"), "n_params": ("n_params", "{:.0f}"),
    "latency_ms": ("latency_ms", "{:.4f}"), "train_seconds": ("train_s", "{:.2f}"),
}


def parse_objectives(text: str) -> list[str]:
    """`--objectives`: comma-separated metric names, each known, none twice, val_accuracy among them."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in GOALS]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}: choose among {', '.join(GOALS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"an objective is named twice in {text!r}")
    if ACCURACY not in names:
        raise ValueError(f"the objectives must include {ACCURACY} (the others alone favour the smallest network, "
                         "however inaccurate)")
    return names


def study_objectives(names: Sequence[str]) -> list[dict[str, str]]:
    """The study's `objectives` for these metric names."""
    return [{"name": name, "goal": GOALS[name]} for name in names]


def count_params(model: nn.Module) -> int:
    """Trainable numbers in the network: its weights and biases."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


@torch.inference_mode()
def measure_latency_ms(model: nn.Module, x: torch.Tensor, *, batch: int = LATENCY_BATCH,
                       warmup: int = LATENCY_WARMUP, repeats: int = LATENCY_REPEATS) -> float:
    """Mean milliseconds of one forward pass over `batch` rows of `x` (repeated when it has fewer), on
    `x`'s device, after `warmup` untimed passes.

    On CUDA (and MPS) each pass is timed up to `synchronize`, since kernels run asynchronously: the
    time is the work, not the launch. Trials trained at once (`--workers`) share the device, so
    their latencies include each other's load.
    """
    if x.shape[0] == 0:
        raise ValueError("no rows to time the network on")
    model.eval()
    inputs = x[torch.arange(batch, device=x.device) % x.shape[0]]
    for _ in range(warmup):
        model(inputs)
    _synchronize(inputs.device)
    total = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        model(inputs)
        _synchronize(inputs.device)
        total += time.perf_counter() - started
    return 1000.0 * total / max(1, repeats)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def trial_metrics(names: Sequence[str], result: TrainResult, x_val: torch.Tensor) -> dict[str, float]:
    """The values to tell for one trained trial: each metric in `names`, measured on `result.model`
    (latency only when asked for: it takes a few dozen forward passes)."""
    model = result.model
    if model is None:
        raise ValueError("the training run kept no model to measure")
    measured: dict[str, float] = {}
    for name in names:
        if name == "val_accuracy":
            measured[name] = result.val_accuracy
        elif name == "n_params":
            measured[name] = float(count_params(model))
        elif name == "latency_ms":
            measured[name] = measure_latency_ms(model, x_val)
        elif name == "train_seconds":
            measured[name] = result.seconds
        else:
            raise ValueError(f"unknown objective {name!r}")
    return measured


def describe(names: Sequence[str]) -> str:
    """E.g. "val_accuracy (maximize), n_params (minimize)"."""
    return ", ".join(f"{name} ({GOALS[name]})" for name in names)


def pareto_table(name: str, front: ParetoFront, names: Sequence[str], counts: Mapping[str, int]) -> str:
    """The Pareto front as a plain-text table, by trial number, with the study's counts above it."""
    lines = [f"study {name}: {counts['total']} trials: {counts['completed']} completed, {counts['pruned']} pruned, "
             f"{counts['failed']} failed, {counts['running']} running", _front_line(front)]
    if not front:
        return "\n".join(lines)
    headers = [COLUMNS[n][0] for n in names]
    widths = [max(len(h), 8) for h in headers]
    lines.append("  ".join([f"{'trial':>5}", *(f"{h:>{w}}" for h, w in zip(headers, widths)), f"{'test_acc':>8}",
                            "params"]))
    for trial in front:
        cells = [_metric(trial, n, w) for n, w in zip(names, widths)]
        test = trial.metadata.get("test_accuracy")
        test_text = f"{test:8.4f}" if isinstance(test, (int, float)) else f"{'-':>8}"
        params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        lines.append("  ".join([f"{trial.number:>5}", *cells, test_text, params]))
    return "\n".join(lines)


def pareto_json(front: ParetoFront) -> dict[str, Any]:
    """The front for `--json-summary`."""
    return {"size": front.size, "hypervolume": front.hypervolume, "reference_point": front.reference_point,
            "reference_point_derived": front.reference_point_derived,
            "trials": [{"number": t.number, "values": t.values, "test_accuracy": t.metadata.get("test_accuracy"),
                        "params": t.params} for t in front]}


def _front_line(front: ParetoFront) -> str:
    if front.size == 0:
        return "Pareto front: no completed trial yet"
    volume = "-" if front.hypervolume is None else f"{front.hypervolume:.6g}"
    return f"Pareto front: {front.size} trial{'s' if front.size != 1 else ''}, hypervolume {volume}"


def _metric(trial: Trial, name: str, width: int) -> str:
    value = (trial.values or {}).get(name)
    if value is None or not math.isfinite(value):
        return f"{'-':>{width}}"
    return f"{COLUMNS[name][1].format(value):>{width}}"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
