"""Patient pruning (Optuna's PatientPruner): stop only a trial that stopped improving.

The trial must have gone `patience` reports past its best without improving it by more than
`min_delta`; then the wrapped pruner (if any) decides. Wrapping the median rule this way keeps a
slow starter that is still climbing.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from suggest_api.domain import Goal, Trial
from suggest_api.plugins import PluginField
from suggest_api.pruners.base import Decision, Peers, Pruner, number_text


class PatientOptions(ma.Schema):
    patience = fields.Integer(required=True, validate=validate.Range(0, 1_000_000), metadata={
        "description": "Reports after the best one without an improvement before the trial may stop."})
    min_delta = fields.Float(load_default=0.0, validate=validate.Range(0, None), allow_nan=False, metadata={
        "description": "An improvement smaller than this does not count."})
    pruner = PluginField("pruner", load_default=None, allow_none=True, metadata={
        "description": "The pruner that decides once patience ran out, {name, options}; null: stop then."})


class PatientPruner:
    def __init__(self, *, patience: int, min_delta: float, inner: Pruner | None) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.inner = inner

    def decide(self, trial: Trial, peers: Peers, goal: Goal) -> Decision:
        values = [r.value for r in trial.intermediate]
        window = self.patience + 1
        if len(values) <= window:
            return Decision(prune=False, reason=f"patience: {len(values)} reports, more than {window} needed "
                                                "to judge improvement")
        pick = min if goal is Goal.MINIMIZE else max
        before, recent = pick(values[:-window]), pick(values[-window:])
        gain = before - recent if goal is Goal.MINIMIZE else recent - before
        if gain > self.min_delta:
            return Decision(prune=False, reason=f"improved on {number_text(before)} within the last {window} reports")
        stalled = (f"no improvement on {number_text(before)} by more than {number_text(self.min_delta)} "
                   f"in the last {window} reports")
        if self.inner is None:
            return Decision(prune=True, reason=stalled)
        inner = self.inner.decide(trial, peers, goal)
        return Decision(prune=inner.prune, reason=f"{stalled}; {inner.reason}", rungs=inner.rungs)
