"""create_app(): wires settings, engine, blueprints and error handlers. Nothing connects at import."""

from __future__ import annotations

import logging
import re
import time
import uuid

import flask

from suggest_api import __version__
from suggest_api.api import docs, ops, plugin_docs, problems, studies, trials
from suggest_api.api.blueprint import Api
from suggest_api.api.context import Runtime
from suggest_api.api.strict_json import loads
from suggest_api.config import Settings
from suggest_api.logs import configure as configure_logging
from suggest_api.metrics import LATENCY, REQUESTS
from suggest_api.model_fits import ModelFits
from suggest_api.service import Costly
from suggest_api.storage.database import make_engine, make_sessions, study_lock_file
from suggest_api.storage.migrate import head_revision
from suggest_api.storage.study_locks import StudyLocks
from suggest_api.suggesters.registry import suggesters

log = logging.getLogger("suggest_api.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
BODY_METHODS = {"POST", "PUT", "PATCH"}


def create_app(settings: Settings | None = None) -> flask.Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = flask.Flask("suggest_api")
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
    engine = make_engine(settings.database_url, settings)
    sqlite = engine.dialect.name == "sqlite"
    fits = ModelFits(settings.max_model_fits, settings.model_fit_budget)
    app.extensions["suggest_api"] = Runtime(
        settings, engine, make_sessions(engine), head_revision(),
        costly=Costly(fits),
        study_locks=StudyLocks(study_lock_file(engine), settings.lock_timeout) if sqlite else None)

    api = Api(app)
    for blueprint in (studies.blp, trials.blp, ops.blp):
        api.register_blueprint(blueprint)
    plugin_docs.register(api, suggesters)
    app.register_blueprint(docs.blp)
    problems.register(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    return app


def _start_request() -> flask.Response | None:
    flask.g.started = time.perf_counter()
    incoming = flask.request.headers.get("X-Request-ID", "")
    flask.g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request = flask.request
    if request.method in BODY_METHODS and (request.content_length or request.get_data(cache=True)):
        if not request.is_json:
            return problems.problem(415, "Unsupported Media Type",
                                    "send the body as JSON with the header Content-Type: application/json")
        try:
            flask.g.json_body = loads(request.get_data(cache=True))
        except ValueError as exc:
            reason = getattr(exc, "msg", str(exc))
            return problems.problem(400, "Bad Request", f"the body is not valid JSON: {reason}",
                                    errors={"body": [reason]})
    return None


def _finish_request(response: flask.Response) -> flask.Response:
    endpoint = flask.request.url_rule.rule if flask.request.url_rule else "unmatched"
    elapsed = time.perf_counter() - flask.g.get("started", time.perf_counter())
    REQUESTS.labels(endpoint, flask.request.method, str(response.status_code)).inc()
    LATENCY.labels(endpoint, flask.request.method).observe(elapsed)
    response.headers["X-Request-ID"] = flask.g.get("request_id", "")
    log.info("request", extra={"method": flask.request.method, "path": flask.request.path,
                               "status": response.status_code, "duration_ms": round(elapsed * 1000, 2)})
    return response
