"""Asynchronous steady-state genetic algorithm: each ask breeds children from the best completed trials.

No generation is ever waited for: the population is simply the best `population_size` completed trials at
the moment of the ask (so the best ones always stay parents: elitism), derived from the history each time,
so nothing is stored between asks. Until a first population exists the study's Sobol sequence is sampled.
Children are bred in the unit cube of `suggest_api.space`: tournament selection, uniform crossover of categoricals
and BLX-alpha blending of numbers, then Gaussian mutation (numbers) or resampling (categoricals). A child
equal to any existing trial (running ones and earlier children of the same ask included) is bred again,
then replaced by an untried point; only a used-up discrete space yields a repeat.

With several objectives or outcome constraints the population is chosen by NSGA-II (or NSGA-III) survival
instead (`genetic_selection`), and the tournament compares rank, then crowding distance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
import numpy as np
from marshmallow import fields, validate

from suggest_api.config import Limits
from suggest_api.domain import Goal, Trial, TrialState
from suggest_api.errors import InvalidInput, InvalidParams
from suggest_api.space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace, Unit, Value
from suggest_api.suggesters import genetic_selection
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.grid_points import GridPoints
from suggest_api.suggesters.sobol import sobol_points

#: Tournament size unless the study chooses one (capped by a smaller population).
DEFAULT_TOURNAMENT = 3
#: BLX-alpha: a blended gene is drawn from the parents' interval widened by this fraction on each side,
#: which keeps the population's spread from collapsing faster than selection shrinks it.
BLEND_ALPHA = 0.5
#: Breeding attempts for a child that is not a copy of an existing trial, before an untried point is drawn.
BREED_ATTEMPTS = 20
#: Uniform draws for an untried point, before a discrete space is enumerated.
RANDOM_ATTEMPTS = 100
#: The largest discrete space enumerated to find an untried point; beyond it a repeat is accepted.
MAX_ENUMERATED = 100_000
#: The most NSGA-III divisions a study may set: 2,925 reference directions with 4 objectives.
MAX_REFERENCE_DIVISIONS = 24


class GeneticOptions(ma.Schema):
    population_size = fields.Integer(load_default=10, validate=validate.Range(2, 10000), metadata={
        "description": "How many of the best completed trials form the population that parents are drawn "
                       "from; also the size of the initial Sobol design."})
    mutation_rate = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0.0, 1.0), metadata={
        "description": "Probability that each param of a child is mutated; null means 1 / (number of params)."})
    mutation_scale = fields.Float(load_default=0.1, validate=validate.Range(0.0, 1.0, min_inclusive=False),
                                  metadata={"description": "Standard deviation of the Gaussian mutation of a "
                                            "numeric param, as a fraction of its range (on its log scale for "
                                            "log params)."})
    crossover_rate = fields.Float(load_default=0.9, validate=validate.Range(0.0, 1.0), metadata={
        "description": "Probability that a child blends two parents; otherwise it is a mutated copy of one."})
    tournament_size = fields.Integer(load_default=None, validate=validate.Range(1, 100), metadata={
        "description": "Population members drawn at random per parent, the best of whom becomes the parent; "
                       "larger means greedier. At most population_size; default 3 (or population_size "
                       "when that is smaller)."})
    selection = fields.String(load_default=genetic_selection.NSGA2,
                              validate=validate.OneOf(genetic_selection.SELECTIONS), metadata={
        "description": "Survival with several objectives: \"nsga2\" (default) cuts the last front by crowding "
                       "distance, \"nsga3\" by reference-direction niching (better spread for 3-4 "
                       "objectives). Ignored with one objective."})
    reference_divisions = fields.Integer(load_default=None, allow_none=True,
                                         validate=validate.Range(1, MAX_REFERENCE_DIVISIONS), metadata={
        "description": "NSGA-III only: divisions of each edge of the simplex of reference directions; null means "
                       "12, 6 or 4 for 2, 3 or 4 objectives."})

    @ma.validates_schema
    def _tournament_fits_population(self, data: Mapping[str, Any], **_: Any) -> None:
        tournament = data.get("tournament_size")
        if tournament is not None and tournament > data.get("population_size", math.inf):
            raise ma.ValidationError("must be at most population_size", "tournament_size")

    @ma.validates_schema
    def _divisions_need_nsga3(self, data: Mapping[str, Any], **_: Any) -> None:
        if data.get("reference_divisions") is not None and data.get("selection") != genetic_selection.NSGA3:
            raise ma.ValidationError('only with selection "nsga3"', "reference_divisions")

    @ma.post_load
    def _default_tournament(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("tournament_size") is None:
            data["tournament_size"] = min(DEFAULT_TOURNAMENT, data["population_size"])
        return data


@dataclass(frozen=True, eq=False)
class _Member:
    """A completed trial as a genome: its point in the cube and which params it has (the others are filler)."""

    point: Unit
    active: frozenset[str]


def _key(params: Mapping[str, Value]) -> str:
    """Identity of a params dict: JSON tells true from 1 and 1 from 1.0, as the space does."""
    return json.dumps(params, sort_keys=True)


def _reflect(u: Unit) -> Unit:
    """Fold values back into [0, 1] (a mirror at each bound), so mutation does not pile points on the edges."""
    folded = np.mod(u, 2.0)
    return np.where(folded > 1.0, 2.0 - folded, folded)


class GeneticSuggester:
    needs_history = True
    costly = False

    def __init__(self, *, population_size: int, mutation_rate: float | None, mutation_scale: float,
                 crossover_rate: float, tournament_size: int, selection: str = genetic_selection.NSGA2,
                 reference_divisions: int | None = None) -> None:
        self.population_size = population_size
        self.mutation_rate = mutation_rate
        self.mutation_scale = mutation_scale
        self.crossover_rate = crossover_rate
        self.tournament_size = tournament_size
        self.selection = selection
        self.reference_divisions = reference_divisions

    def check(self, space: SearchSpace, limits: Limits) -> None:
        """Any valid space can be evolved."""

    def suggest(self, request: SuggestRequest) -> list[dict[str, Any]]:
        space = request.space
        # Stored params are already normalized (the decoder wrote them, or the service validated them), so
        # their JSON compares with a fresh child's as is.
        seen = {_key(t.params) for t in request.history}
        pruned = [t for t in request.history if t.state is TrialState.PRUNED and t.intermediate]
        if genetic_selection.ranked_selection(request):
            population = self._ranked_population(request, pruned)
        else:
            completed = [t for t in request.history if t.state is TrialState.COMPLETED and t.value is not None
                         and math.isfinite(t.value)]
            population = self._population(space, completed, pruned, request.goal)
        initial = self._initial_count(request, completed=len(population))
        design = sobol_points(space, request.seed, request.made, initial) if initial else None
        suggestions: list[dict[str, Any]] = []
        for j, rng in enumerate(request.rngs):
            if design is not None and j < initial:
                params = space.decode(design[j])
                if _key(params) in seen:
                    params = _untried(space, rng, seen, params)
            else:
                params = self._bred(space, population, rng, seen)
            seen.add(_key(params))
            suggestions.append(params)
        return suggestions

    # --- where the parents come from -------------------------------------------------------------------

    def _initial_count(self, request: SuggestRequest, *, completed: int) -> int:
        """How many of this ask's trials (a prefix) still come from the Sobol design.

        A full population of completed trials (imported ones count) ends the design at once. Otherwise the
        design runs for the first `population_size` trials the suggester makes, and longer while fewer than
        half a population has completed, so many parallel workers do not breed from a handful of parents.
        """
        if completed >= self.population_size:
            return 0
        if completed < max(2, math.ceil(self.population_size / 2)):
            return request.count
        return min(max(self.population_size - request.made, 0), request.count)

    def _population(self, space: SearchSpace, completed: Sequence[Trial], pruned: Sequence[Trial],
                    goal: Goal) -> list[_Member]:
        """The best `population_size` completed trials, best first (ties: oldest first), then, while the
        population is not full, pruned trials: those that ran furthest first, then by their best reported
        value. A pruned trial ranks below every completed one (it was stopped for looking worse than its
        peers), but it still says where the promising region is, so a study whose pruner stops most
        trials breeds from them instead of sampling its Sobol design for ever. Failed and running trials
        are never parents."""
        sign = 1.0 if goal is Goal.MINIMIZE else -1.0
        ranked = sorted(completed, key=lambda t: (sign * (t.value or 0.0), t.number))
        ranked += _pruned_order(pruned, goal)
        return self._members(space, ranked)

    def _ranked_population(self, request: SuggestRequest, pruned: Sequence[Trial]) -> list[_Member]:
        """With several objectives or constraints: the NSGA-II/III survivors among the completed trials, best
        first; below them, for a single constrained objective, pruned trials as in `_population` (a study
        with several objectives has no pruner)."""
        space = request.space
        usable = [t for t in genetic_selection.candidates(request) if _encodes(space, t)]
        ranked = genetic_selection.survivors(usable, request, self.population_size, selection=self.selection,
                                             reference_divisions=self.reference_divisions)
        if not request.multi_objective:
            ranked += _pruned_order(pruned, request.goal)
        return self._members(space, ranked)

    def _members(self, space: SearchSpace, ranked: Sequence[Trial]) -> list[_Member]:
        """The first `population_size` of `ranked` that the space can encode, as genomes."""
        members: list[_Member] = []
        for trial in ranked:
            try:
                point = space.encode(trial.params)
            except InvalidParams:  # cannot happen for stored trials; a bad one is simply not bred from
                continue
            members.append(_Member(point, frozenset(trial.params)))
            if len(members) == self.population_size:
                break
        return members

    def _tournament(self, population: Sequence[_Member], rng: np.random.Generator) -> _Member:
        """The best of `tournament_size` members drawn without replacement (by value, or by rank then
        crowding distance: either way the population is sorted best first)."""
        size = min(self.tournament_size, len(population))
        drawn = rng.choice(len(population), size=size, replace=False)
        return population[int(drawn.min())]  # the population is sorted best first

    # --- breeding ---------------------------------------------------------------------------------------

    def _bred(self, space: SearchSpace, population: Sequence[_Member], rng: np.random.Generator,
              seen: set[str]) -> dict[str, Any]:
        child: dict[str, Any] = {}
        for _ in range(BREED_ATTEMPTS):
            child = space.decode(self._child(space, population, rng))
            if _key(child) not in seen:
                return child
        return _untried(space, rng, seen, child)

    def _child(self, space: SearchSpace, population: Sequence[_Member], rng: np.random.Generator) -> Unit:
        first = second = self._tournament(population, rng)
        crossed = len(population) > 1 and rng.random() < self.crossover_rate
        if crossed:
            second = self._tournament(population, rng)
            for _ in range(3):  # a different mate when the tournament keeps returning the same one
                if second is not first:
                    break
                second = self._tournament(population, rng)
        point = np.empty(space.dimension)
        slices = space.slices()
        for param in space.params:
            cols = slices[param.name]
            donors = [m for m in ((first, second) if crossed else (first,)) if param.name in m.active]
            point[cols] = self._gene(param, cols, donors, population, rng)
        self._mutate(space, point, rng, force=second is first)
        return point

    @staticmethod
    def _gene(param: Param, cols: slice, donors: Sequence[_Member], population: Sequence[_Member],
              rng: np.random.Generator) -> Unit:
        """The columns `cols` of one param, from the parents that have it.

        A param no parent has (it was inactive in them) is taken from the best population member that has
        it, so a child whose crossover or mutation switches a branch on starts from a proven value there.
        """
        if not donors:
            filler = next((m for m in population if param.name in m.active), None)
            if filler is None:
                return _random_gene(param, rng)
            donors = [filler]
        if len(donors) == 1:
            return donors[0].point[cols].copy()
        a, b = donors[0].point[cols], donors[1].point[cols]
        if isinstance(param, CategoricalParam):
            return (a if rng.random() < 0.5 else b).copy()
        low, high = min(a[0], b[0]), max(a[0], b[0])
        spread = BLEND_ALPHA * (high - low)
        return _reflect(np.array([rng.uniform(low - spread, high + spread)]))

    def _mutate(self, space: SearchSpace, point: Unit, rng: np.random.Generator, *, force: bool) -> None:
        """Mutate each param with probability `mutation_rate`; `force` mutates at least one (a child of one
        parent would otherwise only repeat it)."""
        params = space.params
        rate = self.mutation_rate if self.mutation_rate is not None else 1.0 / len(params)
        chosen = rng.random(len(params)) < rate
        if force and not chosen.any():
            chosen[rng.integers(len(params))] = True
        slices = space.slices()
        for param, mutate in zip(params, chosen, strict=True):
            if not mutate:
                continue
            cols = slices[param.name]
            if isinstance(param, CategoricalParam):
                current = int(np.argmax(point[cols]))
                others = [k for k in range(len(param.choices)) if k != current] or [current]
                point[cols] = _one_hot(len(param.choices), others[int(rng.integers(len(others)))])
            else:
                sigma = max(self.mutation_scale, _level_width(param))
                point[cols] = _reflect(point[cols] + rng.normal(0.0, sigma))


def _level_width(param: FloatParam | IntParam) -> float:
    """The share of the cube one value of a stepped param takes: a smaller mutation would rarely move it."""
    if isinstance(param, IntParam) and not param.log:
        return 1.0 / ((param.high - param.low) // param.step + 1)
    if isinstance(param, FloatParam) and param.step is not None:
        return 1.0 / (round((param.high - param.low) / param.step) + 1)
    return 0.0


def _random_gene(param: Param, rng: np.random.Generator) -> Unit:
    if isinstance(param, CategoricalParam):
        return _one_hot(len(param.choices), int(rng.integers(len(param.choices))))
    return rng.random(1)


def _one_hot(width: int, k: int) -> Unit:
    gene = np.zeros(width)
    gene[k] = 1.0
    return gene


# --- an untried point, when breeding keeps repeating the past ---------------------------------------------


def _untried(space: SearchSpace, rng: np.random.Generator, seen: set[str],
             fallback: dict[str, Any]) -> dict[str, Any]:
    """A uniformly random point no trial has used; in a discrete space, found by enumeration when random
    draws keep hitting used points. `fallback` (a repeat) when every point has been used."""
    for _ in range(RANDOM_ATTEMPTS):
        params = space.decode(rng.random(space.dimension))
        if _key(params) not in seen:
            return params
    try:
        points = GridPoints.every_point(space)
    except InvalidInput:  # conditions too entangled to count: not worth enumerating
        return fallback
    if points is None or points.size > MAX_ENUMERATED:
        return fallback
    unused = [n for n in range(points.size) if _key(points.point(n)) not in seen]
    return points.point(unused[int(rng.integers(len(unused)))]) if unused else fallback


def _encodes(space: SearchSpace, trial: Trial) -> bool:
    try:
        space.encode(trial.params)
    except InvalidParams:
        return False
    return True


def _pruned_order(pruned: Sequence[Trial], goal: Goal) -> list[Trial]:
    """Pruned trials as parents below every completed one: those that ran furthest first, then by value."""
    sign = 1.0 if goal is Goal.MINIMIZE else -1.0
    return sorted(pruned, key=lambda t: (-t.intermediate[-1].step, sign * _best_reported(t, goal), t.number))


def _best_reported(trial: Trial, goal: Goal) -> float:
    """The best value a pruned trial reported (its last report's running best, when the service kept it)."""
    last = trial.intermediate[-1]
    if last.best is not None:
        return last.best
    values = [r.value for r in trial.intermediate]
    return min(values) if goal is Goal.MINIMIZE else max(values)
