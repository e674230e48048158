"""create_app(): wires settings, engine, blueprints and error handlers. Nothing connects at import."""

from __future__ import annotations

import logging
import re
import time
import uuid

import flask

from suggest_api import __version__
from suggest_api.api import (
    access,
    accounts,
    conditional,
    docs,
    importance,
    ops,
    plugin_docs,
    problems,
    studies,
    transfer,
    trials,
)
from suggest_api.api.blueprint import Api
from suggest_api.api.context import EXTENSION
from suggest_api.api.schemas import COMPONENTS, document_rules
from suggest_api.api.strict_json import BodyRefused, check_charset, loads
from suggest_api.config import IMPORT_PATH, Settings, body_limit
from suggest_api.logs import configure as configure_logging
from suggest_api.metrics import LATENCY, REQUESTS
from suggest_api.service.runtime import Runtime
from suggest_api.space.schema import space_components
from suggest_api.suggesters.registry import suggesters
from suggest_api.ui import blueprint as dashboard

#: One JSON line per request (method, path, status, duration): the access log, beside the service's own lines.
request_log = logging.getLogger("suggest_api.request_log")
startup_log = logging.getLogger("suggest_api")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
BODY_METHODS = {"POST", "PUT", "PATCH"}


def create_app(settings: Settings | None = None) -> flask.Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = flask.Flask("suggest_api", static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.limits.max_body_bytes,
        API_TITLE="suggest_api",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=docs.STATIC_PREFIX,
        API_SPEC_OPTIONS={"info": {"description": "Suggests hyperparameters: create a study, ask for trials, "
                                                  "train on your hardware, tell the result."}},
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = Runtime.start(settings)

    api = Api(app, components={**COMPONENTS, **space_components(settings.limits),
                               transfer.STUDY_DOCUMENT: transfer.document_component(settings.limits)})
    for blueprint in (studies.blp, trials.blp, importance.blp, transfer.blp, accounts.blp, ops.blp):
        api.register_blueprint(blueprint)
    plugin_docs.register(api.spec, suggesters)
    document_rules(api.spec, settings.limits)
    app.register_blueprint(docs.blp)
    app.register_blueprint(dashboard.blp)  # /ui: static files only, not in the OpenAPI document
    for endpoint in ("api-docs.openapi_json", "api-docs.openapi_swagger_ui"):
        access.mark_public(app, endpoint)
    problems.register(app)
    # In this order: who is asking (request id), may they (key, role), how often (rate), what (the body).
    app.before_request(_start_request)
    app.before_request(access.authorize)
    if settings.rate_limit:
        _limit_rate(app, settings)
    app.before_request(_parse_body)
    app.after_request(_finish_request)
    app.after_request(conditional.tag_and_match)  # runs before _finish_request, which then logs a 304 as one
    if settings.auth == "off":
        startup_log.warning("SUGGEST_AUTH=off: every request acts as an admin of the team 'default', without a key; "
                            "set SUGGEST_AUTH=required before anyone else can reach this service")
    return app


def _limit_rate(app: flask.Flask, settings: Settings) -> None:
    """Per-key request rate (per address without a key), counted in the shared store (Redis), so the
    limit holds across workers and replicas. If the store is unreachable, requests pass (logged)."""
    from flask_limiter import Limiter

    Limiter(access.rate_limit_key, app=app, default_limits=[settings.rate_limit],
            storage_uri=settings.rate_limit_storage, strategy="moving-window", headers_enabled=True,
            swallow_errors=True, key_prefix="suggest-api",
            default_limits_exempt_when=lambda: flask.g.get("principal") is None)


def _start_request() -> None:
    flask.g.started = time.perf_counter()
    incoming = flask.request.headers.get("X-Request-ID", "")
    flask.g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _parse_body() -> flask.Response | None:
    """Read every body once, strictly (api/strict_json.py), before any view: a refusal is the answer."""
    request = flask.request
    if request.routing_exception is not None:
        return None  # no such route or method: its 404 or 405 says more than anything about the body
    if request.path == IMPORT_PATH:  # the one route whose limit is not the app's MAX_CONTENT_LENGTH
        limits = flask.current_app.extensions[EXTENSION].settings.limits
        request.max_content_length = body_limit(request.method, request.path, max_body_bytes=limits.max_body_bytes,
                                                max_import_bytes=limits.max_import_bytes)
    if request.method in BODY_METHODS and (request.content_length or request.get_data(cache=True)):
        if not request.is_json:
            return problems.problem(415, "Unsupported Media Type",
                                    "send the body as JSON with the header Content-Type: application/json")
        try:
            check_charset(request.mimetype_params)
            flask.g.json_body = loads(request.get_data(cache=True))
        except BodyRefused as exc:
            title = "Unsupported Media Type" if exc.status == 415 else "Bad Request"
            return problems.problem(exc.status, title, exc.detail, errors=exc.errors)
    return None


def _finish_request(response: flask.Response) -> flask.Response:
    endpoint = flask.request.url_rule.rule if flask.request.url_rule else "unmatched"
    elapsed = time.perf_counter() - flask.g.get("started", time.perf_counter())
    REQUESTS.labels(endpoint, flask.request.method, str(response.status_code)).inc()
    LATENCY.labels(endpoint, flask.request.method).observe(elapsed)
    response.headers["X-Request-ID"] = flask.g.get("request_id", "")
    request_log.info("request", extra={"method": flask.request.method, "path": flask.request.path,
                               "status": response.status_code, "duration_ms": round(elapsed * 1000, 2)})
    return response
