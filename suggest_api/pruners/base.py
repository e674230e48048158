"""The pruner interface: a pure decision from a trial's reports and the study's other trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from suggest_api.domain import Goal, Trial


class Pruner(Protocol):
    #: False when the pruner looks only at the trial itself, so report does not load the study.
    needs_history: bool

    def should_prune(self, trial: Trial, history: Sequence[Trial], goal: Goal) -> bool:
        """`trial` carries its reports so far, the newest last; `history` the study's other trials."""
        ...
