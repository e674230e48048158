"""Liveness, readiness and metrics for orchestrators and Prometheus."""

from __future__ import annotations

import flask
from flask.views import MethodView
from sqlalchemy import text

from suggest_api.api.blueprint import Blueprint
from suggest_api.api.context import runtime
from suggest_api.api.problems import problem
from suggest_api.api.schemas import HealthOut, ReadyOut
from suggest_api.metrics import exposition
from suggest_api.storage.migrate import current_revision

blp = Blueprint("ops", __name__, description="Health, readiness and metrics.")


@blp.route("/healthz")
class Health(MethodView):
    @blp.access(None)
    @blp.doc(operationId="healthz")
    @blp.response(200, HealthOut)
    def get(self) -> flask.Response:
        """Liveness: the process answers (never touches the database)"""
        return flask.jsonify(status="ok")


@blp.route("/readyz")
class Ready(MethodView):
    @blp.access(None)
    @blp.doc(operationId="readyz")
    @blp.response(200, ReadyOut)
    @blp.alt_response(503, description="Shutting down, database unreachable, or schema not migrated.",
                      headers={"Retry-After": {"description": "Seconds to wait before asking again "
                                                              "(absent when the schema is not migrated).",
                                               "schema": {"type": "string", "pattern": "^[0-9]+$"}}})
    def get(self) -> flask.Response:
        """Readiness: the database answers and its schema is at this version's migration head"""
        rt = runtime()
        if rt.shutting_down:
            return problem(503, "Service Unavailable", "this worker is shutting down", headers={"Retry-After": "1"})
        try:
            with rt.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                revision = current_revision(connection)
        except Exception:  # any failure to reach the database means "not ready", never a 500
            return problem(503, "Service Unavailable", "the database is unreachable", headers={"Retry-After": "2"})
        if revision != rt.head_revision:
            return problem(503, "Service Unavailable",
                           f"the database schema is at {revision!r}, this service needs {rt.head_revision!r}; "
                           "run `suggest-api migrate`")
        return flask.jsonify(status="ready", revision=revision)


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.access(None)
    @blp.doc(operationId="metrics")
    @blp.response(200, {"type": "string"}, content_type="text/plain",
                  description="Prometheus text exposition format.")
    def get(self) -> flask.Response:
        """Prometheus metrics of every worker of this server"""
        body, content_type = exposition()
        return flask.Response(body, content_type=content_type)
