"""Which completed trials form the genetic suggester's population when a study has several objectives or
outcome constraints: NSGA-II or NSGA-III survival over the whole history, recomputed at each ask.

Trials are ranked by constraint-domination (feasible ones by non-dominated fronts, then infeasible ones by
increasing violation) and taken front by front; the front that does not fit is cut by crowding distance
(NSGA-II) or by reference-direction niching (NSGA-III). The population comes back best first by the
crowded comparison (rank, then larger crowding distance), which is the order the tournament prefers.
With a single (constrained) objective every front is one value, so the order is simply feasible trials
by value, then infeasible ones by violation, ties by trial number, as without constraints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from suggest_api.domain import Trial, TrialState
from suggest_api.multiobjective.dominance import constrained_ranks, crowded_order, nondominated_ranks
from suggest_api.multiobjective.outcomes import metric_values, objective_matrix, violations
from suggest_api.multiobjective.reference_points import das_dennis, default_divisions, nsga3_select
from suggest_api.suggesters.base import SuggestRequest

NSGA2 = "nsga2"
NSGA3 = "nsga3"
SELECTIONS = (NSGA2, NSGA3)


def ranked_selection(request: SuggestRequest) -> bool:
    """Whether the study needs this module: several objectives or any constraint (else: best by value)."""
    return request.multi_objective or bool(request.constraints)


def candidates(request: SuggestRequest) -> list[Trial]:
    """Completed trials with a finite value for every objective, by trial number: the possible parents.
    A trial missing a constraint metric still is one (it ranks as infinitely violating)."""
    objectives = request.objective_list
    usable = []
    for trial in request.history:
        if trial.state is not TrialState.COMPLETED:
            continue
        values = metric_values(trial, objectives)
        if values is not None and all(math.isfinite(v) for v in values):
            usable.append(trial)
    return sorted(usable, key=lambda t: t.number)


def survivors(trials: Sequence[Trial], request: SuggestRequest, size: int, *, selection: str = NSGA2,
              reference_divisions: int | None = None) -> list[Trial]:
    """The `size` trials of `trials` that survive, best first (all of them, ordered, when fewer).

    `trials` should be ordered by number (`candidates`): ties are broken by that order.
    """
    if not trials or size <= 0:
        return []
    objectives = request.objective_list
    points = objective_matrix(trials, objectives)
    if request.constraints:
        ranks = constrained_ranks(points, violations(trials, request.constraints))
    else:
        ranks = nondominated_ranks(points)
    if points.shape[1] == 1:  # fronts are single values: crowding and niching have nothing to spread
        order = np.lexsort((np.arange(len(trials)), ranks))[:size]
    elif selection == NSGA3:
        divisions = reference_divisions or default_divisions(points.shape[1])
        chosen = nsga3_select(points, ranks, size, das_dennis(points.shape[1], divisions), niching_rng(request))
        chosen = np.sort(chosen)  # back to trial order, so that ties below fall to the older trial
        order = chosen[crowded_order(points[chosen], ranks[chosen])]
    else:
        order = crowded_order(points, ranks)[:size]
    return [trials[int(k)] for k in order]


def niching_rng(request: SuggestRequest) -> np.random.Generator:
    """NSGA-III's random choices for one ask: seeded by the study and the ask's first trial, and apart from
    the children's own generators (seeded by (seed, number)) so they do not draw the same numbers."""
    first = request.numbers[0] if request.numbers else 0
    return np.random.default_rng([request.seed, first, 3])
