"""The Blueprint and Api classes every resource uses: strict JSON in, problem+json errors documented."""

from __future__ import annotations

import http

import flask_smorest
from flask_smorest.spec import prepare_response

from suggest_api.api.problems import PROBLEM_MIME
from suggest_api.api.schemas import ProblemOut
from suggest_api.api.strict_json import StrictParser


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemOut

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
