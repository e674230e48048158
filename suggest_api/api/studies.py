"""Studies: create (or get the identical one), list, read, delete."""

from __future__ import annotations

from typing import Any

import flask
from flask.views import MethodView

from suggest_api.accounts import Role
from suggest_api.api import links
from suggest_api.api.access import principal
from suggest_api.api.blueprint import IDEMPOTENCY_KEY, Blueprint
from suggest_api.api.context import idempotency_key, page_answer, respond, runtime
from suggest_api.api.schemas import STUDY_OUT, PageArgs, StudyIn, StudyOut, StudyPageOut
from suggest_api.service import studies, trials
from suggest_api.service.studies import Created
from suggest_api.service.transactions import Answer

blp = Blueprint("studies", __name__, url_prefix="/v1", description="Create, list, read and delete studies.")


@blp.route("/studies")
class Studies(MethodView):
    @blp.access(Role.MEMBER)
    @blp.arguments(StudyIn)
    @blp.doc(operationId="create_study", parameters=[IDEMPOTENCY_KEY])
    @blp.doc(**links.responses(201, links.CREATED_STUDY))
    @blp.doc(**links.responses(200, links.CREATED_STUDY))
    @blp.response(201, StudyOut, description="The study was created.")
    @blp.alt_response(200, schema=StudyOut, description="An identical study already existed.")
    @blp.alt_response(409, description="A study of that name exists with another definition.")
    def post(self, body: dict[str, Any]) -> flask.Response:
        """Create a study, or get the existing one with the same definition

        Safe to call from every worker at start-up: the first creates it, the others get it back.
        """
        rt, who = runtime(), principal()
        definition = studies.definition_from(body, body["name"])
        def render(created: Created) -> Answer:
            return Answer(201 if created.created else 200, STUDY_OUT.dump(created.study))

        return respond(rt.transactions.answer(
            lambda s: studies.create_study(s, who, definition, limits=rt.settings.limits,
                                           default_heartbeat_timeout=rt.settings.default_heartbeat_timeout,
                                           spaces=rt.spaces),
            render, idempotency_key()))

    @blp.access(Role.READ)
    @blp.arguments(PageArgs, location="query")
    @blp.doc(operationId="list_studies", **links.responses(200, links.STUDIES))
    @blp.response(200, StudyPageOut)
    def get(self, args: dict[str, Any]) -> flask.Response:
        """List your team's studies, oldest first; follow `next_cursor` for the next page"""
        rt, who = runtime(), principal()
        page = rt.transactions.read(lambda s: studies.list_studies(s, who, args["limit"], args["cursor"], rt.spaces),
                                    budgeted=True)
        return page_answer("studies", page, STUDY_OUT)


@blp.route("/studies/<name>")
class StudyItem(MethodView):
    @blp.access(Role.READ)
    @blp.doc(operationId="get_study", **links.responses(200, links.STUDY))
    @blp.response(200, StudyOut)
    @blp.alt_response(404, description="No such study.")
    def get(self, name: str) -> Any:
        """Read a study: definition, trial counts, best trial"""
        rt, who = runtime(), principal()
        trials.reap(rt.transactions, who, name)
        return rt.transactions.read(lambda s: studies.get_study(s, who, name, rt.spaces), budgeted=True)

    @blp.access(Role.MEMBER)
    @blp.doc(operationId="delete_study")
    @blp.response(204)
    @blp.alt_response(404, description="No such study.")
    def delete(self, name: str) -> flask.Response:
        """Delete a study and all its trials"""
        who = principal()
        return respond(runtime().transactions.answer(lambda s: studies.delete_study(s, who, name),
                                                     lambda _: Answer(204, None)))
