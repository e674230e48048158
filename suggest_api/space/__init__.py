"""The search space: parameter value classes, the space and its unit-cube encoding, the JSON parser.

- params.py: FloatParam, IntParam, CategoricalParam (bounds, steps, one param's columns of the cube)
- search_space.py: SearchSpace (the params side by side, encode/decode, validating a trial's params)
- parse.py: the JSON form (`FORMS`) and its parser, every problem keyed by its JSON path
- schema.py: the OpenAPI components, rendered from `FORMS`
"""

from suggest_api.space.params import (
    MAX_INT_MAGNITUDE,
    MAX_LOG_INT,
    MAX_STEP_RESOLUTION,
    MAX_STEPS,
    STEP_TOLERANCE,
    CategoricalParam,
    FloatParam,
    IntParam,
    Param,
    Unit,
    Value,
)
from suggest_api.space.search_space import SearchSpace, sample_uniform

__all__ = [
    "MAX_INT_MAGNITUDE", "MAX_LOG_INT", "MAX_STEPS", "MAX_STEP_RESOLUTION", "STEP_TOLERANCE",
    "CategoricalParam", "FloatParam", "IntParam", "Param", "SearchSpace", "Unit", "Value", "sample_uniform",
]
