"""The fully-connected network the trainer tunes, initialized from a generator of its own.

Nothing here draws from torch's global random state: `--workers N` trains N trials in threads of
one process, and a global generator shared by them would make each trial's weights and dropout
masks depend on how the threads happened to interleave. With a generator per trial, the same
params and seed give the same network whatever runs beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
INIT_STREAM, DROPOUT_STREAM, ORDER_STREAM = 0, 1, 2  # one random stream per use, see stream_seed


def stream_seed(seed: int, stream: int) -> int:
    """An independent seed for one use (weights, dropout, batch order) of a run's seed.

    Not `seed + stream`: trial N+1 trains with seed N+1, and its weights must not reuse the random
    numbers that trial N's dropout drew.
    """
    state = np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, stream]).generate_state(1, np.uint64)
    return int(state[0]) >> 1  # fits torch's signed 64-bit seeds


class SeededDropout(nn.Module):
    """Dropout (inverted, like nn.Dropout) whose masks come from the given generator."""

    def __init__(self, p: float, generator: torch.Generator | None) -> None:
        super().__init__()
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def build_model(n_features: int, n_classes: int, params: Mapping[str, Any], *, seed: int,
                device: torch.device | str = "cpu") -> nn.Sequential:
    """`num_layers` hidden layers of `hidden_size` units (activation, then dropout), then a linear
    layer to the class logits; `params` as resolved by `space.resolve_params`."""
    device = torch.device(device)
    hidden, layers = int(params["hidden_size"]), int(params["num_layers"])
    dropout = float(params["dropout"])
    masks = _device_generator(device, stream_seed(seed, DROPOUT_STREAM)) if dropout > 0 else None
    modules: list[nn.Module] = []
    width = n_features
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), ACTIVATIONS[params["activation"]]()]
        if dropout > 0:
            modules.append(SeededDropout(dropout, masks))
        width = hidden
    modules.append(nn.Linear(width, n_classes))
    model = nn.Sequential(*modules)
    init = torch.Generator().manual_seed(stream_seed(seed, INIT_STREAM))
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Linear):
                # nn.Linear's own default (kaiming-uniform, a=√5): U(±1/√fan_in), from our generator.
                bound = 1.0 / math.sqrt(module.in_features)
                module.weight.uniform_(-bound, bound, generator=init)
                module.bias.uniform_(-bound, bound, generator=init)
    return model.to(device)


def _device_generator(device: torch.device, seed: int) -> torch.Generator | None:
    """A generator on `device`, or None (torch's global one) where the backend has none to give."""
    try:
        return torch.Generator(device=device).manual_seed(seed)
    except RuntimeError:
        return None
