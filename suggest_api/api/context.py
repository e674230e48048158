"""Per-request plumbing shared by the blueprints: the app's runtime, idempotency keys, replies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from suggest_api.config import Settings
from suggest_api.errors import InvalidInput
from suggest_api.service import Costly, IdempotencyKey, Reply
from suggest_api.storage.study_locks import StudyLocks

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass
class Runtime:
    """What create_app builds once per worker process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    head_revision: str | None
    costly: Costly
    #: SQLite only: costly asks of one study take turns outside the database's write lock.
    study_locks: StudyLocks | None
    shutting_down: bool = False


def runtime() -> Runtime:
    value: Runtime = flask.current_app.extensions["suggest_api"]
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


def respond(reply: Reply) -> flask.Response:
    if reply.body is None:
        response = flask.Response(status=reply.status)
    else:
        response = flask.jsonify(reply.body)
        response.status_code = reply.status
    if reply.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
