"""Asynchronous successive halving (ASHA; Li et al., 2020): rungs at min_resource · reduction_factor^k steps.

When a trial first reports at or past a rung's step, it enters the rung with that value and continues
only if it ranks in the top 1/reduction_factor of every trial that entered the rung so far (at least
the best one continues, so the first trials at a rung are never stopped for lack of company). Rung
entries are stored, so a later trial competes with exactly the values earlier ones entered with; a
report that jumps past several rungs enters each in turn, as Optuna's SuccessiveHalvingPruner does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from suggest_api.domain import Goal, Trial
from suggest_api.pruners.base import Decision, Peers, RungEntry, better, number_text

AUTO = "auto"
MAX_FACTOR = 1000


class ResourceField(fields.Field):  # type: ignore[type-arg]
    """A positive whole number of steps, or "auto" (derived from the first completed trial)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})["oneOf"] = [
            {"type": "integer", "minimum": 1, "maximum": 2**62}, {"type": "string", "enum": [AUTO]}]
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | str:
        if value == AUTO:
            return AUTO
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole or not 1 <= value <= 2**62:
            raise ma.ValidationError('must be a whole number of steps >= 1, or "auto"')
        return int(value)


class SuccessiveHalvingOptions(ma.Schema):
    min_resource = ResourceField(load_default=AUTO, metadata={
        "description": 'Steps before the first rung; "auto": 1/100 of the steps the first completed trial '
                       "reported (at least 1), with no pruning until a trial completes."})
    reduction_factor = fields.Integer(load_default=3, validate=validate.Range(2, MAX_FACTOR), metadata={
        "description": "Rungs are this many times further apart; the top 1/reduction_factor of a rung continue."})
    min_early_stopping_rate = fields.Integer(load_default=0, validate=validate.Range(0, 60), metadata={
        "description": "Skip this many rungs: the first rung is at min_resource · reduction_factor^rate steps."})
    bootstrap_count = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000), metadata={
        "description": "Trials stop at a rung until more than this many have entered it (0: no bootstrap)."})


def auto_min_resource(peers: Peers) -> int | None:
    last = peers.first_completed_last_step()
    return None if last is None else max((last + 1) // 100, 1)


class SuccessiveHalvingPruner:
    def __init__(self, *, min_resource: int | str, reduction_factor: int, min_early_stopping_rate: int,
                 bootstrap_count: int, same_bracket: Callable[[int], bool] | None = None, label: str = "") -> None:
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.min_early_stopping_rate = min_early_stopping_rate
        self.bootstrap_count = bootstrap_count
        #: Hyperband: whether another trial (by number) competes in this trial's bracket.
        self.same_bracket = same_bracket
        self.label = label

    def rung_step(self, min_resource: int, rung: int) -> int:
        return int(min_resource * self.reduction_factor ** rung)

    def decide(self, trial: Trial, peers: Peers, goal: Goal) -> Decision:
        if isinstance(self.min_resource, int):
            min_resource: int | None = self.min_resource
        else:
            min_resource = auto_min_resource(peers)
        if min_resource is None:
            return Decision(prune=False, reason=f'{self.label}min_resource "auto" is set once a trial has completed '
                                                "with reports; no pruning until then")
        entered = [r.rung for r in trial.intermediate[:-1] if r.rung is not None]
        rung = max(entered) + 1 if entered else self.min_early_stopping_rate
        report = trial.intermediate[-1]
        entries: list[RungEntry] = []
        reason = ""
        while report.step >= self.rung_step(min_resource, rung):
            entries.append(RungEntry(rung=rung, value=report.value))
            others = [p.value for p in peers.at_rung(rung)
                      if self.same_bracket is None or self.same_bracket(p.number)]
            where = f"{self.label}rung {rung} (step {self.rung_step(min_resource, rung)})"
            entrants = len(others) + 1
            if entrants <= self.bootstrap_count:
                return Decision(prune=True, rungs=tuple(entries),
                                reason=f"{where}: {entrants} trials entered it, bootstrap_count "
                                       f"{self.bootstrap_count} must be passed before any continues")
            keep = max(entrants // self.reduction_factor, 1)
            rank = 1 + sum(better(v, report.value, goal) for v in others)
            standing = (f"{where}: value {number_text(report.value)} ranks {rank} of {entrants} trials there; "
                        f"the top {keep} continue")
            if rank > keep:
                return Decision(prune=True, reason=standing, rungs=tuple(entries))
            reason = standing
            rung += 1
        upcoming = f"{self.label}next rung {rung} at step {self.rung_step(min_resource, rung)}"
        return Decision(prune=False, reason=f"{reason}; {upcoming}" if reason else upcoming, rungs=tuple(entries))
