"""Param importance of a study: which params its completed trials say matter for a metric."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from suggest_api.accounts import Role
from suggest_api.api.access import principal
from suggest_api.api.blueprint import Blueprint
from suggest_api.api.context import runtime
from suggest_api.api.schemas import Strict
from suggest_api.config import Limits
from suggest_api.domain import Goal
from suggest_api.names import name_pattern
from suggest_api.service import importance
from suggest_api.space.schema import ref

blp = Blueprint("importance", __name__, url_prefix="/v1/studies/<name>",
                description="Which params matter, from a study's completed trials.")

#: Lists in the answer hold one item per param of the space: at most the limit a space is created under.
MAX_PARAMS = Limits().max_params


class ImportanceArgs(Strict):
    # No maxLength: a metric is as long as the limit its study was created under allowed.
    objective = fields.String(load_default=None, validate=validate.Length(min=1),
                              metadata={"description": "An objective of the study (default: its first) or one of "
                                                       "its constraint metrics.", "pattern": name_pattern(),
                                        "example": "val_loss"})


class ParamImportanceOut(ma.Schema):
    name = fields.String(required=True)
    forest = fields.Float(required=True, validate=validate.Range(0, 1), metadata={
        "description": "The param's share of the forest's prediction variance that single params explain "
                       "(functional ANOVA); the shares of all params sum to 1 (or are all 0)."})
    grey_relational = fields.Float(required=True, validate=validate.Range(0, 1), metadata={
        "description": "Grey relational grade: how closely the param follows the metric, up or down "
                       "(1: exactly). Sees monotone relations only."})
    active_trials = fields.Integer(required=True, metadata={
        "description": "Trials used in which the param had a value (fewer than all for a conditional param)."})


class ForestOut(ma.Schema):
    trees = fields.Integer(required=True)
    explained_variance = fields.Float(required=True, validate=validate.Range(0, 1), metadata={
        "description": "How much of the forest's variance single params explain, averaged over its trees; the "
                       "rest comes from interactions between params."})


class GreyRelationalOut(ma.Schema):
    distinguishing_coefficient = fields.Float(required=True, metadata={"description": "rho of the coefficients."})


class ImportanceOut(ma.Schema):
    objective = fields.String(required=True, metadata={"description": "The metric the importance is for."})
    goal = fields.Enum(Goal, by_value=True, required=True, metadata={"openapi": {
        **ref("Goal"),
        "description": "Which way the metric is better (a constraint's: `<=` minimize, `>=` maximize)."}})
    trials_used = fields.Integer(required=True, metadata={
        "description": "Completed trials with a finite value of the metric: the newest of them, up to the "
                       "service's limit (SUGGEST_MAX_IMPORTANCE_TRIALS)."})
    params = fields.List(fields.Nested(ParamImportanceOut), required=True, validate=validate.Length(max=MAX_PARAMS),
                         metadata={"description": "Every param of the space, by `forest` share (highest first), "
                                                  "ties by name."})
    forest = fields.Nested(ForestOut, required=True)
    grey_relational = fields.Nested(GreyRelationalOut, required=True)



@blp.route("/importance")
class Importance(MethodView):
    @blp.access(Role.READ)
    @blp.arguments(ImportanceArgs, location="query")
    @blp.doc(operationId="get_importance")
    @blp.response(200, ImportanceOut)
    @blp.alt_response(404, description="No such study.")
    @blp.alt_response(409, description="Fewer than 2 completed trials with different values of the metric "
                                       "(`urn:suggest-api:problem:too-few-trials`, with `needed` and `have`).")
    @blp.alt_response(422, description="`objective` is not a metric of the study (`errors.objective` lists them).")
    def get(self, args: dict[str, Any], name: str) -> Any:
        """Which params matter for a metric: forest functional ANOVA and grey relational analysis

        Computed from the newest completed trials with a finite value of the metric (up to
        SUGGEST_MAX_IMPORTANCE_TRIALS). `forest` (Hutter, Hoos & Leyton-Brown 2014): a random forest is fit
        to the trials and each tree's prediction decomposed; a param's share is how much of the prediction's
        variance it moves alone. `grey_relational` (Deng 1982): how closely the param's values follow the
        metric's, increasing or decreasing. Answers are remembered until a trial is added."""
        rt, who = runtime(), principal()
        found = importance.importance(rt.transactions, who, name, args["objective"], limits=rt.settings.limits,
                                      spaces=rt.spaces, cache=rt.importance)
        return _answer(found)


def _answer(found: importance.StudyImportance) -> dict[str, Any]:
    result = found.importance
    return {"objective": found.objective, "goal": found.goal, "trials_used": result.trials_used,
            "params": result.params,
            "forest": {"trees": result.trees, "explained_variance": result.explained_variance},
            "grey_relational": {"distinguishing_coefficient": result.distinguishing_coefficient}}
