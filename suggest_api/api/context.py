"""Per-request plumbing shared by the blueprints: the worker's runtime, idempotency keys, answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import flask
import marshmallow as ma

from suggest_api.errors import InvalidInput
from suggest_api.paging import Page
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


def page_answer(key: str, page: Page[Any], render: ma.Schema | Callable[[Any], Any],
                extra: Mapping[str, Any] | None = None) -> flask.Response:
    """A listing's answer, `{key: [...], "next_cursor"}`: its items until their JSON passes the worker's
    `max_page_bytes` (one item at least), so no page is larger than that however big its items are. A page
    cut short continues, through its `next_cursor`, right after its last item."""
    budget = runtime().settings.limits.max_page_bytes
    dump = render.dump if isinstance(render, ma.Schema) else render
    parts: list[str] = []
    size = 0
    for item in page.items:
        text = json.dumps(dump(item), separators=(",", ":"))
        if parts and size + len(text) > budget:
            break
        parts.append(text)
        size += len(text) + 1
    page = page.first(len(parts))
    more = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in (extra or {}).items())
    body = f'{{{json.dumps(key)}:[{",".join(parts)}],"next_cursor":{json.dumps(page.next_cursor)}{more}}}'
    return flask.Response(body, mimetype="application/json")
