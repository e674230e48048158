"""Per-request plumbing shared by the blueprints: the worker's runtime, idempotency keys, answers."""

from __future__ import annotations

import hashlib

import flask

from suggest_api.errors import InvalidInput
from suggest_api.service.runtime import Runtime
from suggest_api.service.transactions import Answer, IdempotencyKey

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
#: Where create_app keeps the worker's Runtime.
EXTENSION = "suggest_api"


def runtime() -> Runtime:
    value: Runtime = flask.current_app.extensions[EXTENSION]
    return value


def idempotency_key() -> IdempotencyKey | None:
    """The request's Idempotency-Key, scoped to team, method and path, fingerprinted by the body."""
    key = flask.request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise InvalidInput(f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters "
                           "(a UUID is a good choice)", errors={IDEMPOTENCY_HEADER: ["invalid key"]})
    fingerprint = hashlib.sha256(flask.request.get_data(cache=True)).hexdigest()
    # Scoped to the team too: another team's request with the same key and path must not replay this answer.
    team = flask.g.principal.team_id
    return IdempotencyKey(f"{team} {flask.request.method} {flask.request.path}", key, fingerprint,
                          ttl_s=runtime().settings.idempotency_ttl)


def respond(answer: Answer) -> flask.Response:
    if answer.body is None:
        response = flask.Response(status=answer.status)
    else:
        response = flask.jsonify(answer.body)
        response.status_code = answer.status
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
