"""Request and response shapes. They validate input and generate the OpenAPI document.

Semantic checks that need the stored study or runtime limits (the space, suggester options,
`count` against the configured maximum) live in the service and answer in the same problem format.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from apispec import APISpec
from marshmallow import fields, validate

from suggest_api.accounts import KEY_ID_LENGTH, Role
from suggest_api.api import plugin_docs
from suggest_api.config import Limits
from suggest_api.domain import ConstraintOp, Goal, TrialState
from suggest_api.names import name_pattern
from suggest_api.pruners.registry import pruners
from suggest_api.service.studies import MAX_CONSTRAINTS, MAX_OBJECTIVES
from suggest_api.space.schema import PARAMS, SEARCH_SPACE, ref
from suggest_api.suggesters.registry import suggesters

INT32_MAX = 2**31 - 1
INT63_MAX = 2**63 - 1
KEY_LABEL_MAX = 256
#: The largest `limit` of a listing.
MAX_PAGE = 1000
FINISHED_STATES = [s.value for s in TrialState if s is not TrialState.RUNNING]


# --- shared OpenAPI components ----------------------------------------------------------------
# Shapes that marshmallow fields cannot describe on their own (the search space, whose components
# suggest_api.space.schema renders from its parser's definition; enums shared by several schemas).
# create_app registers them; a field whose metadata has "openapi" is documented as exactly that
# schema (see blueprint.Api).

def nullable(component: str, **extra: Any) -> dict[str, Any]:
    """A component or null (3.1 style, which client generators turn into `Component | None`)."""
    return {"anyOf": [ref(component), {"type": "null"}], **extra}


COMPONENTS: dict[str, dict[str, Any]] = {
    "TrialState": {"type": "string", "enum": [s.value for s in TrialState]},
    "Role": {"type": "string", "enum": [r.value for r in Role],
             "description": "read: GET only. member: full use of the team's studies. admin: also manages the "
                            "team's keys and reads its audit trail."},
    "FinishedState": {"type": "string", "enum": FINISHED_STATES,
                      "description": "A trial's result state: what a tell or an import may set."},
    "Goal": {"type": "string", "enum": [g.value for g in Goal]},
    "Objective": {"type": "object", "required": ["name", "goal"], "additionalProperties": False,
                  "properties": {"name": {"type": "string", "description": "What the value measures."},
                                 "goal": ref("Goal")}},
    "ConstraintOp": {"type": "string", "enum": [op.value for op in ConstraintOp],
                     "description": "<=: the metric must be at most `bound`; >=: at least."},
    "Metadata": {"type": "object", "additionalProperties": {},
                 "description": "Any JSON object, stored and answered as given."},
}


class Strict(ma.Schema):
    """Unknown fields are refused (marshmallow's default), named in the error."""


class JsonInteger(fields.Integer):
    """A JSON integer as JSON Schema defines it (the document's `integer`): 3 and 3.0; 1.5, "3" and true are
    refused rather than coerced."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._validated(value)


def integer(**kwargs: Any) -> fields.Integer:
    """A JSON integer field (see JsonInteger)."""
    return JsonInteger(**kwargs)


class Number(fields.Float):
    """A finite JSON number: the string "1.0" is refused rather than coerced."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class FinishedState(fields.String):
    """completed, failed or pruned: what a tell or an import may set (running is not a result)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.OneOf(FINISHED_STATES), **kwargs)  # documented as the enum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> TrialState:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in FINISHED_STATES:  # validators run after this method, so check before converting
            raise ma.ValidationError(f"Must be one of: {', '.join(FINISHED_STATES)}.")
        return TrialState(text)


# --- requests ---------------------------------------------------------------------------------

class ObjectiveIn(Strict):
    name = fields.String(load_default="value", metadata={"description": "What the value measures.",
                                                         "minLength": 1, "pattern": name_pattern(),
                                                         "example": "val_loss"})
    goal = fields.Enum(Goal, by_value=True, required=True, metadata={"openapi": ref("Goal")})


class ConstraintIn(Strict):
    name = fields.String(required=True, metadata={"description": "A metric every tell reports in `values`.",
                                                  "minLength": 1, "pattern": name_pattern(), "example": "latency_ms"})
    op = fields.Enum(ConstraintOp, by_value=True, required=True, metadata={"openapi": ref("ConstraintOp")})
    bound = Number(required=True, metadata={"example": 20})


class PluginIn(Strict):
    name = fields.String(required=True, metadata={"example": "random"})
    options = fields.Dict(keys=fields.String(), load_default=dict)


class StudyIn(Strict):
    name = fields.String(required=True, metadata={
        "description": "Unique; 1-256 printable characters (not only spaces), no '/' or '\\'.",
        "minLength": 1, "pattern": name_pattern(no_slash=True), "example": "resnet-lr-sweep"})
    space = fields.Dict(required=True, metadata={"openapi": ref(SEARCH_SPACE)})  # parsed by suggest_api.space
    objective = fields.Nested(ObjectiveIn, load_default=None, metadata={
        "description": "The study's one objective; give this or `objectives`."})
    objectives = fields.List(fields.Nested(ObjectiveIn), load_default=None, validate=validate.Length(1, MAX_OBJECTIVES),
                             metadata={"description": "Several objectives (1-4, names unique) traded on a Pareto "
                                                      "front; give this or `objective`."})
    constraints = fields.List(fields.Nested(ConstraintIn), load_default=list,
                              validate=validate.Length(max=MAX_CONSTRAINTS),
                              metadata={"description": "Outcome constraints: a trial is feasible when each metric "
                                                       "satisfies `op bound`; only feasible trials can be best "
                                                       "or on the front. Each tell reports them in `values`."})
    reference_point = fields.List(Number(), load_default=None, allow_none=True,
                                  validate=validate.Length(2, MAX_OBJECTIVES), metadata={
        "description": "Several objectives: the point the front's hypervolume is measured from, one number per "
                       "objective in its own units (worse than every front member). Derived from the front "
                       "when omitted."})
    suggester = fields.Nested(PluginIn, load_default=lambda: {"name": "random", "options": {}},
                              metadata={"openapi": {
                                  "description": "Algorithm and its options; default random. Each "
                                                 "algorithm's options are listed under its name.",
                                  **plugin_docs.one_of(suggesters)}})
    pruner = fields.Nested(PluginIn, load_default=None, allow_none=True, metadata={
        "openapi": plugin_docs.one_of_or_null(pruners, default=None,
                                              description="Stops unpromising trials early; null: never.")})
    seed = integer(load_default=None, allow_none=True, validate=validate.Range(0, INT63_MAX),
                   metadata={"description": "Fixes every suggestion; drawn at random when omitted."})
    heartbeat_timeout = Number(load_default=None, allow_none=True,
                                     validate=validate.Range(0.1, 30 * 86400),
                                     metadata={"description": "Seconds without heartbeat before a running "
                                                              "trial is failed as stale (default 300)."})
    metadata = fields.Dict(keys=fields.String(), load_default=None, allow_none=True,
                           metadata={"openapi": nullable("Metadata", default=None)})


    @ma.validates_schema(skip_on_field_errors=False, pass_original=True)
    def _one_objective_field(self, data: Mapping[str, Any], original: Any, **_: Any) -> None:
        """Judged on what was sent, so an invalid `objective` is not also called missing."""
        sent = [f for f in ("objective", "objectives") if isinstance(original, Mapping) and original.get(f) is not None]
        if len(sent) == 2:
            raise ma.ValidationError("give `objective` or `objectives`, not both", "objective")
        if not sent:
            raise ma.ValidationError("required: `objective` {name, goal}, or `objectives` [{name, goal}, ...]",
                                     "objective")


class AskIn(Strict):
    count = integer(load_default=1, validate=validate.Range(min=1),
                    metadata={"description": "Trials to create (at most the service's limit, default 100)."})
    client_id = fields.String(load_default=None, allow_none=True,
                              metadata={"description": "Free text to tell workers apart in listings.",
                                        "minLength": 1, "pattern": name_pattern()})


#: `values` is checked against the study's metrics by the service (service.outcomes), which names the metric.
VALUES_DOC = {"type": "object", "additionalProperties": {"type": "number"},
              "description": "Every objective and constraint metric by name: for a study with several objectives "
                             "or with constraints (instead of `value`)."}


def metric_values(**kwargs: Any) -> fields.Dict:
    return fields.Dict(keys=fields.String(), load_default=None, allow_none=True,
                       metadata={"openapi": {"anyOf": [VALUES_DOC, {"type": "null"}], "default": None}}, **kwargs)


class TellIn(Strict):
    number = integer(required=True, validate=validate.Range(0, INT32_MAX))
    value = Number(load_default=None, allow_none=True)
    values = metric_values()
    state = FinishedState(load_default=None, allow_none=True, metadata={"openapi": nullable(
        "FinishedState", default=None, description="completed (default when value is given), failed or pruned.")})
    metadata = fields.Dict(keys=fields.String(), load_default=None, allow_none=True,
                           metadata={"openapi": nullable("Metadata", default=None)})


class ReportIn(Strict):
    step = integer(required=True, validate=validate.Range(0, INT63_MAX))
    value = Number(required=True)


class NewTrialIn(Strict):
    params = fields.Dict(keys=fields.String(), required=True, metadata={"openapi": ref(PARAMS)})
    value = Number(load_default=None, allow_none=True)
    values = metric_values()
    state = FinishedState(load_default=None, allow_none=True,
                          metadata={"openapi": nullable("FinishedState", default=None)})
    metadata = fields.Dict(keys=fields.String(), load_default=None, allow_none=True,
                           metadata={"openapi": nullable("Metadata", default=None)})


class TrialsIn(Strict):
    trials = fields.List(fields.Nested(NewTrialIn), required=True, validate=validate.Length(min=1),
                         metadata={"description": "Without value/state: enqueued for the next asks. "
                                                  "With them: imported as finished trials (warm start)."})


class PageArgs(Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE),
                           metadata={"description": "Items per page at most (a page holding big items may stop "
                                                    "short of it; follow `next_cursor`)."})
    cursor = fields.String(load_default=None, metadata={
        "description": "`next_cursor` of the previous page, unchanged; omit it for the first page."})


class TrialPageArgs(PageArgs):
    state = fields.Enum(TrialState, by_value=True, load_default=None, metadata={"openapi": ref("TrialState")})
    reports = fields.Boolean(load_default=True, metadata={
        "description": "false: leave each trial's reports out (`intermediate` is null): a page a fraction of "
                       "the size, for a reader that needs only params and results."})
    min_number = fields.Integer(load_default=0, validate=validate.Range(0, INT32_MAX), metadata={
        "description": "Only trials numbered at least this: a dashboard that holds trials up to some number "
                       "fetches what changed since (the lowest number still running, or the next one)."})


class KeyIn(Strict):
    role = fields.Enum(Role, by_value=True, required=True, metadata={"openapi": ref("Role")})
    label = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=KEY_LABEL_MAX),
                          metadata={"description": "What the key is for (\"ci\", \"alice's laptop\"): shown in "
                                                   "listings, never secret.", "pattern": name_pattern()})


# --- responses --------------------------------------------------------------------------------
# Every field below is always present in an answer (None dumps as null), hence `required=True`:
# the OpenAPI document then tells clients which keys they can rely on.



class Timestamp(fields.DateTime):
    """A UTC time in RFC 3339 with its offset (`2025-01-31T09:30:00.123456+00:00`).

    The database stores naive UTC (SQLite keeps no time zone); the offset is attached on the way out.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class ReportOut(ma.Schema):
    step = fields.Integer(required=True)
    value = fields.Float(required=True)
    prune = fields.Boolean(required=True, allow_none=True, metadata={
        "description": "The pruner's answer to this report (null: the study has no pruner)."})
    reason = fields.String(required=True, allow_none=True, metadata={
        "description": "Why, in words (\"value 0.41 at step 3 is worse than the median 0.22 of 9 completed "
                       "trials\"); null when the study has no pruner."})


class TrialOut(ma.Schema):
    number = fields.Integer(required=True)
    state = fields.Enum(TrialState, by_value=True, required=True, metadata={"openapi": ref("TrialState")})
    params = fields.Dict(required=True, metadata={"openapi": ref(PARAMS)})
    value = fields.Float(required=True, allow_none=True, metadata={
        "description": "The result of a study with one objective (null in a study with several: see `values`)."})
    values = fields.Dict(keys=fields.String(), values=fields.Float(), required=True, allow_none=True, metadata={
        "description": "Every objective and constraint metric told, for a study with several objectives or with "
                       "constraints; null otherwise."})
    feasible = fields.Boolean(required=True, allow_none=True, metadata={
        "description": "Whether `values` satisfy every constraint; null when the study has none (or no result)."})
    intermediate = fields.List(fields.Nested(ReportOut), required=True, allow_none=True, metadata={
        "description": "The trial's reports by step; null in a listing asked with `reports=false`."})
    created_at = Timestamp(required=True)
    finished_at = Timestamp(required=True, allow_none=True)
    heartbeat_at = Timestamp(required=True, allow_none=True)
    lease_expires_at = Timestamp(required=True, allow_none=True, metadata={
        "description": "While running: when the trial fails as stale (`fail_reason` \"stale\") unless a heartbeat "
                       "or report renews it; set by the service's database clock."})
    fail_reason = fields.String(required=True, allow_none=True)
    client_id = fields.String(required=True, allow_none=True)
    metadata = fields.Dict(required=True, allow_none=True, metadata={"openapi": nullable("Metadata")})


class PluginOut(ma.Schema):
    name = fields.String(required=True)
    options = fields.Dict(required=True)


class CountsOut(ma.Schema):
    running = fields.Integer(required=True)
    completed = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    pruned = fields.Integer(required=True)
    total = fields.Integer(required=True)


class ParetoOut(ma.Schema):
    size = fields.Integer(required=True, metadata={"description": "Trials on the front."})
    hypervolume = fields.Float(required=True, allow_none=True, metadata={
        "description": "Volume the front dominates up to `reference_point` (2-3 objectives; null with 4 or an "
                       "empty front). Larger is better."})
    reference_point = fields.List(fields.Float(), required=True, allow_none=True)
    reference_point_derived = fields.Boolean(required=True, metadata={
        "description": "True: the study gave none, so it is the front's nadir plus a tenth of its range (it moves "
                       "as the front does); false: the study's own."})


class ConstraintOut(ma.Schema):
    name = fields.String(required=True)
    op = fields.String(required=True, metadata={"openapi": ref("ConstraintOp")})
    bound = fields.Float(required=True)


class StudyOut(ma.Schema):
    name = fields.String(required=True)
    # The space in canonical form: defaults omitted, numbers normalized.
    space = fields.Method("dump_space", required=True, metadata={"openapi": ref(SEARCH_SPACE)})
    objective = fields.Method("dump_objective", required=True, metadata={
        "openapi": {**ref("Objective"), "description": "The first (usually the only) objective."}})
    objectives = fields.Method("dump_objectives", required=True, metadata={
        "openapi": {"type": "array", "items": ref("Objective")}})
    constraints = fields.List(fields.Nested(ConstraintOut), required=True)
    reference_point = fields.List(fields.Float(), required=True, allow_none=True, metadata={
        "description": "The reference point given at creation; null: derived (see `pareto`)."})
    suggester = fields.Nested(PluginOut, required=True)
    pruner = fields.Nested(PluginOut, required=True, allow_none=True)
    seed = fields.Integer(required=True)
    heartbeat_timeout = fields.Float(required=True)
    created_at = Timestamp(required=True)
    metadata = fields.Dict(required=True, allow_none=True, metadata={"openapi": nullable("Metadata")})
    trial_counts = fields.Nested(CountsOut, required=True)
    last_activity_at = Timestamp(required=True, allow_none=True, metadata={
        "description": "The newest time one of the study's trials was created, finished or sent a heartbeat; "
                       "null without trials."})
    queued = fields.Integer(required=True, metadata={"description": "Enqueued parameter sets not yet handed out."})
    best_trial = fields.Nested(TrialOut, required=True, allow_none=True, metadata={
        "description": "Null before a completed (feasible) trial, and always in a study with several objectives."})
    pareto = fields.Nested(ParetoOut, required=True, allow_none=True, metadata={
        "description": "Several objectives: the front's size and hypervolume (the trials are at /pareto); null "
                       "otherwise."})

    def dump_objectives(self, study: Any) -> Any:
        return [{"name": o.name, "goal": o.goal.value} for o in study.objectives]

    def dump_space(self, study: Any) -> Any:
        return study.space.to_json()

    def dump_objective(self, study: Any) -> Any:
        return {"name": study.objective_name, "goal": study.goal.value}


def pareto_fields(summary: Any) -> dict[str, Any]:
    """A ParetoOut answer's fields, for a page that carries them beside its trials."""
    fields_of: dict[str, Any] = PARETO_OUT.dump(summary)
    return fields_of


class ParetoPageOut(ParetoOut):
    trials = fields.List(fields.Nested(TrialOut), required=True, metadata={
        "description": "Completed, feasible trials that no other one dominates, by number."})
    next_cursor = fields.String(required=True, allow_none=True)


class StudyPageOut(ma.Schema):
    studies = fields.List(fields.Nested(StudyOut), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class TrialPageOut(ma.Schema):
    trials = fields.List(fields.Nested(TrialOut), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class AskOut(ma.Schema):
    trials = fields.List(fields.Nested(TrialOut), required=True)


class AddedOut(ma.Schema):
    imported = fields.List(fields.Nested(TrialOut), required=True)
    enqueued = fields.Integer(required=True)
    queue_length = fields.Integer(required=True)


class ReportedOut(ma.Schema):
    prune = fields.Boolean(required=True, metadata={
        "description": "True: stop training this trial and tell it `pruned`. Stays true for its later reports."})
    reason = fields.String(required=True, allow_none=True, metadata={
        "description": "The pruner's reason, also stored on the report; null when the study has no pruner."})


class HealthOut(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadyOut(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready"]))
    revision = fields.String(required=True, allow_none=True,
                             metadata={"description": "The database schema's migration revision."})


class ProblemOut(ma.Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"description": "A URN per kind of problem, or about:blank."})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "What went wrong and what to change."})
    errors = fields.Dict(metadata={"description": "Field name -> what is wrong with it."})
    request_id = fields.String()
    differing_fields = fields.List(fields.String(), metadata={
        "description": "409 on create: the fields in which the existing study differs."})
    grid_size = fields.Integer(metadata={
        "description": "409 grid-exhausted on ask: how many points the study's grid has."})
    quota = fields.String(metadata={"description": "403 quota-exceeded and 429 running-trials-quota: which quota."})
    limit = fields.Integer(metadata={
        "description": "The quota's value for your team, or the limit reached (report-limit)."})
    running = fields.Integer(metadata={"description": "429 running-trials-quota: the study's running trials."})
    needed = fields.Integer(metadata={"description": "409 too-few-trials: how many completed trials with different "
                                                     "values of the metric importance needs."})
    have = fields.Integer(metadata={"description": "409 too-few-trials: how many different values the study's "
                                                   "completed trials have."})


class KeyOut(ma.Schema):
    key_id = fields.String(required=True, metadata={"description": f"The key's public id ({KEY_ID_LENGTH} hex "
                                                                   "characters): in audit columns, and to revoke it."})
    role = fields.Enum(Role, by_value=True, required=True, metadata={"openapi": ref("Role")})
    label = fields.String(required=True, allow_none=True)
    created_at = Timestamp(required=True)
    created_by = fields.String(required=True, allow_none=True,
                               metadata={"description": "The admin key that made it, or \"cli\"."})
    revoked_at = Timestamp(required=True, allow_none=True)
    revoked_by = fields.String(required=True, allow_none=True)


class CreatedKeyOut(KeyOut):
    key = fields.String(required=True, metadata={
        "description": "The key itself, for `Authorization: Bearer <key>`. Shown this once: the service keeps only "
                       "its digest. Store it in a secret manager."})


class KeyPageOut(ma.Schema):
    keys = fields.List(fields.Nested(KeyOut), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class QuotasOut(ma.Schema):
    max_studies = fields.Integer(required=True)
    max_running_trials = fields.Integer(required=True, metadata={"description": "Per study."})
    max_trials_per_ask = fields.Integer(required=True)


class TeamOut(ma.Schema):
    name = fields.String(required=True)
    role = fields.Enum(Role, by_value=True, required=True, metadata={"openapi": ref("Role"),
                                                                     "description": "Your key's role."})
    key_id = fields.String(required=True, allow_none=True,
                           metadata={"description": "Your key's id (null when the service runs without keys)."})
    quotas = fields.Nested(QuotasOut, required=True)
    studies = fields.Integer(required=True, metadata={"description": "Studies the team has now."})


class AuditEventOut(ma.Schema):
    at = Timestamp(required=True)
    actor = fields.String(required=True, allow_none=True,
                          metadata={"description": "The key id, \"cli\", or null (service without keys)."})
    action = fields.String(required=True, metadata={"description": "study.created, study.deleted, key.created or "
                                                                   "key.revoked."})
    target = fields.String(required=True, metadata={"description": "The study's name or the key's id."})


class AuditPageOut(ma.Schema):
    events = fields.List(fields.Nested(AuditEventOut), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class TrialAuditOut(ma.Schema):
    number = fields.Integer(required=True)
    state = fields.String(required=True, metadata={"openapi": ref("TrialState")})
    source = fields.String(required=True, metadata={"description": "suggester, queue or import."})
    asked_at = Timestamp(required=True)
    asked_by = fields.String(required=True, allow_none=True, metadata={
        "description": "The key that asked for the trial (or imported it)."})
    finished_at = Timestamp(required=True, allow_none=True)
    told_by = fields.String(required=True, allow_none=True, metadata={
        "description": "The key that told its result (null: not told, or failed as stale by the service)."})


class StudyAuditOut(ma.Schema):
    name = fields.String(required=True)
    created_at = Timestamp(required=True)
    created_by = fields.String(required=True, allow_none=True)
    trials = fields.List(fields.Nested(TrialAuditOut), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


# Shared instances: building a marshmallow schema costs more than dumping with it.
ADDED_OUT = AddedOut()
REPORTED_OUT = ReportedOut()
STUDY_OUT = StudyOut()
PARETO_OUT = ParetoOut()



# --- rules the fields alone cannot state ----------------------------------------------------------

#: Which result and state go together (service.outcomes): completed needs a value (or, in a study with several
#: objectives or with constraints, `values`), failed has neither, and a tell without a state is completed; an
#: import item with none of them is enqueued; `value` and `values` never come together. Stated with if/then and
#: not, which client generators leave alone (a top-level anyOf would turn the model into a union of models).
_NEEDS_VALUE = {"anyOf": [{"required": ["value"], "properties": {"value": {"type": "number"}}},
                          {"required": ["values"], "properties": {"values": {"type": "object"}}}]}
_FAILED_HAS_NO_VALUE = {"if": {"required": ["state"], "properties": {"state": {"const": "failed"}}},
                        "then": {"properties": {"value": {"type": "null"}, "values": {"type": "null"}}}}
_NOT_BOTH = {"not": {"required": ["value", "values"],
                     "properties": {"value": {"type": "number"}, "values": {"type": "object"}}}}
TOLD = {"if": {"properties": {"state": {"enum": ["completed", None]}}}, "then": _NEEDS_VALUE,
        "else": _FAILED_HAS_NO_VALUE, **_NOT_BOTH}
ADDED = {"if": {"required": ["state"], "properties": {"state": {"const": "completed"}}}, "then": _NEEDS_VALUE,
         "else": _FAILED_HAS_NO_VALUE, **_NOT_BOTH}
#: `objective` or `objectives`, exactly one of them.
ONE_OBJECTIVE_FIELD = {"if": {"not": {"required": ["objective"]}}, "then": {"required": ["objectives"]},
                       "not": {"required": ["objective", "objectives"]}}
#: A whole study definition: tools that compose one from each field's example (Swagger UI's "Try it out",
#: fuzzers) would otherwise pair a condition with a param it does not fit.
STUDY_EXAMPLE = {
    "name": "resnet-lr-sweep",
    "space": {"params": [
        {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
        {"name": "batch_size", "type": "int", "low": 16, "high": 256, "step": 16},
        {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
        {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}}]},
    "objective": {"name": "val_loss", "goal": "minimize"},
    "suggester": {"name": "random", "options": {}},
}


def document_rules(spec: APISpec, limits: Limits) -> None:
    """Put in the document what the service checks beyond each field's type: the configured limits and
    which value and state go together. A request the document calls valid is then one the service
    accepts, and a client learns the limits without trying them."""
    plugin_docs.register(spec, pruners)
    schemas = spec.components.schemas

    def bound(component: str, field: str, **keywords: Any) -> None:
        schemas[component]["properties"][field].update(keywords)

    bound("AskIn", "count", maximum=limits.max_count)
    bound("AskIn", "client_id", maxLength=limits.max_name_length)
    bound("TrialsIn", "trials", maxItems=limits.max_import)
    bound("StudyIn", "name", maxLength=limits.max_name_length)
    bound("ObjectiveIn", "name", maxLength=limits.max_name_length)
    bound("KeyIn", "label", maxLength=min(KEY_LABEL_MAX, limits.max_name_length))
    schemas["StudyIn"]["example"] = STUDY_EXAMPLE
    schemas["TrialOut"]["properties"]["intermediate"]["maxItems"] = limits.max_reports
    bound("AskOut", "trials", maxItems=limits.max_count)
    for component in ("StudyIn", "StudyOut", "ParetoOut", "ParetoPageOut"):
        bound(component, "reference_point", maxItems=MAX_OBJECTIVES)
    bound("StudyOut", "objectives", maxItems=MAX_OBJECTIVES)
    bound("ImportanceOut", "params", maxItems=limits.max_params)
    bound("StudyOut", "constraints", maxItems=MAX_CONSTRAINTS)
    bound("ParetoPageOut", "trials", maxItems=MAX_PAGE)
    bound("AddedOut", "imported", maxItems=limits.max_import)
    for component, field in (("StudyPageOut", "studies"), ("TrialPageOut", "trials"), ("KeyPageOut", "keys"),
                             ("AuditPageOut", "events"), ("StudyAuditOut", "trials")):
        bound(component, field, maxItems=MAX_PAGE)
    schemas["Metadata"]["description"] = (f"Any JSON object, stored and answered as given: at most "
                                          f"{limits.max_metadata_bytes:,} bytes as compact JSON.")
    schemas["StudyIn"].update(ONE_OBJECTIVE_FIELD)
    schemas["TellIn"].update(TOLD)
    schemas["NewTrialIn"].update(ADDED)
