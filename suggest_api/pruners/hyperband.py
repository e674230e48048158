"""Hyperband (Li et al., 2018) run asynchronously: several successive-halving brackets side by side.

Bracket b has its first rung at min_resource · reduction_factor^b steps: bracket 0 stops trials
earliest, the last one lets them run long before judging. Each trial belongs to one bracket and
competes only within it. The bracket is a hash of the study seed and the trial number, weighted as
Hyperband spreads its budget (most trials to the aggressive brackets), so every worker derives the
same bracket for a trial without any stored state.
"""

from __future__ import annotations

import hashlib
import math

import marshmallow as ma
from marshmallow import fields, validate

from suggest_api.domain import Goal, Trial
from suggest_api.pruners.base import Decision, Peers
from suggest_api.pruners.successive_halving import AUTO, MAX_FACTOR, ResourceField, SuccessiveHalvingPruner


class HyperbandOptions(ma.Schema):
    min_resource = fields.Integer(load_default=1, validate=validate.Range(1, 2**62), metadata={
        "description": "Steps before the first rung of the most aggressive bracket."})
    max_resource = ResourceField(load_default=AUTO, metadata={
        "description": 'Steps a full trial runs (its last step + 1); "auto": taken from the first trial that '
                       "completed with reports, with no pruning until one has."})
    reduction_factor = fields.Integer(load_default=3, validate=validate.Range(2, MAX_FACTOR), metadata={
        "description": "Rungs are this many times further apart; the top 1/reduction_factor of a rung continue."})

    @ma.validates_schema
    def _resources(self, data: dict[str, object], **_: object) -> None:
        top, low = data.get("max_resource"), data.get("min_resource")
        if isinstance(top, int) and isinstance(low, int) and top < low:
            raise ma.ValidationError(f"must be at least min_resource ({low})", "max_resource")


def bracket_budgets(n_brackets: int, reduction_factor: int) -> list[int]:
    """Each bracket's share of trials: Hyperband's n_s = ceil((s_max + 1) · η^s / (s + 1)), s = s_max - b."""
    return [math.ceil(n_brackets * reduction_factor ** (n_brackets - 1 - b) / (n_brackets - b))
            for b in range(n_brackets)]


def bracket_of(number: int, seed: int, budgets: list[int]) -> int:
    """The bracket of trial `number`: a stable hash of (seed, number) into the budgets' cumulative ranges."""
    digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(budgets)
    for bracket, budget in enumerate(budgets):
        if point < budget:
            return bracket
        point -= budget
    raise AssertionError("unreachable: point < sum(budgets)")


class HyperbandPruner:
    def __init__(self, *, min_resource: int, max_resource: int | str, reduction_factor: int) -> None:
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.reduction_factor = reduction_factor

    def brackets(self, max_resource: int) -> int:
        ratio = max(max_resource / self.min_resource, 1.0)
        # The epsilon keeps an exact power (27 / 1 with factor 3) from flooring to one bracket too few.
        return int(math.floor(math.log(ratio, self.reduction_factor) + 1e-9)) + 1

    def decide(self, trial: Trial, peers: Peers, goal: Goal) -> Decision:
        if isinstance(self.max_resource, int):
            max_resource: int | None = self.max_resource
        else:
            last = peers.first_completed_last_step()
            max_resource = None if last is None else last + 1
        if max_resource is None:
            return Decision(prune=False, reason='hyperband: max_resource "auto" is set once a trial has completed '
                                                "with reports; no pruning until then")
        budgets = bracket_budgets(self.brackets(max_resource), self.reduction_factor)
        mine = bracket_of(trial.number, peers.seed, budgets)
        halving = SuccessiveHalvingPruner(
            min_resource=self.min_resource, reduction_factor=self.reduction_factor, min_early_stopping_rate=mine,
            bootstrap_count=0, same_bracket=lambda number: bracket_of(number, peers.seed, budgets) == mine,
            label=f"bracket {mine} of {len(budgets)}, ")
        return halving.decide(trial, peers, goal)
