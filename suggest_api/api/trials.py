"""Trials: ask, tell, enqueue/import, list, read, heartbeat, report, best."""

from __future__ import annotations

from typing import Any

import flask
from flask.views import MethodView

from suggest_api.accounts import Role
from suggest_api.api import links
from suggest_api.api.access import principal
from suggest_api.api.blueprint import IDEMPOTENCY_KEY, Blueprint
from suggest_api.api.context import idempotency_key, page_answer, respond, runtime
from suggest_api.api.schemas import (
    ADDED_OUT,
    REPORTED_OUT,
    AddedOut,
    AskIn,
    AskOut,
    PageArgs,
    ParetoPageOut,
    ReportedOut,
    ReportIn,
    TellIn,
    TrialOut,
    TrialPageArgs,
    TrialPageOut,
    TrialsIn,
    pareto_fields,
)
from suggest_api.api.trial_json import trial_json
from suggest_api.metrics import ASKED, PRUNE_ANSWERS, TOLD
from suggest_api.service import pareto, trials
from suggest_api.service.asks import Asked, AskRequest
from suggest_api.service.transactions import Answer
from suggest_api.service.trials import NewTrial, Reported, Told

blp = Blueprint("trials", __name__, url_prefix="/v1/studies/<name>",
                description="Ask for trials, tell their results, and read them back.")


@blp.route("/ask")
class Ask(MethodView):
    @blp.access(Role.MEMBER)
    @blp.arguments(AskIn)
    @blp.doc(operationId="ask", parameters=[IDEMPOTENCY_KEY], **links.responses(201, links.ASKED))
    @blp.response(201, AskOut, description="New running trials.")
    @blp.alt_response(404, description="No such study.")
    @blp.alt_response(409, description="A grid study has handed out every point (problem type "
                                       "`urn:suggest-api:problem:grid-exhausted`, with `grid_size`).")
    @blp.alt_response(503, description="Try again after `Retry-After` seconds: this worker already runs its limit "
                                       "of model fits (`urn:suggest-api:problem:model-busy`), or the database "
                                       "is unreachable or busy (`urn:suggest-api:problem:database-unavailable`).",
                      headers={"Retry-After": {"description": "Seconds to wait before retrying.",
                                               "schema": {"type": "string", "pattern": "^[0-9]+$"}}})
    @blp.alt_response(429, description="The study runs as many trials as the team's quota allows "
                                       "(`urn:suggest-api:problem:running-trials-quota`, with `limit` and `running`): "
                                       "tell results, then ask again.",
                      headers={"Retry-After": {"description": "Seconds to wait before retrying.",
                                               "schema": {"type": "string", "pattern": "^[0-9]+$"}}})
    def post(self, body: dict[str, Any], name: str) -> flask.Response:
        """Ask for new trials to run

        Enqueued parameters are handed out first, then the study's suggester is consulted.
        Trial numbers are sequential per study; a trial's parameters depend only on the study seed
        and its number (for the random suggester), however many workers ask at once. A grid study
        near its end answers the points left, which may be fewer than `count`.
        """
        rt, who, key = runtime(), principal(), idempotency_key()

        def render(asked: Asked) -> Answer:
            ASKED.labels(asked.suggester).inc(len(asked.trials))
            return Answer(201, {"trials": [trial_json(trial) for trial in asked.trials]})

        request = AskRequest(name, body["count"], body["client_id"])
        return respond(rt.asks.ask(who, request, lambda create: rt.transactions.answer(create, render, key)))


@blp.route("/tell")
class Tell(MethodView):
    @blp.access(Role.MEMBER)
    @blp.arguments(TellIn)
    @blp.doc(operationId="tell", parameters=[IDEMPOTENCY_KEY], **links.responses(200, links.TRIAL))
    @blp.response(200, TrialOut, description="The finished trial.")
    @blp.alt_response(404, description="No such study or trial.")
    @blp.alt_response(409, description="The trial was already told a different result.")
    def post(self, body: dict[str, Any], name: str) -> flask.Response:
        """Tell a trial's result: a value (completed), or state failed / pruned

        Telling the same result twice is a no-op that answers the trial again.
        """
        def render(told: Told) -> Answer:
            if told.changed:
                TOLD.labels(told.suggester, told.trial.state.value).inc()
            return Answer(200, trial_json(told.trial))

        rt, who = runtime(), principal()
        return respond(rt.transactions.answer(
            lambda s: trials.tell(s, who, name, body["number"], value=body["value"], state=body["state"],
                                  metadata=body["metadata"], values=body["values"], limits=rt.settings.limits),
            render, idempotency_key()))


@blp.route("/trials")
class Trials(MethodView):
    @blp.access(Role.MEMBER)
    @blp.arguments(TrialsIn)
    @blp.doc(operationId="add_trials", parameters=[IDEMPOTENCY_KEY], **links.responses(201, links.IMPORTED))
    @blp.response(201, AddedOut)
    @blp.alt_response(404, description="No such study.")
    def post(self, body: dict[str, Any], name: str) -> flask.Response:
        """Enqueue parameters to try next, or import finished trials (warm start)"""
        rt, who = runtime(), principal()
        items = [NewTrial(**item) for item in body["trials"]]
        return respond(rt.transactions.answer(
            lambda s: trials.add_trials(s, who, name, items, limits=rt.settings.limits, spaces=rt.spaces),
            lambda added: Answer(201, ADDED_OUT.dump(added)), idempotency_key()))

    @blp.access(Role.READ)
    @blp.arguments(TrialPageArgs, location="query")
    @blp.doc(operationId="list_trials", **links.responses(200, links.TRIALS))
    @blp.response(200, TrialPageOut)
    @blp.alt_response(404, description="No such study.")
    def get(self, args: dict[str, Any], name: str) -> flask.Response:
        """List a study's trials by number, optionally by state; follow `next_cursor`"""
        rt, who = runtime(), principal()
        trials.reap(rt.transactions, who, name)
        page = rt.transactions.read(
            lambda s: trials.list_trials(s, who, name, args["state"], args["limit"], args["cursor"],
                                         min_number=args["min_number"], reports=args["reports"]), budgeted=True)
        reports = args["reports"]
        return page_answer("trials", page, lambda trial: trial_json(trial, reports=reports))


@blp.route("/trials/<int:number>")
class TrialItem(MethodView):
    @blp.access(Role.READ)
    @blp.doc(operationId="get_trial", **links.responses(200, links.TRIAL))
    @blp.response(200, TrialOut)
    @blp.alt_response(404, description="No such study or trial.")
    def get(self, name: str, number: int) -> Any:
        """Read one trial"""
        rt, who = runtime(), principal()
        trials.reap(rt.transactions, who, name)
        return rt.transactions.read(lambda s: trials.get_trial(s, who, name, number), budgeted=True)


@blp.route("/trials/<int:number>/heartbeat")
class Heartbeat(MethodView):
    @blp.access(Role.MEMBER)
    @blp.doc(operationId="heartbeat", **links.responses(200, links.TRIAL))
    @blp.response(200, TrialOut)
    @blp.alt_response(404, description="No such study or trial.")
    @blp.alt_response(409, description="The trial is not running.")
    def post(self, name: str, number: int) -> flask.Response:
        """Keep a running trial alive (otherwise it is failed as stale after the study's heartbeat_timeout)"""
        who = principal()
        return respond(runtime().transactions.answer(lambda s: trials.heartbeat(s, who, name, number),
                                                     lambda trial: Answer(200, trial_json(trial))))


@blp.route("/trials/<int:number>/report")
class ReportValue(MethodView):
    @blp.access(Role.MEMBER)
    @blp.arguments(ReportIn)
    @blp.doc(operationId="report")
    @blp.response(200, ReportedOut)
    @blp.alt_response(404, description="No such study or trial.")
    @blp.alt_response(409, description="The trial is not running, the step was reported with another value, "
                                       "the step is below one already reported, or the trial holds the most "
                                       "reports it may (report-limit).")
    def post(self, body: dict[str, Any], name: str, number: int) -> flask.Response:
        """Report an intermediate value; the answer says whether to stop (prune) the trial, and why

        The study's pruner decides from this trial's reports and the other trials' reports at the same
        step (or rung). Reporting the same step with the same value again is a retry and gets the same
        answer; once a trial is told to stop, its later reports are told so too."""
        def render(reported: Reported) -> Answer:
            if reported.answered_by is not None:
                PRUNE_ANSWERS.labels(reported.answered_by, str(reported.prune).lower()).inc()
            return Answer(200, REPORTED_OUT.dump(reported))

        rt, who = runtime(), principal()
        return respond(rt.transactions.answer(
            lambda s: trials.report(s, who, name, number, body["step"], body["value"], rt.settings.limits), render))


@blp.route("/best")
class Best(MethodView):
    @blp.access(Role.READ)
    @blp.doc(operationId="get_best", **links.responses(200, links.TRIAL))
    @blp.response(200, TrialOut)
    @blp.alt_response(404, description="No such study, or no completed (feasible) trial yet.")
    @blp.alt_response(409, description="The study has several objectives (`urn:suggest-api:problem:multi-objective`): "
                                       "read its front at `/pareto`.")
    def get(self, name: str) -> Any:
        """The best completed trial (of those that satisfy the study's constraints)"""
        rt, who = runtime(), principal()
        trials.reap(rt.transactions, who, name)
        return rt.transactions.read(lambda s: trials.best(s, who, name), budgeted=True)


@blp.route("/pareto")
class Pareto(MethodView):
    @blp.access(Role.READ)
    @blp.arguments(PageArgs, location="query")
    @blp.doc(operationId="get_pareto")
    @blp.response(200, ParetoPageOut)
    @blp.alt_response(404, description="No such study.")
    def get(self, args: dict[str, Any], name: str) -> flask.Response:
        """The Pareto front: completed, feasible trials that no other one dominates, by number; follow `next_cursor`

        Also the whole front's size and hypervolume. In a study with one objective, the front is its best
        trial (every trial tied for best)."""
        rt, who = runtime(), principal()
        trials.reap(rt.transactions, who, name)
        found = rt.transactions.read(lambda s: pareto.pareto(s, who, name, args["limit"], args["cursor"]),
                                     budgeted=True)
        return page_answer("trials", found.page, trial_json, extra=pareto_fields(found.summary))
