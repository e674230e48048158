"""The study's quasi-random (Sobol) sequence: the initial design of the model-based suggesters.

Point i of a study's sequence depends only on (seed, i), and model-based suggesters take point
`made + j` for the j-th trial of an ask, so eight workers asking at once still spread over the cube.
The sequence has one coordinate per param, not per cube column: a categorical takes choice
floor(u * k) of its coordinate u, so its choices are stratified like any number (an argmax over k
Sobol columns is not), and a space of 25 categoricals of 1,000 choices needs 25 Sobol dimensions,
not 25,000 (scipy's Sobol stops at 21,201).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

from suggest_api.space import CategoricalParam, SearchSpace, Unit

#: Mixed into the seed so the Sobol scramble is not correlated with the per-trial generators.
_SALT = 0x50B01


def sobol_points(space: SearchSpace, seed: int, start: int, count: int) -> Unit:
    """Points `start` .. `start + count - 1` of the study's scrambled Sobol sequence, in the space's cube:
    shape (count, space.dimension), one-hot for categoricals."""
    coordinates = _sequence(len(space.params), seed, start, count)
    cube = np.empty((count, space.dimension), dtype=np.float64)
    for column, (param, cols) in enumerate(zip(space.params, space.slices().values(), strict=True)):
        u = coordinates[:, column]
        if isinstance(param, CategoricalParam):
            k = len(param.choices)
            cube[:, cols] = 0.0
            cube[np.arange(count), cols.start + np.minimum((u * k).astype(np.intp), k - 1)] = 1.0
        else:
            cube[:, cols.start] = u
    return cube


def _sequence(dimension: int, seed: int, start: int, count: int) -> Unit:
    generator = np.random.default_rng([seed, _SALT])
    if dimension > qmc.Sobol.MAXDIM:  # only with SUGGEST_MAX_PARAMS raised far beyond any real space
        return np.random.default_rng([seed, _SALT, start]).random((count, dimension))
    engine = qmc.Sobol(d=dimension, scramble=True, seed=generator)
    with warnings.catch_warnings():
        # scipy warns that sample sizes other than powers of two lose balance; the sequence is consumed
        # a few points per ask, so its prefix is what matters, and any prefix is well spread.
        warnings.simplefilter("ignore", UserWarning)
        if start:
            engine.fast_forward(start)
        return np.asarray(engine.random(count), dtype=np.float64)
