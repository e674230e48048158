"""The one place where errors become RFC 9457 problem+json responses.

Nothing internal (stack traces, SQL) reaches a body: unexpected errors are logged with the request
id and answered as a generic 500 that carries the id, so an operator can find the log line.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from suggest_api.errors import SuggestError

log = logging.getLogger("suggest_api")
PROBLEM_MIME = "application/problem+json"
RETRY_AFTER_S = 2


def problem(status: int, title: str, detail: str, *, type_: str = "about:blank",
            errors: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> flask.Response:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    request_id = flask.g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    response = flask.jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_MIME
    response.headers.update(headers or {})
    return response


def from_domain(error: SuggestError) -> flask.Response:
    return problem(error.status, error.title, error.detail, type_=error.type, errors=error.errors,
                   headers=error.headers(), **error.extra)


def from_http(error: HTTPException) -> flask.Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or _flatten_webargs(data.get("messages"))
    detail = data.get("message") or _summary(errors) or error.description or error.name
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_response().headers.get("Allow"):
        headers["Allow"] = error.get_response().headers["Allow"]
    if status == 413:
        limit = flask.current_app.config.get("MAX_CONTENT_LENGTH")
        detail = f"the request body is larger than the limit of {limit} bytes; send less per request"
    return problem(status, error.name, detail, errors=errors, headers=headers)


def from_database(error: Exception) -> flask.Response:
    log.warning("database unavailable: %s", type(error).__name__)
    return problem(503, "Service Unavailable", "the database is unreachable or busy; retry shortly",
                   type_="urn:suggest-api:problem:database-unavailable",
                   headers={"Retry-After": str(RETRY_AFTER_S)})


def from_unexpected(error: Exception) -> flask.Response:
    if isinstance(error, HTTPException):
        return from_http(error)
    if isinstance(error, PoolTimeout) or (isinstance(error, DBAPIError) and error.connection_invalidated):
        return from_database(error)
    if isinstance(error, DBAPIError) and _is_operational(error):
        return from_database(error)
    log.exception("unhandled error")
    return problem(500, "Internal Server Error",
                   "the service failed on this request; quote the request_id when reporting it")


def _is_operational(error: DBAPIError) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(error, OperationalError)


def _flatten_webargs(messages: Any) -> dict[str, Any] | None:
    """webargs nests errors by location ({"json": {"count": [...]}}); keep body fields bare."""
    if not isinstance(messages, dict):
        return None
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if not isinstance(fields, dict):
            flat[location] = fields
            continue
        for name, problems in fields.items():
            flat[name if location == "json" else f"{location}.{name}"] = problems
    return flat


def _summary(errors: dict[str, Any] | None) -> str | None:
    if not errors:
        return None
    parts = []
    for name, problems in list(errors.items())[:5]:
        text = problems[0] if isinstance(problems, list) and problems and isinstance(problems[0], str) \
            else str(problems)
        parts.append(f"{name}: {text}")
    return "invalid request: " + "; ".join(parts)


def register(app: flask.Flask) -> None:
    app.register_error_handler(SuggestError, from_domain)
    app.register_error_handler(HTTPException, from_http)
    app.register_error_handler(Exception, from_unexpected)
