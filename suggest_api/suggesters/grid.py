"""Grid search: every combination of each param's grid values, each handed out once.

The grid is never materialized: trial positions are numbered 0, 1, 2, ... and position t holds the
point numbered t (declared order) or perm(t) (a permutation keyed by the study seed, with `shuffle`).

Default mode: the j-th suggestion of an ask is position `made + j`, where `made` counts the trials
this suggester made before. No history is read, trial k gets the same point whether one worker or
eight asked, and the study lock that serializes asks makes every position go out once. Enqueued and
imported params are not compared with the grid in this mode: a grid point that was also enqueued
is run twice.

`retry_failed` mode reads the history and derives everything from it:
  * a position is *held* when a running, completed or pruned trial (of any source) has its params;
  * the *cursor* is one past the highest position a suggester trial has;
  * first, positions below the cursor that only failed trials have (a failure, or a trial reaped as
    stale) are handed out again, the one whose latest failure is oldest first;
  * then fresh positions from the cursor on, skipping held ones (an imported or enqueued grid point).
A position can be handed out again only after its trial failed, so no point ever runs twice at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from suggest_api.config import Limits
from suggest_api.domain import Trial, TrialState
from suggest_api.errors import GridExhausted, InvalidInput
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.grid_points import GridPoints
from suggest_api.suggesters.permutation import SeededPermutation

#: How many of the params with the most values a too-large grid's message names.
_CONTRIBUTORS_SHOWN = 3


class GridOptions(ma.Schema):
    shuffle = fields.Boolean(load_default=False, metadata={
        "description": "Hand points out in an order shuffled by the study seed (a seeded permutation), "
                       "not in declared order."})
    grid_points = fields.Integer(load_default=10, validate=validate.Range(2, 1000), metadata={
        "description": "Evenly spaced values (log-evenly for log), ends included, for each float param "
                       "without `grid` or `step`."})
    retry_failed = fields.Boolean(load_default=False, metadata={
        "description": "Hand out again, before fresh points, the points whose trials failed or went stale; "
                       "also skips grid points already held by enqueued or imported trials."})


@lru_cache(maxsize=64)
def grid_of(space: SearchSpace, grid_points: int) -> GridPoints:
    """One numbering per space and worker: counting its completions is the only costly part."""
    return GridPoints(space, grid_points)


class GridSuggester:
    """Position t of the grid's order is computed from t; what was handed out comes from `made` or history."""

    def __init__(self, *, shuffle: bool, grid_points: int, retry_failed: bool) -> None:
        self.shuffle = shuffle
        self.grid_points = grid_points
        self.retry_failed = retry_failed

    costly = False

    @property
    def needs_history(self) -> bool:
        return self.retry_failed

    def check(self, space: SearchSpace, limits: Limits) -> None:
        """Refuse a grid above `max_grid_size`, naming its size and the params that make it big."""
        grid = grid_of(space, self.grid_points)
        if grid.size <= limits.max_grid_size:
            return
        biggest = sorted((c for c in grid.value_counts() if c[1] > 1), key=lambda c: -c[1])
        named = ", ".join(f"{name!r} ({count:,} values)" for name, count in biggest[:_CONTRIBUTORS_SHOWN])
        culprits = f"the params with the most values are {named}. " if named else ""
        message = (f"the grid has {describe_count(grid.size)} points, above the limit of "
                   f"{limits.max_grid_size:,} points; {culprits}Give params explicit `grid` values, a coarser "
                   f"`step`, or fewer `grid_points` (now {self.grid_points}), or raise SUGGEST_MAX_GRID_SIZE")
        raise InvalidInput(message, errors={"space": [message]})

    def suggest(self, request: SuggestRequest) -> list[dict[str, Any]]:
        grid = grid_of(request.space, self.grid_points)
        order = self._order(grid.size, request.seed)
        if self.retry_failed:
            positions = self._retry_positions(request, grid, order)
        else:
            positions = list(range(request.made, min(request.made + request.count, grid.size)))
        if not positions and request.count:
            raise self._exhausted(grid.size, request.history)
        return [grid.point(order(t)) for t in positions]

    def _order(self, size: int, seed: int) -> SeededPermutation | DeclaredOrder:
        """Position -> point number."""
        return SeededPermutation(size, seed) if self.shuffle else DeclaredOrder()

    def _retry_positions(self, request: SuggestRequest, grid: GridPoints,
                         order: SeededPermutation | DeclaredOrder) -> list[int]:
        """Failed positions first (oldest latest failure first), then fresh ones not held by any trial."""
        located = [(trial, _position(grid, order, trial)) for trial in request.history]
        cursor = 1 + max((t for trial, t in located if t is not None and trial.source == "suggester"), default=-1)
        held = {t for trial, t in located if t is not None and trial.state is not TrialState.FAILED}
        latest_failure: dict[int, int] = {}
        for trial, t in located:
            if t is not None and t < cursor and t not in held:
                latest_failure[t] = trial.number  # only failed trials are left here; history is oldest first
        positions = sorted(latest_failure, key=latest_failure.__getitem__)[:request.count]
        t = cursor
        while len(positions) < request.count and t < grid.size:
            if t not in held:
                positions.append(t)
            t += 1
        return positions

    def _exhausted(self, size: int, history: Sequence[Trial]) -> GridExhausted:
        detail = f"the grid is exhausted: all {size:,} of its points have been handed out"
        if self.retry_failed:
            running = sum(t.state is TrialState.RUNNING for t in history)
            detail += (f"; {running} trials are still running, and a point whose trial fails is handed out "
                       "again")
        else:
            detail += "; create a new study to search further (or enqueue params)"
        return GridExhausted(detail, extra={"grid_size": size})


class DeclaredOrder:
    """The unshuffled order: position t holds point t."""

    def __call__(self, n: int) -> int:
        return n

    def inverse(self, t: int) -> int:
        return t


def _position(grid: GridPoints, order: SeededPermutation | DeclaredOrder, trial: Trial) -> int | None:
    """The grid position a trial's params sit at, or None when they are not a point of the grid."""
    n = grid.position_of(trial.params)
    return order.inverse(n) if n is not None else None


def describe_count(n: int) -> str:
    """A count for a message: exact with separators, or in scientific notation past 21 digits."""
    if n < 10**21:
        return f"{n:,}"
    exponent = math.floor(math.log10(n))  # a float: correct it by exact integer comparisons
    if 10**exponent > n:
        exponent -= 1
    elif 10 ** (exponent + 1) <= n:
        exponent += 1
    return f"about {n / 10**exponent:.2f}e+{exponent} ({exponent + 1} digits)"
