"""Access control for every request: deny by default.

Each view declares who may call it, `@blp.access(Role.MEMBER)` or `@blp.access(None)` for public
ones (health, readiness, metrics, the API docs). Before any view runs, `authorize` finds the
declaration of the matched view and method: none declared is refused (403), so an endpoint that
forgets to say who may call it is closed, not open. A protected endpoint authenticates the key
(SUGGEST_AUTH=required) or acts as the implicit team (off), then checks the key's role.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import flask

from suggest_api.accounts import Principal, Role
from suggest_api.api.context import runtime
from suggest_api.errors import Forbidden
from suggest_api.service import accounts

log = logging.getLogger("suggest_api")
F = TypeVar("F", bound=Callable[..., Any])

ACCESS_ATTRIBUTE = "__suggest_access__"
PUBLIC = "public"
#: Declared by a view: a role it needs, or PUBLIC.
Declared = Role | str


def declare(needed: Role | None) -> Callable[[F], F]:
    """Mark a view function: the role it needs, or None for public (no key, and no team data)."""
    def mark(view: F) -> F:
        setattr(view, ACCESS_ATTRIBUTE, PUBLIC if needed is None else needed)
        return view
    return mark


def mark_public(app: flask.Flask, endpoint: str) -> None:
    """Declare a view we do not own (flask-smorest's OpenAPI document and Swagger UI) public."""
    view = app.view_functions[endpoint]

    def public_view(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    setattr(public_view, ACCESS_ATTRIBUTE, PUBLIC)
    app.view_functions[endpoint] = public_view


def declared(view: Callable[..., Any], method: str) -> Declared | None:
    """What the view serving `method` declares (a MethodView declares per method), or None."""
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        handler = getattr(view_class, method.lower(), None)
        if handler is None and method == "HEAD":
            handler = getattr(view_class, "get", None)
        return getattr(handler, ACCESS_ATTRIBUTE, None) if handler is not None else None
    found: Declared | None = getattr(view, ACCESS_ATTRIBUTE, None)
    return found


def authorize() -> None:
    """before_request: refuse what the caller may not do, and remember who the caller is."""
    request = flask.request
    if request.endpoint is None or request.routing_exception is not None or request.method == "OPTIONS":
        return  # 404, 405, or the automatic OPTIONS answer: nothing of a team's is reached
    needed = declared(flask.current_app.view_functions[request.endpoint], request.method)
    if needed is None:
        log.error("endpoint %s %s declares no access rule; refused", request.method, request.endpoint)
        raise Forbidden("this endpoint declares no access rule, so it is refused to everyone")
    if needed == PUBLIC:
        return
    rt = runtime()
    if rt.settings.auth == "off":
        who = accounts.implicit_principal(rt.transactions, rt.settings)
    else:
        who = accounts.authenticate(rt.transactions, rt.settings, request.headers.get("Authorization"))
    flask.g.principal = who
    if isinstance(needed, Role) and not who.role.allows(needed):
        raise Forbidden(f"this needs a key with the {needed.value} role or above; "
                        f"key {who.key_id} has the {who.role.value} role")


def principal() -> Principal:
    """The caller of the current request (set by `authorize` for every protected view)."""
    who: Principal = flask.g.principal
    return who


def rate_limit_key() -> str:
    """flask-limiter's key: the caller's key id, or its address when it has none."""
    who: Principal | None = flask.g.get("principal")
    if who is not None and who.key_id is not None:
        return "key:" + who.key_id
    return "addr:" + (flask.request.remote_addr or "unknown")
