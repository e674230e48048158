"""The Blueprint and Api classes every resource uses: strict JSON in, problem+json errors documented."""

from __future__ import annotations

import http
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import flask_smorest
from flask_smorest.spec import prepare_response

from suggest_api.accounts import Role
from suggest_api.api.access import declare
from suggest_api.api.context import IDEMPOTENCY_HEADER, MAX_KEY_LENGTH
from suggest_api.api.problems import PROBLEM_MIME
from suggest_api.api.schemas import ProblemOut
from suggest_api.api.strict_json import StrictParser

F = TypeVar("F", bound=Callable[..., Any])
BEARER_AUTH = "bearerAuth"

#: Documents the header that makes a POST safe to retry (`@blp.doc(parameters=[IDEMPOTENCY_KEY])`).
IDEMPOTENCY_KEY: dict[str, Any] = {
    "in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
    "description": "Makes a retry safe: a request repeated with the same key (and the same body) answers "
                   "the first answer again, with `Idempotent-Replayed: true`, and creates nothing new. "
                   "The same key with another body is refused (422). A UUID is a good choice.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
}


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def access(self, needed: Role | None) -> Callable[[F], F]:
        """Who may call the view: a role (and above), or None for public. Enforced by api/access.py (a view
        without this is refused to everyone) and documented: the operation's security and its 401/403."""
        def decorate(view: F) -> F:
            view = declare(needed)(view)
            if needed is None:
                return self.doc(security=[])(view)  # type: ignore[no-any-return]
            view = self.doc(security=[{BEARER_AUTH: []}])(view)
            view = self.alt_response(401, description="No valid API key: none, malformed, unknown or revoked "
                                                      "(`urn:suggest-api:problem:unauthorized`).",
                                     headers={"WWW-Authenticate": {"schema": {"type": "string"}}})(view)
            return self.alt_response(  # type: ignore[no-any-return]
                403, description=f"The key's role is below {needed.value} (`urn:suggest-api:problem:forbidden`), "
                                 "or a quota of the team does not allow this "
                                 "(`urn:suggest-api:problem:quota-exceeded`, with `quota` and `limit`).")(view)
        return decorate

    def alt_response(self, status_code: int, response: str | None = None, *, schema: Any = None,
                     content_type: str | None = None, **kwargs: Any) -> Any:
        """As flask-smorest's, but an error status given without a schema is documented with the body
        every error has: a problem+json document (ProblemOut)."""
        if response is None and schema is None and int(status_code) >= 400:
            schema, content_type = ProblemOut, content_type or PROBLEM_MIME
        return super().alt_response(status_code, response, schema=schema, content_type=content_type, **kwargs)


def documented_as(converter: Any, field: Any, ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: a field whose metadata has "openapi" is documented as exactly that
    schema, replacing what apispec derived from the field (a `$ref` to a shared component, a union)."""
    schema = field.metadata.get("openapi")
    if schema is None:
        return {}
    ret.clear()
    return dict(schema)


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemOut

    def __init__(self, app: Any, *, components: Mapping[str, Mapping[str, Any]]) -> None:
        """`components`: shared schemas that fields refer to by name (their metadata's "openapi")."""
        self._components = dict(components)
        super().__init__(app)

    def _init_spec(self, **kwargs: Any) -> None:
        """As flask-smorest's, plus the shared components and the "openapi" field override."""
        super()._init_spec(**kwargs)
        self.ma_plugin.converter.add_attribute_function(documented_as)
        for name, schema in self._components.items():
            self.spec.components.schema(name, dict(schema))
        self.spec.components.security_scheme(BEARER_AUTH, {
            "type": "http", "scheme": "bearer",
            "description": "A team's API key (`sapi_...`). Not needed when the service runs with SUGGEST_AUTH=off."})

    def _register_pagination_header(self) -> None:
        """Nothing: lists page with `next_cursor` in the body, not flask-smorest's header pagination."""

    def _register_responses(self) -> None:
        """As flask-smorest's, but error responses are documented as application/problem+json."""
        for status in http.HTTPStatus:
            response: dict[str, object] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIME)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Error (RFC 9457 problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_MIME)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)
