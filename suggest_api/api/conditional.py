"""Conditional GET: every JSON read under /v1 carries an ETag, and a matching If-None-Match gets 304.

Why: a dashboard (or a script) that polls a study every few seconds should cost one short answer while
nothing changed, not a full document. The tag is a hash of the answer's bytes, so it is the same from
every worker and replica and changes exactly when the answer does; the answer still depends on the key,
hence `Vary: Authorization`, and `no-cache, private` keeps shared caches from storing a team's data.
"""

from __future__ import annotations

import flask

READ_METHODS = {"GET", "HEAD"}
API_PREFIX = "/v1/"


def tag_and_match(response: flask.Response) -> flask.Response:
    """Add the ETag to a complete 200 JSON read, and turn it into a 304 when the caller holds that tag."""
    request = flask.request
    if (request.method not in READ_METHODS or not request.path.startswith(API_PREFIX)
            or response.status_code != 200 or response.is_streamed or response.mimetype != "application/json"):
        return response
    response.headers["Cache-Control"] = "no-cache, private"
    response.vary.add("Authorization")
    response.add_etag()
    response.make_conditional(request)  # turns `response` itself into the 304 when the tag matches
    return response
