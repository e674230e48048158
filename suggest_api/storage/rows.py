"""What a row becomes: the one place rows turn into domain values (and the Core table handles for it).

The statements in studies.py, trials.py, idempotency.py and accounts.py read rows; this module says
what each row means to the rest of the service, so no layer above storage ever sees a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam

from suggest_api.domain import (
    Constraint,
    ConstraintOp,
    Goal,
    Objective,
    PluginRef,
    Report,
    Study,
    Trial,
    TrialState,
)
from suggest_api.space import SearchSpace
from suggest_api.storage.models import Base, StudyRow

STUDIES = Base.metadata.tables["studies"]
TRIALS = Base.metadata.tables["trials"]
REPORTS = Base.metadata.tables["trial_reports"]
QUEUE = Base.metadata.tables["queued_params"]
TRIAL_COLUMNS = tuple(TRIALS.c)
#: Every statement that finds a study by name finds it within the caller's team: another team's study of
#: the same name is, to the caller, a study that does not exist.
OWN_STUDY = (STUDIES.c.team_id == bindparam("of_team"), STUDIES.c.name == bindparam("study_name"))


@dataclass(frozen=True)
class StudyRef:
    """The study columns that trial operations need, read without decoding the study's definition."""

    id: int
    name: str
    next_number: int
    goal: str
    suggester: dict[str, Any]
    pruner: dict[str, Any] | None
    seed: int
    heartbeat_timeout: float
    queued: int
    reaped_at: datetime | None
    suggested: int
    created_at: datetime
    objectives: list[Any] | None
    constraints: list[Any] | None
    objective_name: str
    reference_point: list[Any] | None

    @property
    def objective_list(self) -> tuple[Objective, ...]:
        return objectives_of(self.objective_name, self.goal, self.objectives)

    @property
    def constraint_list(self) -> tuple[Constraint, ...]:
        return constraints_of(self.constraints)

    @property
    def suggester_ref(self) -> PluginRef:
        return plugin_ref(self.suggester)

    @property
    def pruner_ref(self) -> PluginRef | None:
        return plugin_ref(self.pruner) if self.pruner else None


REF_COLUMNS = tuple(STUDIES.c[name] for name in StudyRef.__dataclass_fields__)


def plugin_ref(stored: dict[str, Any]) -> PluginRef:
    return PluginRef(name=stored["name"], options=stored["options"])


def objectives_of(objective_name: str, goal: str, stored: list[Any] | None) -> tuple[Objective, ...]:
    """A study's objectives from its columns (the list column is NULL for a study with one)."""
    if not stored:
        return (Objective(objective_name, Goal(goal)),)
    return tuple(Objective(o["name"], Goal(o["goal"])) for o in stored)


def constraints_of(stored: list[Any] | None) -> tuple[Constraint, ...]:
    return tuple(Constraint(c["name"], ConstraintOp(c["op"]), float(c["bound"])) for c in stored or ())


def trial_from_row(row: Any, reports: Sequence[Report] = ()) -> Trial:
    """A Trial from a row holding the trials table's columns (first, in table order)."""
    m = row._mapping
    return Trial(number=m["number"], state=TrialState(m["state"]), params=m["params"], value=m["value"],
                 created_at=m["created_at"], finished_at=m["finished_at"], heartbeat_at=m["heartbeat_at"],
                 lease_expires_at=m["lease_expires_at"], fail_reason=m["fail_reason"], client_id=m["client_id"],
                 metadata=m["metadata"], source=m["source"], intermediate=tuple(reports), values=m["metrics"],
                 feasible=m["feasible"])


def study_from_row(row: StudyRow, space: SearchSpace) -> Study:
    """A study's definition (its progress, counts and best trial, are added by the caller)."""
    return Study(
        name=row.name,
        space=space,
        objective_name=row.objective_name,
        goal=Goal(row.goal),
        objectives=objectives_of(row.objective_name, row.goal, row.objectives),
        constraints=constraints_of(row.constraints),
        reference_point=tuple(float(x) for x in row.reference_point) if row.reference_point else None,
        suggester=plugin_ref(row.suggester),
        pruner=plugin_ref(row.pruner) if row.pruner else None,
        seed=row.seed,
        heartbeat_timeout=row.heartbeat_timeout,
        created_at=row.created_at,
        metadata=row.user_metadata,
    )
