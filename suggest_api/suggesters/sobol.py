"""The study's quasi-random (Sobol) sequence: the initial design of the model-based suggesters.

Point i of a study's sequence depends only on (seed, i), and model-based suggesters take point
`made + j` for the j-th trial of an ask, so eight workers asking at once still spread over the cube.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

from suggest_api.space import Unit

#: Mixed into the seed so the Sobol scramble is not correlated with the per-trial generators.
_SALT = 0x50B01


def sobol_points(dimension: int, seed: int, start: int, count: int) -> Unit:
    """Points `start` .. `start + count - 1` of the study's scrambled Sobol sequence, shape (count, dimension)."""
    engine = qmc.Sobol(d=dimension, scramble=True, seed=np.random.default_rng([seed, _SALT]))
    with warnings.catch_warnings():
        # scipy warns that sample sizes other than powers of two lose balance; the sequence is consumed
        # a few points per ask, so its prefix is what matters, and any prefix is well spread.
        warnings.simplefilter("ignore", UserWarning)
        if start:
            engine.fast_forward(start)
        return np.asarray(engine.random(count), dtype=np.float64)
