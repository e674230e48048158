"""Domain errors: raised anywhere below the API, turned into problem+json in one place (api/problems.py).

Each carries an HTTP status and a stable problem `type` so clients can branch on it without parsing text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

PROBLEM_TYPE_PREFIX = "urn:suggest-api:problem:"


class SuggestError(Exception):
    """Base of every error a client can cause or must know about."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, errors: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = dict(errors) if errors else None
        self.extra = dict(extra) if extra else {}

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.slug

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries besides the problem body."""
        retry_after = getattr(self, "retry_after_s", None)
        return {"Retry-After": str(retry_after)} if retry_after is not None else {}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with everything (model fits run in another process and send their errors back)."""
        return _rebuild, (type(self), self.detail, self.errors, self.extra)


def _rebuild(kind: type[SuggestError], detail: str, errors: Mapping[str, Any] | None,
             extra: Mapping[str, Any] | None) -> SuggestError:
    return kind(detail, errors=errors, extra=extra)


class Unauthorized(SuggestError):
    """No valid key: missing, malformed, unknown or revoked."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="suggest-api"'}


class Forbidden(SuggestError):
    """A valid key whose role does not allow this operation."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"


class QuotaExceeded(Forbidden):
    """The team's quota does not allow this, however long the caller waits; `extra` names the quota."""

    slug = "quota-exceeded"
    title = "Quota exceeded"


class RunningTrialsQuota(SuggestError):
    """The study runs as many trials as its team's quota allows: one must finish before another starts."""

    status = 429
    slug = "running-trials-quota"
    title = "Too many running trials"
    retry_after_s: ClassVar[int] = 5


class NotFound(SuggestError):
    status = 404
    slug = "not-found"
    title = "Not found"


class NoCompletedTrial(NotFound):
    """A study exists but has no completed trial, so it has no best: a type of its own, so clients
    can tell it from a missing study without parsing the message."""

    slug = "no-completed-trial"
    title = "No completed trial"


class Conflict(SuggestError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class InvalidInput(SuggestError):
    """The request is well-formed JSON but its content is wrong; `errors` names the fields."""

    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class InvalidSpace(InvalidInput):
    slug = "invalid-space"
    title = "Invalid search space"


class InvalidParams(InvalidInput):
    slug = "invalid-params"
    title = "Parameters do not fit the search space"


class IdempotencyKeyReused(InvalidInput):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


class Unavailable(SuggestError):
    """Try again later: the answer carries Retry-After (seconds)."""

    status = 503
    slug = "unavailable"
    title = "Service unavailable"
    retry_after_s: ClassVar[int] = 1


class ModelBusy(Unavailable):
    """This worker already runs as many model fits as it may; another worker, or this one shortly, can."""

    slug = "model-busy"
    title = "Model fits busy"


class GridExhausted(Conflict):
    """Every point of a grid study has been handed out; `extra` carries the grid's size."""

    slug = "grid-exhausted"
    title = "Grid exhausted"


class ReportLimit(Conflict):
    """A trial holds as many reports as the service keeps per trial; `extra` carries the limit."""

    slug = "report-limit"
    title = "Report limit reached"


class ExportTooLarge(Conflict):
    """The study holds more rows than an export over HTTP answers; `extra` carries the count and the limit."""

    slug = "export-too-large"
    title = "Study too large to export over HTTP"


class MultiObjective(Conflict):
    """The study has several objectives, so it has no single best trial: its answer is the Pareto front."""

    slug = "multi-objective"
    title = "Study has several objectives"


class TooFewTrials(Conflict):
    """Importance needs completed trials whose values differ; `extra` says how many it needs and has."""

    slug = "too-few-trials"
    title = "Too few trials"
