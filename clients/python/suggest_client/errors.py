"""Typed exceptions for the service's problem+json answers, so callers branch on classes, not text.

Every error the service sends is RFC 9457 problem details: `{type, title, status, detail, errors?}`.
`from_problem` picks the most specific class by problem `type`, then by HTTP status; the message is
always the service's own `detail`, which says what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROBLEM_PREFIX = "urn:suggest-api:problem:"


class SuggestError(Exception):
    """Base of every error this client raises."""


class ConnectionFailed(SuggestError):
    """The service could not be reached (or kept failing) after every retry."""


class TrialPruned(Exception):
    """Raised by an objective to stop a trial early; the trial is told `pruned`, not `failed`.

    Give it the service's reason, so whoever catches it can say why: `raise TrialPruned(trial.prune_reason)`.
    Not a SuggestError: it is a signal from the caller's code, not something the service said.
    """


class SpaceMismatch(ValueError):
    """A `trial.suggest_*` call does not match the study's search space: another type, bounds, log, step or
    choices; a param the space lacks; or one its `when` leaves inactive in this trial. The message names the
    param and says what to change. Not a SuggestError: the service said nothing, the calling code differs
    from the study."""


class ProblemError(SuggestError):
    """The service answered with a problem; the fields are the problem's."""

    status: int = 0

    def __init__(self, status: int, detail: str, *, type: str = "about:blank", title: str = "",
                 errors: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type
        self.title = title
        self.errors: dict[str, Any] = dict(errors or {})
        self.body: dict[str, Any] = dict(body or {})

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}" if self.title else f"{self.status}: {self.detail}"


class BadRequest(ProblemError):
    """400: the request is not valid JSON, or not the shape the endpoint takes."""


class Unauthorized(ProblemError):
    """401: no token, or one the service does not know."""


class Forbidden(ProblemError):
    """403: the token may not do this."""


class NotFound(ProblemError):
    """404: no such study or trial."""


class Conflict(ProblemError):
    """409: the study or trial is in a state that refuses this request."""


class GridExhausted(Conflict):
    """409: a grid study has handed out every point; `grid_size` says how many there were."""

    @property
    def grid_size(self) -> int | None:
        value = self.body.get("grid_size")
        return value if isinstance(value, int) else None


class MultiObjectiveStudy(Conflict):
    """409: the study has several objectives, so it has no single best trial; read `study.pareto()` instead."""


class PayloadTooLarge(ProblemError):
    """413: the request body is over the service's limit."""


class ValidationError(ProblemError):
    """422: the content is wrong; `errors` maps each wrong field to what is wrong with it."""


class IdempotencyKeyReused(ValidationError):
    """422: an Idempotency-Key was sent again with a different request."""


class RateLimited(ProblemError):
    """429: too many requests; retried automatically, raised once retries run out."""


class Unavailable(ProblemError):
    """503: the service or its database is unavailable; retried automatically first."""


class ServerError(ProblemError):
    """Any other 5xx: a fault in the service (quote the problem's request_id when reporting it)."""


_BY_TYPE: dict[str, type[ProblemError]] = {
    PROBLEM_PREFIX + "grid-exhausted": GridExhausted,
    PROBLEM_PREFIX + "idempotency-key-reused": IdempotencyKeyReused,
    PROBLEM_PREFIX + "multi-objective": MultiObjectiveStudy,
}
_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 422: ValidationError, 429: RateLimited, 503: Unavailable,
}


def from_problem(status: int, body: Any) -> ProblemError:
    """The exception for an error answer; `body` is its parsed JSON, or None when it was not JSON."""
    problem: dict[str, Any] = body if isinstance(body, dict) else {}
    kind = problem.get("type")
    if not isinstance(kind, str):
        kind = "about:blank"
    cls = _BY_TYPE.get(kind) or _BY_STATUS.get(status) or (ServerError if status >= 500 else ProblemError)
    detail = problem.get("detail")
    errors = problem.get("errors")
    return cls(status, detail if isinstance(detail, str) else f"HTTP {status}", type=kind,
               title=str(problem.get("title") or ""), errors=errors if isinstance(errors, dict) else None,
               body=problem)

