"""Studies: create (or get back the identical one), read, list, delete."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from suggest_api.accounts import Principal
from suggest_api.config import Limits
from suggest_api.domain import Goal, Study
from suggest_api.errors import Conflict, QuotaExceeded
from suggest_api.names import check_metadata, check_name
from suggest_api.paging import Page, cut, decode_cursor
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
    objective_name: str
    goal: Goal
    suggester_name: str
    suggester_options: Mapping[str, Any] = field(default_factory=dict)
    pruner_name: str | None = None
    pruner_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    heartbeat_timeout: float | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Created:
    study: Study
    created: bool  # False: an identical study existed, and this is it


#: The stored fields' names as a create request spells them, for a 409's message.
_PUBLIC_FIELD = {"objective_name": "objective.name", "goal": "objective.goal"}


def create_study(session: Session, who: Principal, definition: StudyDefinition, *, limits: Limits,
                 default_heartbeat_timeout: float, spaces: SpaceCache) -> Created:
    """Create, or return the existing study when it has the same definition (409 when it differs).

    The team's row lock makes a team's creations take turns, so its study quota holds however many
    replicas create at once.
    """
    check_name("name", definition.name, limits)
    check_name("objective.name", definition.objective_name, limits)
    check_metadata("metadata", definition.metadata, limits)
    space = SearchSpace.from_json(definition.space, limits=limits)
    suggester = suggesters.validate(definition.suggester_name, definition.suggester_options)
    suggesters.build(suggester).check(space, limits)
    pruner = (pruners.validate(definition.pruner_name, definition.pruner_options)
              if definition.pruner_name is not None else None)
    wanted: dict[str, Any] = {
        "space": space.to_json(),
        "objective_name": definition.objective_name,
        "goal": definition.goal.value,
        "suggester": {"name": suggester.name, "options": dict(suggester.options)},
        "pruner": {"name": pruner.name, "options": dict(pruner.options)} if pruner else None,
    }
    optional = {"seed": definition.seed, "heartbeat_timeout": definition.heartbeat_timeout,
                "metadata": definition.metadata}
    accounts.lock_team(session, who.team_id)
    existing = studies.stored_definition(session, who.team_id, definition.name)
    if existing is not None:
        study_id, stored = existing
        given = wanted | {k: v for k, v in optional.items() if v is not None}
        differ = [_PUBLIC_FIELD.get(k, k) for k in sorted(given, key=studies.DEFINITION.__getitem__)
                  if _json_text(stored[k]) != _json_text(given[k])]
        if differ:
            raise Conflict(f"study {definition.name!r} already exists with a different {', '.join(differ)}; "
                           "choose another name, or delete the study first", extra={"differing_fields": differ})
        return Created(studies.read_by_id(session, study_id, spaces), created=False)
    count = studies.count(session, who.team_id)
    if count >= who.quotas.max_studies:
        raise QuotaExceeded(f"team {who.team_name!r} has {count} studies, its quota is {who.quotas.max_studies}; "
                            "delete studies it no longer needs, or ask the operator to raise the quota",
                            extra={"quota": "max_studies", "limit": who.quotas.max_studies})
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
