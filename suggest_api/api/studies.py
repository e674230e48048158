"""Studies: create (or get the identical one), list, read, delete."""

from __future__ import annotations

from typing import Any

import flask
from flask.views import MethodView

from suggest_api import service
from suggest_api.api.auth import principal
from suggest_api.api.blueprint import IDEMPOTENCY_KEY, Blueprint
from suggest_api.api.context import idempotency_key, respond, runtime
from suggest_api.api.schemas import STUDY_OUT, PageArgs, StudyIn, StudyOut, StudyPageOut
from suggest_api.service import Reply, StudyDefinition
from suggest_api.teams import Role

blp = Blueprint("studies", __name__, url_prefix="/v1", description="Create, list, read and delete studies.")


@blp.route("/studies")
class Studies(MethodView):
    @blp.access(Role.MEMBER)
    @blp.arguments(StudyIn)
    @blp.doc(operationId="create_study", parameters=[IDEMPOTENCY_KEY])
    @blp.response(201, StudyOut, description="The study was created.")
    @blp.alt_response(200, schema=StudyOut, description="An identical study already existed.")
    @blp.alt_response(409, description="A study of that name exists with another definition.")
    def post(self, body: dict[str, Any]) -> flask.Response:
        """Create a study, or get the existing one with the same definition

        Safe to call from every worker at start-up: the first creates it, the others get it back.
        """
        rt, who = runtime(), principal()
        pruner = body["pruner"] or {}
        definition = StudyDefinition(
            name=body["name"], space=body["space"], objective_name=body["objective"]["name"],
            goal=body["objective"]["goal"], suggester_name=body["suggester"]["name"],
            suggester_options=body["suggester"]["options"], pruner_name=pruner.get("name"),
            pruner_options=pruner.get("options", {}), seed=body["seed"],
            heartbeat_timeout=body["heartbeat_timeout"], metadata=body["metadata"])
        return respond(service.execute(
            rt.sessions,
            lambda s: service.create_study(s, who, definition, rt.settings.limits,
                                           rt.settings.default_heartbeat_timeout),
            lambda created: Reply(201 if created.created else 200, STUDY_OUT.dump(created.study)),
            idempotency_key()))

    @blp.access(Role.READ)
    @blp.arguments(PageArgs, location="query")
    @blp.doc(operationId="list_studies")
    @blp.response(200, StudyPageOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List your team's studies, oldest first; follow `next_cursor` for the next page"""
        who = principal()
        page = service.read(runtime().sessions,
                            lambda s: service.list_studies(s, who, args["limit"], args["cursor"]))
        return {"studies": page.items, "next_cursor": page.next_cursor}


@blp.route("/studies/<name>")
class StudyItem(MethodView):
    @blp.access(Role.READ)
    @blp.doc(operationId="get_study")
    @blp.response(200, StudyOut)
    @blp.alt_response(404, description="No such study.")
    def get(self, name: str) -> Any:
        """Read a study: definition, trial counts, best trial"""
        who = principal()
        service.reap(runtime().sessions, who, name)
        return service.read(runtime().sessions, lambda s: service.get_study(s, who, name))

    @blp.access(Role.MEMBER)
    @blp.doc(operationId="delete_study")
    @blp.response(204)
    @blp.alt_response(404, description="No such study.")
    def delete(self, name: str) -> flask.Response:
        """Delete a study and all its trials"""
        who = principal()
        return respond(service.execute(runtime().sessions, lambda s: service.delete_study(s, who, name),
                                       lambda _: Reply(204, None)))
