"""Serves the dashboard's files: /ui (the page) and /ui/static/<path> (its scripts, styles, the chart library).

These routes are public because they hold no data: every number the page shows comes from /v1, fetched
by the browser with the user's key. The Content-Security-Policy lets the page load nothing from another
origin and run no inline script, so a study name or metadata value that smuggles markup cannot execute.
"""

from __future__ import annotations

from pathlib import Path

import flask

from suggest_api.api.access import declare

STATIC = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'")

blp = flask.Blueprint("ui", __name__)


@blp.get("/ui")
@blp.get("/ui/")
@declare(None)
def index() -> flask.Response:
    return _revalidated(flask.send_from_directory(STATIC, "index.html"))


@blp.get("/ui/static/<path:filename>")
@declare(None)
def asset(filename: str) -> flask.Response:
    return _revalidated(flask.send_from_directory(STATIC, filename))


def _revalidated(response: flask.Response) -> flask.Response:
    """Cached, but checked (ETag) on every load: an upgraded service never runs last version's scripts."""
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.after_request
def _secure(response: flask.Response) -> flask.Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
