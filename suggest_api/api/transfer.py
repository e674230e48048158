"""Export a study as one document, and import such a document as a study (service.transfer)."""

from __future__ import annotations

from typing import Any

import flask
from flask.views import MethodView
from marshmallow import fields

from suggest_api.accounts import Role
from suggest_api.api import links
from suggest_api.api.access import principal
from suggest_api.api.blueprint import IDEMPOTENCY_KEY, Blueprint
from suggest_api.api.context import idempotency_key, respond, runtime
from suggest_api.api.schemas import STUDY_OUT, Strict, StudyOut
from suggest_api.config import Limits
from suggest_api.errors import InvalidInput
from suggest_api.names import name_pattern
from suggest_api.service import transfer
from suggest_api.service.studies import MAX_CONSTRAINTS, MAX_OBJECTIVES
from suggest_api.service.study_document import FORMAT, SOURCES, VERSION
from suggest_api.service.transactions import Answer
from suggest_api.service.transfer import Imported
from suggest_api.space.schema import SEARCH_SPACE, ref

blp = Blueprint("transfer", __name__, url_prefix="/v1",
                description="Move a whole study between services, teams or files: export and import.")

STUDY_DOCUMENT = "StudyDocument"
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_NUMBER = {"type": "number"}


def document_component(limits: Limits) -> dict[str, Any]:
    """The OpenAPI schema of a study document (what export answers and import takes), for /docs."""
    report = {"type": "object", "required": ["step", "value"], "properties": {
        "step": {"type": "integer", "minimum": 0}, "value": _NUMBER, "best": {"type": ["number", "null"]},
        "prune": {"type": ["boolean", "null"]}, "reason": {"type": ["string", "null"]},
        "rung": {"type": ["integer", "null"], "minimum": 0}, "created_at": _NULLABLE_TIME}}
    rung = {"type": "object", "required": ["rung", "value"], "properties": {
        "rung": {"type": "integer", "minimum": 0}, "value": _NUMBER, "created_at": _NULLABLE_TIME}}
    trial = {"type": "object", "required": ["number", "state", "params", "created_at"], "properties": {
        "number": {"type": "integer", "minimum": 0}, "state": ref("TrialState"), "params": {"type": "object"},
        "value": {"type": ["number", "null"]},
        "values": {"type": ["object", "null"], "additionalProperties": _NUMBER},
        "feasible": {"type": ["boolean", "null"]}, "created_at": _TIME, "finished_at": _NULLABLE_TIME,
        "heartbeat_at": _NULLABLE_TIME, "fail_reason": {"type": ["string", "null"]},
        "client_id": {"type": ["string", "null"]}, "source": {"type": "string", "enum": list(SOURCES)},
        "metadata": {"type": ["object", "null"]},
        "intermediate": {"type": "array", "items": report, "maxItems": limits.max_reports},
        "rungs": {"type": "array", "items": rung, "maxItems": limits.max_reports}}}
    study = {"type": "object", "required": ["name", "space", "suggester", "seed", "heartbeat_timeout", "created_at"],
             "description": "The study's definition, as POST /v1/studies takes it, and when it was made.",
             "properties": {
                 "name": {"type": "string"}, "space": ref(SEARCH_SPACE), "objective": ref("Objective"),
                 "objectives": {"type": "array", "items": ref("Objective"), "maxItems": MAX_OBJECTIVES},
                 "constraints": {"type": ["array", "null"], "items": {"type": "object"}, "maxItems": MAX_CONSTRAINTS},
                 "reference_point": {"type": ["array", "null"], "items": _NUMBER, "maxItems": MAX_OBJECTIVES},
                 "suggester": {"type": "object"}, "pruner": {"type": ["object", "null"]},
                 "seed": {"type": "integer", "minimum": 0}, "heartbeat_timeout": _NUMBER,
                 "metadata": {"type": ["object", "null"]}, "created_at": _TIME,
                 "suggested": {"type": "integer", "minimum": 0,
                               "description": "Trials the suggester made: where a grid or Sobol design goes on."}}}
    queued = {"type": "object", "required": ["params"], "properties": {
        "params": {"type": "object"}, "metadata": {"type": ["object", "null"]}, "created_at": _NULLABLE_TIME}}
    return {"type": "object", "required": ["format", "version", "study"],
            "description": "A whole study: its definition, every trial with its reports, and its queue "
                           "(docs/integrations.md).",
            "properties": {"format": {"type": "string", "enum": [FORMAT]},
                           "version": {"type": "integer", "enum": [VERSION]}, "study": study,
                           "trials": {"type": "array", "items": trial, "maxItems": limits.max_import_trials},
                           "queue": {"type": "array", "items": queued, "maxItems": limits.max_import_trials}}}


class ImportArgs(Strict):
    name = fields.String(load_default=None, metadata={
        "description": "Import under this name instead of the document's own.", "minLength": 1,
        "pattern": name_pattern(no_slash=True)})


_DOCUMENT_BODY = {"required": True, "description": "A study document, as GET /v1/studies/{name}/export answers.",
                  "content": {"application/json": {"schema": ref(STUDY_DOCUMENT)}}}
_DOCUMENT_ANSWER = {"description": "The study as one document.",
                    "content": {"application/json": {"schema": ref(STUDY_DOCUMENT)}}}


@blp.route("/studies:import")
class StudyImport(MethodView):
    @blp.access(Role.MEMBER)
    @blp.arguments(ImportArgs, location="query")
    @blp.doc(operationId="import_study", parameters=[IDEMPOTENCY_KEY], requestBody=_DOCUMENT_BODY,
             **links.responses(201, links.CREATED_STUDY))
    @blp.response(201, StudyOut, description="The study was made from the document.")
    @blp.alt_response(200, schema=StudyOut, description="The team already had this very study (same definition, "
                                                         "same trials): nothing was written.")
    @blp.alt_response(409, description="A study of that name exists with other content (`differing_fields`).")
    @blp.alt_response(413, description="The document is over SUGGEST_MAX_IMPORT_BYTES.")
    def post(self, args: dict[str, Any]) -> flask.Response:
        """Import a study document: the study, every trial, its reports and its queue, in one transaction

        Idempotent by content: the same document twice makes one study. Nothing is written when any part of
        the document is refused.
        """
        rt, who = runtime(), principal()
        document = flask.g.get("json_body")
        if document is None:
            raise InvalidInput("send a study document (what GET /v1/studies/{name}/export answers) as the JSON body",
                               errors={"body": ["required"]})

        def render(imported: Imported) -> Answer:
            return Answer(201 if imported.created else 200, STUDY_OUT.dump(imported.study))

        return respond(rt.transactions.answer(
            lambda s: transfer.import_study(s, who, document, limits=rt.settings.limits, spaces=rt.spaces,
                                            name=args["name"]),
            render, idempotency_key()))


@blp.route("/studies/<name>/export")
class StudyExport(MethodView):
    @blp.access(Role.READ)
    @blp.doc(operationId="export_study", responses={200: _DOCUMENT_ANSWER})
    @blp.alt_response(404, description="No such study.")
    @blp.alt_response(409, description="The study holds more rows than SUGGEST_MAX_EXPORT_ROWS "
                                       "(`urn:suggest-api:problem:export-too-large`, with `rows` and `limit`): "
                                       "export it with `suggest-api export` instead.")
    def get(self, name: str) -> flask.Response:
        """Export a study: definition, every trial with its reports and rung entries, and its queue

        The answer imports as it is (POST /v1/studies:import), here or on another service.
        """
        rt, who = runtime(), principal()
        document = rt.transactions.read(
            lambda s: transfer.export_study(s, who, name, max_rows=rt.settings.limits.max_export_rows), budgeted=True)
        return flask.jsonify(document)

