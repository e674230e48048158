"""Your team: its quotas, its API keys (admins), its audit trail (admins)."""

from __future__ import annotations

from typing import Any

import flask
from flask.views import MethodView

from suggest_api.accounts import Role
from suggest_api.api import links
from suggest_api.api.access import principal
from suggest_api.api.blueprint import Blueprint
from suggest_api.api.context import page_answer, respond, runtime
from suggest_api.api.schemas import (
    AuditEventOut,
    AuditPageOut,
    CreatedKeyOut,
    KeyIn,
    KeyOut,
    KeyPageOut,
    PageArgs,
    StudyAuditOut,
    TeamOut,
)
from suggest_api.service import accounts
from suggest_api.service.accounts import CreatedKey
from suggest_api.service.transactions import Answer

blp = Blueprint("team", __name__, url_prefix="/v1",
                description="Your team: quotas, API keys and audit trail. Teams themselves are made by the operator "
                            "(`suggest-api teams create NAME`).")
CREATED_KEY_OUT = CreatedKeyOut()
KEY_OUT = KeyOut()
AUDIT_EVENT_OUT = AuditEventOut()


@blp.route("/team")
class Team(MethodView):
    @blp.access(Role.READ)
    @blp.doc(operationId="get_team")
    @blp.response(200, TeamOut)
    def get(self) -> dict[str, Any]:
        """Your team: its name, its quotas and how much of them it uses, and your key's role"""
        who = principal()
        studies = runtime().transactions.read(lambda s: accounts.count_studies(s, who), budgeted=True)
        return {"name": who.team_name, "role": who.role, "key_id": who.key_id, "quotas": who.quotas,
                "studies": studies}


@blp.route("/keys")
class Keys(MethodView):
    @blp.access(Role.ADMIN)
    @blp.arguments(PageArgs, location="query")
    @blp.doc(operationId="list_keys", **links.responses(200, links.KEYS))
    @blp.response(200, KeyPageOut)
    def get(self, args: dict[str, Any]) -> flask.Response:
        """List your team's API keys, revoked ones included (never the keys themselves)"""
        who = principal()
        page = runtime().transactions.read(lambda s: accounts.list_keys(s, who, args["limit"], args["cursor"]),
                                           budgeted=True)
        return page_answer("keys", page, KEY_OUT)

    @blp.access(Role.ADMIN)
    @blp.arguments(KeyIn)
    @blp.doc(operationId="create_key", **links.responses(201, links.KEY))
    @blp.response(201, CreatedKeyOut, description="The new key, in `key`: shown this once.")
    def post(self, body: dict[str, Any]) -> flask.Response:
        """Make an API key for your team

        The answer holds the key itself, once; the service keeps only its digest. No Idempotency-Key:
        a replayed answer would have to store the key.
        """
        rt, who = runtime(), principal()

        def render(created: CreatedKey) -> Answer:
            return Answer(201, CREATED_KEY_OUT.dump({**vars(created.info), "key": created.secret}))

        return respond(rt.transactions.answer(
            lambda s: accounts.create_key(s, who.team_id, body["role"], body["label"], who.key_id,
                                          rt.settings.limits), render))


@blp.route("/keys/<key_id>")
class KeyItem(MethodView):
    @blp.access(Role.ADMIN)
    @blp.doc(operationId="revoke_key")
    @blp.response(200, KeyOut, description="The key, revoked: refused from its next request on, on every worker.")
    @blp.alt_response(404, description="No such key in your team.")
    def delete(self, key_id: str) -> flask.Response:
        """Revoke one of your team's API keys (revoking it again answers the same)"""
        rt, who = runtime(), principal()
        return respond(rt.transactions.answer(lambda s: accounts.revoke_key(s, who.team_id, key_id, who.key_id),
                                              lambda info: Answer(200, KEY_OUT.dump(info))))


@blp.route("/audit")
class Audit(MethodView):
    @blp.access(Role.ADMIN)
    @blp.arguments(PageArgs, location="query")
    @blp.doc(operationId="get_audit")
    @blp.response(200, AuditPageOut)
    def get(self, args: dict[str, Any]) -> flask.Response:
        """Your team's audit trail, oldest first: studies created and deleted, keys created and revoked"""
        who = principal()
        page = runtime().transactions.read(lambda s: accounts.audit(s, who, args["limit"], args["cursor"]),
                                           budgeted=True)
        return page_answer("events", page, AUDIT_EVENT_OUT)


@blp.route("/studies/<name>/audit")
class StudyAudit(MethodView):
    @blp.access(Role.ADMIN)
    @blp.arguments(PageArgs, location="query")
    @blp.doc(operationId="get_study_audit")
    @blp.response(200, StudyAuditOut)
    @blp.alt_response(404, description="No such study.")
    def get(self, args: dict[str, Any], name: str) -> Any:
        """Which key created the study, and which asked for and told each of its trials"""
        who = principal()
        return runtime().transactions.read(
            lambda s: accounts.study_audit(s, who, name, args["limit"], args["cursor"]), budgeted=True)
