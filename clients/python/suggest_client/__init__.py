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

Define-by-run, as in Optuna: `create_study(name, objective="minimize")` without a space, then an objective
that calls `trial.suggest_float("x", -10, 10)`; the first trials define the space (see `define_by_run`).
An Optuna program keeps its own loop with `suggest_client.optuna.ServiceSampler` (extra `[optuna]`).
"""

from suggest_client import errors
from suggest_client.client import Client
from suggest_client.define_by_run import DeferredStudy
from suggest_client.errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    GridExhausted,
    MultiObjectiveStudy,
    NotFound,
    ProblemError,
    RateLimited,
    SpaceMismatch,
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
    "Client", "Conflict", "ConnectionFailed", "DeferredStudy", "Forbidden", "GridExhausted", "MultiObjectiveStudy",
    "NotFound", "ParetoFront", "ProblemError", "PruneDecision", "RateLimited", "SpaceMismatch", "Study",
    "SuggestError", "Trial", "TrialContext", "TrialPruned", "Unauthorized", "Unavailable", "ValidationError", "errors",
]
