"""Threshold pruning: stop a trial whose value leaves [lower, upper] (a diverging loss, a stuck accuracy).

Non-finite values never reach it: a report of NaN or infinity is refused (422), and a trainer whose
loss diverged tells the trial `failed`.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from suggest_api.domain import Goal, Trial
from suggest_api.pruners.base import Decision, Peers, number_text
from suggest_api.pruners.percentile import waiting_reason


class ThresholdOptions(ma.Schema):
    lower = fields.Float(load_default=None, allow_none=True, allow_nan=False, metadata={
        "description": "Stop when a reported value is below this (null: no lower bound)."})
    upper = fields.Float(load_default=None, allow_none=True, allow_nan=False, metadata={
        "description": "Stop when a reported value is above this (null: no upper bound)."})
    warmup_steps = fields.Integer(load_default=0, validate=validate.Range(0, 2**62), metadata={
        "description": "Reports at steps below this are never pruned."})
    interval_steps = fields.Integer(load_default=1, validate=validate.Range(1, 2**62), metadata={
        "description": "Decide only at the first report of each window of this many steps after the warmup."})

    @ma.validates_schema
    def _bounds(self, data: dict[str, Any], **_: Any) -> None:
        lower, upper = data.get("lower"), data.get("upper")
        if lower is None and upper is None:
            raise ma.ValidationError("give lower, upper or both", "lower")
        if lower is not None and upper is not None and lower > upper:
            raise ma.ValidationError(f"must not be above upper ({upper:g})", "lower")


class ThresholdPruner:
    def __init__(self, *, lower: float | None, upper: float | None, warmup_steps: int, interval_steps: int) -> None:
        self.lower = lower
        self.upper = upper
        self.warmup_steps = warmup_steps
        self.interval_steps = interval_steps

    def decide(self, trial: Trial, peers: Peers, goal: Goal) -> Decision:
        waiting = waiting_reason(trial, self.warmup_steps, self.interval_steps)
        if waiting:
            return Decision(prune=False, reason=waiting)
        report = trial.intermediate[-1]
        value = f"value {number_text(report.value)} at step {report.step}"
        if self.lower is not None and report.value < self.lower:
            return Decision(prune=True, reason=f"{value} is below the lower threshold {number_text(self.lower)}")
        if self.upper is not None and report.value > self.upper:
            return Decision(prune=True, reason=f"{value} is above the upper threshold {number_text(self.upper)}")
        return Decision(prune=False, reason=f"{value} is within the thresholds")
