"""Swagger UI's files served by the service itself, so /docs renders without reaching a CDN."""

from __future__ import annotations

import flask
from swagger_ui_bundle import swagger_ui_path

from suggest_api.api.access import declare

STATIC_PREFIX = "/docs/static/"
blp = flask.Blueprint("docs_static", __name__)


@blp.get(STATIC_PREFIX + "<path:filename>")
@declare(None)
def swagger_asset(filename: str) -> flask.Response:
    return flask.send_from_directory(str(swagger_ui_path), filename, max_age=86400)
