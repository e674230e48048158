"""The study document: what `GET /export` writes and `POST /v1/studies:import` (and `suggest-api import`, and the
Optuna importer) reads. One format, `suggest-api.study` version 1 (docs/integrations.md), checked here by
marshmallow schemas so a file from the command line gets the same errors, keyed by the same paths
(`trials[3].intermediate[0].value`), as a request body.

Only the shape is checked here; what the study's space, objectives and limits make of it is the importer's
(service.transfer). Writing goes through `render`, so an export and the normalized form of an incoming
document compare as equal JSON when they hold the same study.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from suggest_api.domain import Goal, TrialState
from suggest_api.errors import InvalidInput

FORMAT = "suggest-api.study"
VERSION = 1
SOURCES = ("suggester", "queue", "import")
MAX_FAIL_REASON = 64
MAX_CLIENT_ID = 1024
#: The most fields a refusal names; the rest are counted.
MAX_PROBLEMS = 50


class _Int(fields.Integer):
    """An integer that is not a bool (JSON's true is not 1) nor a float."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return int(value)


class _Number(fields.Float):
    """A finite number that is not a bool."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _validated(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._validated(value)


class _Time(fields.DateTime):
    """RFC 3339 with an offset, read as naive UTC (how the database keeps time); written with +00:00."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            raise ma.ValidationError("needs a time zone offset (e.g. 2026-01-31T09:30:00+00:00 or ...Z)")
        return parsed.astimezone(UTC).replace(tzinfo=None)


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class _ObjectiveIn(_Strict):
    name = fields.String(required=True)
    goal = fields.Enum(Goal, by_value=True, required=True)


class _ConstraintIn(_Strict):
    name = fields.String(required=True)
    op = fields.String(required=True, validate=validate.OneOf(["<=", ">="]))
    bound = _Number(required=True)


class _PluginIn(_Strict):
    name = fields.String(required=True)
    options = fields.Dict(keys=fields.String(), load_default=dict)


class _StudyIn(_Strict):
    name = fields.String(required=True)
    space = fields.Dict(required=True)
    objective = fields.Nested(_ObjectiveIn, load_default=None, allow_none=True)
    objectives = fields.List(fields.Nested(_ObjectiveIn), load_default=None, allow_none=True)
    constraints = fields.List(fields.Nested(_ConstraintIn), load_default=None, allow_none=True)
    reference_point = fields.List(_Number(), load_default=None, allow_none=True)
    suggester = fields.Nested(_PluginIn, required=True)
    pruner = fields.Nested(_PluginIn, load_default=None, allow_none=True)
    seed = _Int(required=True, validate=validate.Range(0, 2**63 - 1))
    heartbeat_timeout = _Number(required=True, validate=validate.Range(0.1, 30 * 86400))
    metadata = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)
    created_at = _Time(required=True)
    suggested = _Int(load_default=0, validate=validate.Range(min=0))

    @ma.validates_schema(skip_on_field_errors=False)
    def _one_objective_field(self, data: Mapping[str, Any], **_: Any) -> None:
        given = [f for f in ("objective", "objectives") if data.get(f) is not None]
        if len(given) != 1:
            raise ma.ValidationError("give exactly one of `objective` {name, goal} and `objectives` [...]",
                                     "objective")


class _ReportIn(_Strict):
    step = _Int(required=True, validate=validate.Range(0, 2**63 - 1))
    value = _Number(required=True)
    best = _Number(load_default=None, allow_none=True)
    prune = fields.Boolean(load_default=None, allow_none=True, truthy={True}, falsy={False})
    reason = fields.String(load_default=None, allow_none=True)
    rung = _Int(load_default=None, allow_none=True, validate=validate.Range(0, 2**31 - 1))
    created_at = _Time(load_default=None, allow_none=True)


class _RungIn(_Strict):
    rung = _Int(required=True, validate=validate.Range(0, 2**31 - 1))
    value = _Number(required=True)
    created_at = _Time(load_default=None, allow_none=True)


class _TrialIn(_Strict):
    number = _Int(required=True)
    state = fields.Enum(TrialState, by_value=True, required=True)
    params = fields.Dict(keys=fields.String(), required=True)
    value = _Number(load_default=None, allow_none=True)
    values = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)
    # Derived from `values` and the constraints on import; accepted so that an export reads back unchanged.
    feasible = fields.Boolean(load_default=None, allow_none=True, truthy={True}, falsy={False})
    created_at = _Time(required=True)
    finished_at = _Time(load_default=None, allow_none=True)
    heartbeat_at = _Time(load_default=None, allow_none=True)
    fail_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_FAIL_REASON))
    client_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_CLIENT_ID))
    source = fields.String(load_default="import", validate=validate.OneOf(SOURCES))
    metadata = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)
    intermediate = fields.List(fields.Nested(_ReportIn), load_default=list)
    rungs = fields.List(fields.Nested(_RungIn), load_default=list)


class _QueuedIn(_Strict):
    params = fields.Dict(keys=fields.String(), required=True)
    metadata = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)
    created_at = _Time(load_default=None, allow_none=True)


class _DocumentIn(_Strict):
    format = fields.String(required=True, validate=validate.Equal(FORMAT, error=f"must be {FORMAT!r}"))
    version = _Int(required=True, validate=validate.Equal(VERSION, error=f"this service reads version {VERSION}"))
    study = fields.Nested(_StudyIn, required=True)
    trials = fields.List(fields.Nested(_TrialIn), load_default=list)
    queue = fields.List(fields.Nested(_QueuedIn), load_default=list)


_DOCUMENT = _DocumentIn()


def load(document: Any, *, max_trials: int) -> dict[str, Any]:
    """The document with its shape checked and its times parsed; InvalidInput naming every bad field."""
    if not isinstance(document, Mapping):
        raise InvalidInput("a study document is a JSON object (what GET /v1/studies/{name}/export answers)",
                           errors={"": ["must be an object"]})
    for field in ("trials", "queue"):
        items = document.get(field)
        if isinstance(items, list) and len(items) > max_trials:
            raise InvalidInput(f"the document's {field} holds {len(items):,} entries, above the limit of "
                               f"{max_trials:,} (SUGGEST_MAX_IMPORT_TRIALS)", errors={field: [f"at most {max_trials}"]})
    try:
        loaded: dict[str, Any] = _DOCUMENT.load(document)
    except ma.ValidationError as error:
        problems = flatten(error.messages)
        if len(problems) > MAX_PROBLEMS:  # a 100,000-entry list of wrong things needs no 100,000-line answer
            more = len(problems) - MAX_PROBLEMS
            problems = dict(list(problems.items())[:MAX_PROBLEMS]) | {"": [f"and {more:,} more"]}
        first = next(iter(problems))
        raise InvalidInput(f"the study document is not valid: {first or 'document'}: {problems[first][0]}"
                           + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                           errors=problems) from None
    return loaded


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as `trials[3].params`-style paths, each with its problems."""
    if isinstance(messages, list):
        return {prefix: [str(m) for m in messages]}
    if isinstance(messages, str):
        return {prefix: [messages]}
    flat: dict[str, list[str]] = {}
    for key, inner in messages.items():
        if key == "_schema":
            path = prefix
        elif isinstance(key, int):
            path = f"{prefix}[{key}]"
        else:
            path = f"{prefix}.{key}" if prefix else str(key)
        for where, problems in flatten(inner, path).items():
            flat.setdefault(where, []).extend(problems)
    return flat


def time_text(moment: datetime | None) -> str | None:
    """A stored (naive UTC) time as RFC 3339 with its offset, as the API writes times."""
    if moment is None:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()
