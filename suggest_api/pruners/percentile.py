"""Median and percentile pruning: stop a trial worse than most completed trials at the same step.

The median stopping rule of Google Vizier (Golovin et al., 2017) and Optuna's MedianPruner /
PercentilePruner. Peers are completed trials only: running ones have not shown where they end, and
pruned ones were stopped for being bad, so counting them would lower the bar.

`compare="best"` (the default) sets the trial's best value so far against the other trials' best
values by that step (noisy curves are not punished for one bad epoch); `"last"` compares the values
reported at that step.
"""

from __future__ import annotations

import marshmallow as ma
import numpy as np
from marshmallow import fields, validate

from suggest_api.domain import Goal, Trial, TrialState
from suggest_api.pruners.base import Decision, Peers, better, number_text

COMPLETED = (TrialState.COMPLETED,)


class MedianOptions(ma.Schema):
    min_trials = fields.Integer(load_default=5, validate=validate.Range(0, 1_000_000), metadata={
        "description": "Completed trials the study needs before any trial is pruned (startup trials)."})
    warmup_steps = fields.Integer(load_default=0, validate=validate.Range(0, 2**62), metadata={
        "description": "Reports at steps below this are never pruned (a young model is noisy)."})
    interval_steps = fields.Integer(load_default=1, validate=validate.Range(1, 2**62), metadata={
        "description": "Decide only at the first report of each window of this many steps after the warmup."})
    min_step_trials = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000), metadata={
        "description": "Completed trials that must have reported at the same step for a decision there."})
    compare = fields.String(load_default="best", validate=validate.OneOf(["best", "last"]), metadata={
        "description": "best: the trial's best value so far against the others' best by that step; "
                       "last: the values reported at that step."})


class PercentileOptions(MedianOptions):
    percentile = fields.Float(required=True, validate=validate.Range(0, 100), metadata={
        "description": "Keep trials within the best `percentile` % of the completed trials at the step "
                       "(50 is the median rule; 25 keeps only the top quarter)."})


class PercentilePruner:
    def __init__(self, *, percentile: float, min_trials: int, warmup_steps: int, interval_steps: int,
                 min_step_trials: int, compare: str, label: str = "") -> None:
        self.percentile = percentile
        self.min_trials = min_trials
        self.warmup_steps = warmup_steps
        self.interval_steps = interval_steps
        self.min_step_trials = min_step_trials
        self.compare = compare
        self.label = label or percentile_label(percentile)

    def decide(self, trial: Trial, peers: Peers, goal: Goal) -> Decision:
        report = trial.intermediate[-1]
        waiting = waiting_reason(trial, self.warmup_steps, self.interval_steps)
        if waiting:
            return Decision(prune=False, reason=waiting)
        completed = peers.completed()
        if completed < self.min_trials:
            return Decision(prune=False, reason=f"startup: {completed} of the {self.min_trials} completed "
                                                "trials needed before pruning")
        others = peers.at_step(report.step, COMPLETED)
        if len(others) < self.min_step_trials:
            return Decision(prune=False, reason=f"{len(others)} completed trials reported at step {report.step}; "
                                                f"{self.min_step_trials} needed to decide")
        use_best = self.compare == "best"
        mine = report.best if use_best and report.best is not None else report.value
        values = np.array([p.best if use_best else p.value for p in others], dtype=float)
        # Keeping the best p %: for minimize the bar is the p-th percentile, for maximize the (100 - p)-th.
        q = self.percentile if goal is Goal.MINIMIZE else 100.0 - self.percentile
        bar = float(np.percentile(values, q))
        what = f"best value {number_text(mine)} by step" if use_best else f"value {number_text(mine)} at step"
        of = f"the {self.label} {number_text(bar)} of {len(others)} completed trials"
        if better(bar, mine, goal):
            return Decision(prune=True, reason=f"{what} {report.step} is worse than {of}")
        return Decision(prune=False, reason=f"{what} {report.step} is not worse than {of}")


def percentile_label(percentile: float) -> str:
    """"25th percentile", "1st percentile", "percentile 33.3": how a reason names the bar."""
    if not float(percentile).is_integer():
        return f"percentile {percentile:g}"
    whole = int(percentile)
    suffix = "th" if 10 <= whole % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(whole % 10, "th")
    return f"{whole}{suffix} percentile"


def waiting_reason(trial: Trial, warmup_steps: int, interval_steps: int) -> str | None:
    """Why the latest report is not a decision point (warmup, or not the first report of its interval)."""
    step = trial.intermediate[-1].step
    if step < warmup_steps:
        return f"warmup: step {step} is below warmup_steps {warmup_steps}"
    if interval_steps > 1 and len(trial.intermediate) > 1:
        previous = trial.intermediate[-2].step
        window = (step - warmup_steps) // interval_steps
        if previous >= warmup_steps and (previous - warmup_steps) // interval_steps == window:
            return f"interval: step {step} is in the same window of {interval_steps} steps as step {previous}"
    return None


def median(*, min_trials: int, warmup_steps: int, interval_steps: int, min_step_trials: int,
           compare: str) -> PercentilePruner:
    return PercentilePruner(percentile=50.0, label="median", min_trials=min_trials, warmup_steps=warmup_steps,
                            interval_steps=interval_steps, min_step_trials=min_step_trials, compare=compare)
