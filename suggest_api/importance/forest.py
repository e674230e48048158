"""Forest importance: a random forest fit to the trials, each tree decomposed by functional ANOVA.

Hutter, Hoos & Leyton-Brown (2014), "An Efficient Approach for Assessing Hyperparameter Importance", ICML:
a regression tree is a piecewise-constant function over boxes (its leaves), so the variance of its
prediction over the whole domain, and the variance of each param's marginal (the prediction averaged over
every other param), are exact sums over those boxes, weighted by their volume. A param's importance in a
tree is its marginal's variance over the tree's total variance: the share of how much the prediction moves
that this param alone moves. The shares are averaged over the trees and normalized to sum 1.

The domain and its measure are the encoding's (encoding.py): uniform over each param's range, with a
conditional param's inactive point weighted by how often it was inactive. The sums are vectorized per tree
and param: the leaves' boxes are found level by level, and a marginal is a difference array over the cut
points of that param (a leaf adds its value, weighted by the measure of its box in the other params, to the
segments its interval covers). The forest is seeded, the trials arrive in trial order and every sum runs in
the same order, so the same trials give the same numbers on any worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from suggest_api.importance.encoding import Array, Domain, Encoded

TREES = 64
#: Each tree is grown on a bootstrap sample of at most this many trials: fitting costs O(n log n) per level,
#: and beyond a few thousand points more data no longer changes which params matter. It keeps 5,000 trials
#: of 10 params well under a second.
MAX_TREE_SAMPLES = 2048


@dataclass(frozen=True)
class ForestImportance:
    #: Each param's share of the variance its main effect explains (normalized: they sum to 1, or are all 0).
    shares: Array
    #: How much of the forest's variance over the domain the single params' main effects explain, averaged
    #: over the trees; the rest comes from interactions of params.
    explained_variance: float
    trees: int


def forest_importance(encoded: Encoded, values: Array, *, trees: int = TREES, seed: int = 0) -> ForestImportance:
    """Fit the forest on the encoded trials and decompose each tree; `values`: the objective of each trial."""
    from sklearn.ensemble import RandomForestRegressor

    count = len(values)
    forest = RandomForestRegressor(n_estimators=trees, random_state=seed, max_samples=min(count, MAX_TREE_SAMPLES),
                                   n_jobs=1)
    forest.fit(encoded.columns, values)
    fractions = np.zeros((trees, len(encoded.names)), dtype=np.float64)
    varied = np.zeros(trees, dtype=np.bool_)
    for t, estimator in enumerate(forest.estimators_):
        total, main = tree_variances(estimator.tree_, encoded.domain)
        if total > 0:
            fractions[t] = main / total
            varied[t] = True
    if not varied.any():
        return ForestImportance(np.zeros(len(encoded.names)), 0.0, trees)
    mean = fractions[varied].mean(axis=0)
    explained = float(mean.sum())
    shares = np.clip(mean / explained, 0.0, 1.0) if explained > 0 else np.zeros_like(mean)
    return ForestImportance(shares, min(explained, 1.0), trees)


def tree_variances(tree: Any, domain: Domain) -> tuple[float, Array]:
    """A fitted sklearn tree's total variance over the domain, and each param's main-effect variance.

    A conditional param is credited with how its value moves the prediction where it is active; how much
    being inactive moves it is the doing of the params its `when` names, so that part goes to them (shared
    equally when it names several). Otherwise a tree that happened to split on "momentum is inactive" instead
    of "optimizer is not sgd" would credit momentum with the optimizer's effect.
    """
    lower, upper = leaf_boxes(tree.children_left, tree.children_right, tree.feature, tree.threshold, domain.low,
                              domain.high)
    leaves = tree.children_left < 0
    lower, upper = lower[leaves], upper[leaves]
    prediction = np.asarray(tree.value, dtype=np.float64).reshape(tree.node_count, -1)[leaves, 0]
    share = domain.inactive_share
    on_inactive = (lower <= domain.low) & (share > 0)  # boxes that hold a conditional param's inactive point
    active_lower, active_upper = np.clip(lower, 0.0, domain.high), np.clip(upper, 0.0, domain.high)
    fraction = share * on_inactive + (1 - share) * (active_upper - active_lower) / domain.high
    volume = fraction.prod(axis=1)
    mean = float(volume @ prediction)
    total = float(volume @ (prediction - mean) ** 2)
    main = np.zeros(len(share), dtype=np.float64)
    for j in range(len(share)):
        if len(np.unique(np.concatenate([lower[:, j], upper[:, j]]))) < 3:
            continue  # the tree never splits on j: its marginal is flat (exactly, not up to rounding)
        with np.errstate(divide="ignore", invalid="ignore"):  # a box of measure 0 in j adds nothing
            others = np.where(fraction[:, j] > 0, volume / fraction[:, j], 0.0) * prediction
        within, inactive = _marginal(active_lower[:, j], active_upper[:, j], others, on_inactive[:, j],
                                     float(share[j]), float(domain.high[j]))
        main[j] += within
        for parent in domain.parents[j]:
            main[parent] += inactive / len(domain.parents[j])
    return total, main


def _marginal(lower: Array, upper: Array, weighted: Array, on_inactive: npt.NDArray[np.bool_], share: float,
              high: float) -> tuple[float, float]:
    """The variance of one param's marginal prediction (the prediction averaged over every other param), as
    (the part over its active range, the part between being inactive and active).

    `weighted`: each box's prediction times its measure in the other params; the marginal over the active
    range is piecewise constant between the boxes' bounds, summed with a difference array.
    """
    cuts = np.unique(np.concatenate([lower, upper, [0.0, high]]))
    steps = np.zeros(len(cuts), dtype=np.float64)
    np.add.at(steps, np.searchsorted(cuts, lower), weighted)
    np.add.at(steps, np.searchsorted(cuts, upper), -weighted)
    marginal = np.cumsum(steps)[:-1]
    width = (1 - share) * np.diff(cuts) / high
    if share >= 1:
        return 0.0, 0.0
    active_mean = float(width @ marginal) / (1 - share)
    within = float(width @ (marginal - active_mean) ** 2)
    if share <= 0:
        return within, 0.0
    at_inactive = float(weighted[on_inactive].sum())
    return within, share * (1 - share) * (at_inactive - active_mean) ** 2


def leaf_boxes(left: npt.NDArray[np.intp], right: npt.NDArray[np.intp], feature: npt.NDArray[np.intp],
               threshold: Array, low: Array, high: Array) -> tuple[Array, Array]:
    """Every node's box (lower and upper bound per param), found a level at a time from the root's [low, high].

    A sample goes left when x[feature] <= threshold, so the left child's upper bound and the right child's
    lower bound in that param are the threshold (clipped into the parent's box).
    """
    nodes = len(left)
    lower = np.empty((nodes, len(low)), dtype=np.float64)
    upper = np.empty((nodes, len(low)), dtype=np.float64)
    lower[0], upper[0] = low, high
    level = np.array([0], dtype=np.intp)
    while level.size:
        split = level[left[level] >= 0]
        if not split.size:
            break
        at, cut = feature[split], threshold[split]
        for children in (left[split], right[split]):
            lower[children], upper[children] = lower[split], upper[split]
        cut = np.clip(cut, lower[split, at], upper[split, at])
        upper[left[split], at] = cut
        lower[right[split], at] = cut
        level = np.concatenate([left[split], right[split]])
    return lower, upper
