"""Studies: create (or get back the identical one), read, list, delete."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from suggest_api.accounts import Principal
from suggest_api.config import Limits
from suggest_api.domain import Constraint, ConstraintOp, Goal, Objective, Study
from suggest_api.errors import Conflict, InvalidInput, QuotaExceeded
from suggest_api.names import check_metadata, check_name
from suggest_api.paging import Page, cut, decode_cursor
from suggest_api.plugins import Registry
from suggest_api.pruners.registry import pruners
from suggest_api.service.lookup import no_study
from suggest_api.space import SearchSpace
from suggest_api.storage import accounts, studies
from suggest_api.storage.database import database_now
from suggest_api.storage.studies import SpaceCache
from suggest_api.suggesters.registry import suggesters

MAX_SEED = 2**63 - 1


@dataclass(frozen=True, kw_only=True)
class StudyDefinition:
    """A create request after its shape was checked; `None` means "not given, use the default"."""

    name: str
    space: Mapping[str, Any]
    #: One objective (the `objective` field), unless `objectives` lists them.
    objective_name: str = "value"
    goal: Goal = Goal.MINIMIZE
    suggester_name: str = "random"
    suggester_options: Mapping[str, Any] = field(default_factory=dict)
    pruner_name: str | None = None
    pruner_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    heartbeat_timeout: float | None = None
    metadata: Mapping[str, Any] | None = None
    #: Several objectives (or a list of one): given instead of objective_name and goal.
    objectives: Sequence[Objective] = ()
    constraints: Sequence[Constraint] = ()
    #: The hypervolume's reference point, one number per objective in its own units.
    reference_point: Sequence[float] | None = None


def definition_from(given: Mapping[str, Any], name: str) -> StudyDefinition:
    """A definition from a create request's fields, as `POST /v1/studies` and a study document both give them
    (`objective` or `objectives`, `suggester` and `pruner` as {name, options}); `name` may rename it."""
    objective = given.get("objective") or {"name": "value", "goal": Goal.MINIMIZE}
    pruner = given.get("pruner") or {}
    return StudyDefinition(
        name=name, space=given["space"], objective_name=objective["name"], goal=Goal(objective["goal"]),
        objectives=[Objective(o["name"], Goal(o["goal"])) for o in given.get("objectives") or ()],
        constraints=[Constraint(c["name"], ConstraintOp(c["op"]), c["bound"]) for c in given.get("constraints") or ()],
        reference_point=given.get("reference_point"), suggester_name=given["suggester"]["name"],
        suggester_options=given["suggester"].get("options", {}), pruner_name=pruner.get("name"),
        pruner_options=pruner.get("options", {}), seed=given.get("seed"),
        heartbeat_timeout=given.get("heartbeat_timeout"), metadata=given.get("metadata"))


#: The most objectives a study may have: beyond four, a Pareto front is most of the trials and tells little.
MAX_OBJECTIVES = 4
MAX_CONSTRAINTS = 8


@dataclass(frozen=True)
class Created:
    study: Study
    created: bool  # False: an identical study existed, and this is it


#: The stored fields' names as a create request spells them, for a 409's message.
_PUBLIC_FIELD = {"objective_name": "objective.name", "goal": "objective.goal"}


@dataclass(frozen=True)
class ValidDefinition:
    """A definition checked whole: the values to store (by `storage.studies.DEFINITION`'s names, without the
    optional ones) and the parsed pieces an importer needs."""

    wanted: dict[str, Any]
    space: SearchSpace
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]


def validate_definition(definition: StudyDefinition, limits: Limits) -> ValidDefinition:
    """Every check a create makes before it looks at the database: InvalidInput naming the field."""
    check_name("name", definition.name, limits)
    objectives = _objectives(definition, limits)
    constraints = _constraints(definition.constraints, objectives, limits)
    reference_point = _reference_point(definition.reference_point, objectives)
    check_metadata("metadata", definition.metadata, limits)
    space = SearchSpace.from_json(definition.space, limits=limits)
    suggester = suggesters.validate(definition.suggester_name, definition.suggester_options)
    suggesters.build(suggester).check(space, limits)
    pruner = (pruners.validate(definition.pruner_name, definition.pruner_options)
              if definition.pruner_name is not None else None)
    if pruner is not None and len(objectives) > 1:
        raise InvalidInput(f"pruners compare one objective, and this study has {len(objectives)}; drop `pruner` "
                           "(a multi-objective study runs every trial to its end)",
                           errors={"pruner": ["not available for a study with several objectives"]})
    wanted: dict[str, Any] = {
        "space": space.to_json(),
        "objective_name": objectives[0].name,
        "goal": objectives[0].goal.value,
        "objectives": [{"name": o.name, "goal": o.goal.value} for o in objectives] if len(objectives) > 1 else None,
        "constraints": [{"name": c.name, "op": c.op.value, "bound": c.bound} for c in constraints] or None,
        "reference_point": list(reference_point) if reference_point is not None else None,
        "suggester": {"name": suggester.name, "options": dict(suggester.options)},
        "pruner": {"name": pruner.name, "options": dict(pruner.options)} if pruner else None,
    }
    return ValidDefinition(wanted, space, objectives, constraints)


def create_study(session: Session, who: Principal, definition: StudyDefinition, *, limits: Limits,
                 default_heartbeat_timeout: float, spaces: SpaceCache) -> Created:
    """Create, or return the existing study when it has the same definition (409 when it differs).

    The team's row lock makes a team's creations take turns, so its study quota holds however many
    replicas create at once.
    """
    valid = validate_definition(definition, limits)
    wanted, space = valid.wanted, valid.space
    optional = {"seed": definition.seed, "heartbeat_timeout": definition.heartbeat_timeout,
                "metadata": definition.metadata}
    accounts.lock_team(session, who.team_id)
    existing = studies.stored_definition(session, who.team_id, definition.name)
    if existing is not None:
        study_id, stored = existing
        stored = with_current_defaults(stored)
        given = wanted | {k: v for k, v in optional.items() if v is not None}
        differ = [_PUBLIC_FIELD.get(k, k) for k in sorted(given, key=studies.DEFINITION.__getitem__)
                  if _json_text(stored[k]) != _json_text(given[k])]
        if differ:
            raise Conflict(f"study {definition.name!r} already exists with a different {', '.join(differ)}; "
                           "choose another name, or delete the study first", extra={"differing_fields": differ})
        return Created(studies.read_by_id(session, study_id, spaces), created=False)
    check_study_quota(session, who)
    now = database_now(session)
    new = wanted | {
        "seed": definition.seed if definition.seed is not None else secrets.randbelow(MAX_SEED),
        "heartbeat_timeout": definition.heartbeat_timeout or default_heartbeat_timeout,
        "metadata": definition.metadata}
    study_id = studies.insert(session, team_id=who.team_id, created_by=who.key_id, name=definition.name,
                              definition=new, created_at=now)
    spaces.put(study_id, now, space)  # parsed and validated above: the answer need not parse it again
    accounts.record(session, who.team_id, who.key_id, "study.created", definition.name, now)
    return Created(studies.read_by_id(session, study_id, spaces), created=True)


def check_study_quota(session: Session, who: Principal) -> None:
    """Refuse a new study past the team's quota (the caller holds the team's lock, so creations take turns)."""
    count = studies.count(session, who.team_id)
    if count >= who.quotas.max_studies:
        raise QuotaExceeded(f"team {who.team_name!r} has {count} studies, its quota is {who.quotas.max_studies}; "
                            "delete studies it no longer needs, or ask the operator to raise the quota",
                            extra={"quota": "max_studies", "limit": who.quotas.max_studies})


def with_current_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored definition with its suggester's and pruner's options completed by today's defaults."""
    return stored | {"suggester": _with_defaults(suggesters, stored["suggester"]),
                     "pruner": _with_defaults(pruners, stored["pruner"]) if stored["pruner"] else None}


def _with_defaults(registry: Registry[Any], stored: dict[str, Any]) -> dict[str, Any]:
    """Stored options with the defaults of options added since the study was made, so that re-creating a study
    made by an older version, as its workers do at start-up, finds it identical rather than a 409."""
    try:
        ref = registry.validate(stored["name"], stored["options"])
    except InvalidInput:  # options an older version accepted and this one does not: compared as stored
        return stored
    return {"name": ref.name, "options": dict(ref.options)}


def _objectives(definition: StudyDefinition, limits: Limits) -> tuple[Objective, ...]:
    if not definition.objectives:
        check_name("objective.name", definition.objective_name, limits)
        return (Objective(definition.objective_name, definition.goal),)
    objectives = tuple(definition.objectives)
    if len(objectives) > MAX_OBJECTIVES:
        raise InvalidInput(f"a study has at most {MAX_OBJECTIVES} objectives, not {len(objectives)}; combine or drop "
                           "some (a constraint can bound a metric instead)",
                           errors={"objectives": [f"at most {MAX_OBJECTIVES}"]})
    seen: set[str] = set()
    for index, objective in enumerate(objectives):
        check_name(f"objectives[{index}].name", objective.name, limits)
        if objective.name in seen:
            raise InvalidInput(f"objective {objective.name!r} is listed twice; each objective needs its own name",
                               errors={f"objectives[{index}].name": ["duplicate"]})
        seen.add(objective.name)
    return objectives


def _constraints(given: Sequence[Constraint], objectives: Sequence[Objective], limits: Limits
                 ) -> tuple[Constraint, ...]:
    if len(given) > MAX_CONSTRAINTS:
        raise InvalidInput(f"a study has at most {MAX_CONSTRAINTS} constraints, not {len(given)}",
                           errors={"constraints": [f"at most {MAX_CONSTRAINTS}"]})
    taken = {o.name for o in objectives}
    for index, constraint in enumerate(given):
        check_name(f"constraints[{index}].name", constraint.name, limits)
        if constraint.name in taken:
            kind = "an objective" if any(o.name == constraint.name for o in objectives) else "another constraint"
            raise InvalidInput(f"constraint {constraint.name!r} has the name of {kind}; constrain a different metric "
                               "(an objective is optimized, not bounded)",
                               errors={f"constraints[{index}].name": [f"already the name of {kind}"]})
        if not math.isfinite(constraint.bound):
            raise InvalidInput("a constraint's bound must be a finite number",
                               errors={f"constraints[{index}].bound": ["must be finite"]})
        taken.add(constraint.name)
    return tuple(given)


def _reference_point(given: Sequence[float] | None, objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    if given is None:
        return None
    if len(objectives) < 2:
        raise InvalidInput("a reference point measures the hypervolume of a multi-objective study; this study has "
                           "one objective, so drop `reference_point`",
                           errors={"reference_point": ["only for a study with several objectives"]})
    if len(given) != len(objectives):
        raise InvalidInput(f"reference_point needs one number per objective ({len(objectives)}), not {len(given)}",
                           errors={"reference_point": [f"must have {len(objectives)} numbers"]})
    if not all(math.isfinite(x) for x in given):
        raise InvalidInput("reference_point's numbers must be finite", errors={"reference_point": ["must be finite"]})
    return tuple(float(x) for x in given)


def _json_text(value: Any) -> str:
    """Compare stored and requested values as JSON: in Python True == 1, in a search space they differ."""
    return json.dumps(value, sort_keys=True)


def get_study(session: Session, who: Principal, name: str, spaces: SpaceCache) -> Study:
    study = studies.read(session, who.team_id, name, spaces)
    if study is None:
        raise no_study(name)
    return study


def list_studies(session: Session, who: Principal, limit: int, cursor: str | None, spaces: SpaceCache) -> Page[Study]:
    page = cut(studies.page(session, who.team_id, decode_cursor(cursor), limit + 1, spaces), limit,
               lambda item: item[0])
    return page.with_items([study for _, study in page.items])


def delete_study(session: Session, who: Principal, name: str) -> None:
    if not studies.delete_study(session, who.team_id, name):
        raise no_study(name)
    accounts.record(session, who.team_id, who.key_id, "study.deleted", name, database_now(session))
