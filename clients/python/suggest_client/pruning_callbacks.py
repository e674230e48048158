"""What the Lightning and Keras pruning callbacks share, without either framework: reading the monitored metric
(named when missing, refused when not finite) and the "pruned" state that `check_pruned` raises after `fit`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from suggest_client.errors import TrialPruned


class PruneState:
    """Whether the service said to stop the trial, and its reason: for code that lets `fit` end normally."""

    pruned: bool = False
    #: The service's sentence for stopping (or ours, when it gave none).
    reason: str | None = None

    def check_pruned(self) -> None:
        """Raise TrialPruned(reason) if the service said to stop; call it after `fit` when the callback did not
        raise (`raise_on_prune=False`, or a Lightning strategy with several processes)."""
        if self.pruned:
            raise TrialPruned(self.reason)


def monitored_value(metrics: Mapping[str, Any], monitor: str, trial_number: int, *, missing: str, at: str,
                    hint: str) -> float:
    """The monitored metric as a finite float: a missing one names the metrics that were logged (`missing` says
    where it was looked for, `hint` how to log it), a NaN or infinite one is refused (the service would be too)."""
    if monitor not in metrics:
        logged = ", ".join(repr(name) for name in metrics) or "none"
        raise ValueError(f"PruningCallback monitors {monitor!r}, which {missing}; the logged metrics are {logged} "
                         f"({hint})")
    reading = metrics[monitor]
    value = float(reading.item() if hasattr(reading, "item") else reading)
    if not math.isfinite(value):
        raise ValueError(f"{monitor} is {value!r} at {at}: the run diverged, so trial {trial_number} cannot be "
                         "reported (the service takes finite values only)")
    return value
