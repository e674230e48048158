"""Python client for suggest_api: create studies, ask for trials, train, tell results.

    from suggest_client import Client

    study = Client("http://127.0.0.1:8000").create_study(
        "lr-sweep", {"params": [{"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True}]},
        objective="minimize", suggester="bayesian")
    with study.trial() as trial:
        trial.value = train(**trial.params)

Several objectives: `create_study(..., objectives=[("accuracy", "maximize"), ("latency_ms", "minimize")])`,
tell `values={"accuracy": ..., "latency_ms": ...}` (or return that dict from an `optimize` objective),
and read `study.pareto()`.
"""

from suggest_client import errors
from suggest_client.client import Client
from suggest_client.errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    GridExhausted,
    MultiObjectiveStudy,
    NotFound,
    ProblemError,
    RateLimited,
    SuggestError,
    TrialPruned,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from suggest_client.study import ParetoFront, Study
from suggest_client.trial import PruneDecision, Trial, TrialContext
from suggest_client.version import __version__ as __version__

__all__ = [
    "Client", "Conflict", "ConnectionFailed", "Forbidden", "GridExhausted", "MultiObjectiveStudy", "NotFound",
    "ParetoFront", "ProblemError", "PruneDecision", "RateLimited", "Study", "SuggestError", "Trial", "TrialContext",
    "TrialPruned", "Unauthorized", "Unavailable", "ValidationError", "errors",
]
