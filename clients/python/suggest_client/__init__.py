"""Python client for suggest_api: create studies, ask for trials, train, tell results.

    from suggest_client import Client

    study = Client("http://127.0.0.1:8000").create_study(
        "lr-sweep", {"params": [{"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True}]},
        objective="minimize", suggester="bayesian")
    with study.trial() as trial:
        trial.value = train(**trial.params)
"""

__version__ = "0.1.0"

from suggest_client import errors
from suggest_client.client import Client
from suggest_client.errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    GridExhausted,
    NotFound,
    ProblemError,
    RateLimited,
    SuggestError,
    TrialPruned,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from suggest_client.study import Study, Trial, TrialContext

__all__ = [
    "Client", "Conflict", "ConnectionFailed", "Forbidden", "GridExhausted", "NotFound", "ProblemError", "RateLimited",
    "Study", "SuggestError", "Trial", "TrialContext", "TrialPruned", "Unauthorized", "Unavailable", "ValidationError",
    "errors",
]
