"""Study rows: found within the caller's team, created, listed, deleted, and read back as `Study` values.

Every statement that finds a study by name finds it within the caller's team (`rows.OWN_STUDY`):
another team's study of the same name is, to the caller, a study that does not exist.

The hot path (every ask, tell, heartbeat and report) runs Core statements built once, here, with bound
parameters: building SQLAlchemy expressions per request, and the ORM's identity map and unit of work,
cost more than the queries themselves. The rest uses the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from suggest_api.config import Limits
from suggest_api.domain import ParetoSummary, Study
from suggest_api.multiobjective.front import Result, front, summary
from suggest_api.space import SearchSpace
from suggest_api.storage import trials
from suggest_api.storage.database import storable, utc_now
from suggest_api.storage.models import StudyRow
from suggest_api.storage.rows import OWN_STUDY, REF_COLUMNS, STUDIES, StudyRef, study_from_row

#: The stored columns that make a study's definition, by the name a create request gives them.
DEFINITION = {"space": "space", "objective_name": "objective_name", "goal": "goal", "objectives": "objectives",
              "constraints": "constraints", "reference_point": "reference_point", "suggester": "suggester",
              "pruner": "pruner", "seed": "seed", "heartbeat_timeout": "heartbeat_timeout",
              "metadata": "user_metadata"}

_FIND_REF = select(*REF_COLUMNS).where(*OWN_STUDY)
_LOCK_REF = _FIND_REF.with_for_update(key_share=True)
_CLAIM = (update(STUDIES).where(*OWN_STUDY)
          .values(next_number=STUDIES.c.next_number + bindparam("count")).returning(*REF_COLUMNS, utc_now()))
_RECORD_SUGGESTED = (update(STUDIES).where(STUDIES.c.id == bindparam("of_study_id"))
                     .values(suggested=STUDIES.c.suggested + bindparam("made"),
                             next_number=STUDIES.c.next_number - bindparam("unused")))
_RECORD_ADDED = (update(STUDIES).where(STUDIES.c.id == bindparam("of_study_id"))
                 .values(queued=STUDIES.c.queued + bindparam("enqueued"),
                         next_number=STUDIES.c.next_number + bindparam("imported")))
_SPACE = select(STUDIES.c.space).where(STUDIES.c.id == bindparam("of_study_id"))


def find_ref(session: Session, team_id: int, name: str, *, lock: bool = False) -> StudyRef | None:
    """`lock=True` takes the study row lock that asks take through `claim_numbers` (enqueue and import
    need it too: they change the queue and the number counter).

    PostgreSQL: FOR NO KEY UPDATE (only non-key columns change, so foreign-key checks from trial inserts
    elsewhere are not blocked). SQLite: the write transaction's BEGIN IMMEDIATE already holds it.
    """
    if not storable(name):
        return None
    row = session.connection().execute(_LOCK_REF if lock else _FIND_REF,
                                       {"of_team": team_id, "study_name": name}).one_or_none()
    return StudyRef(*row) if row is not None else None


def claim_numbers(session: Session, team_id: int, name: str, count: int) -> tuple[StudyRef, datetime] | None:
    """Reserve `count` trial numbers in one statement, which also takes the study's write lock and reads
    the database's clock.

    PostgreSQL locks the updated row until commit, so concurrent asks of one study queue here and
    nowhere else; SQLite's BEGIN IMMEDIATE already serializes writers. The returned `next_number`
    is the value after the reservation: the new trials are numbered from `next_number - count`.
    """
    if not storable(name):
        return None
    row = session.connection().execute(_CLAIM, {"of_team": team_id, "study_name": name, "count": count}
                                       ).one_or_none()
    return (StudyRef(*row[:-1]), row[-1]) if row is not None else None


def record_suggested(session: Session, study_id: int, made: int, unused: int) -> None:
    """Count the trials the suggester just made, and give back numbers reserved for trials it could not make
    (a grid running out mid-batch), so trial numbers stay gap-free. The study lock is held."""
    session.connection().execute(_RECORD_SUGGESTED, {"of_study_id": study_id, "made": made, "unused": unused})


def record_added(session: Session, study_id: int, *, enqueued: int, imported: int) -> None:
    """Count parameter sets put in the queue, and the numbers imported trials took. The study lock is held."""
    session.connection().execute(_RECORD_ADDED, {"of_study_id": study_id, "enqueued": enqueued,
                                                 "imported": imported})


def stored_definition(session: Session, team_id: int, name: str) -> tuple[int, dict[str, Any]] | None:
    """The study's row id and its definition as stored (JSON values by `DEFINITION`'s names): a repeated
    create compares them with what it was sent."""
    if not storable(name):
        return None
    row = session.scalars(select(StudyRow).where(StudyRow.team_id == team_id, StudyRow.name == name)).one_or_none()
    if row is None:
        return None
    return row.id, {given: getattr(row, column) for given, column in DEFINITION.items()}


def insert(session: Session, *, team_id: int, created_by: str | None, name: str, definition: Mapping[str, Any],
           created_at: datetime) -> int:
    """Store a new study (`definition`: a value for each of `DEFINITION`'s names); its row id. A concurrent
    create of the same name fails here (IntegrityError)."""
    row = StudyRow(team_id=team_id, created_by=created_by, name=name, next_number=0, created_at=created_at,
                   **{column: definition[given] for given, column in DEFINITION.items()})
    session.add(row)
    session.flush()
    return row.id


def delete_study(session: Session, team_id: int, name: str) -> bool:
    """Delete a study with its trials (foreign keys cascade); False when there was none of that name."""
    if not storable(name):
        return False
    result = session.execute(delete(StudyRow).where(StudyRow.team_id == team_id, StudyRow.name == name)
                             .execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def count(session: Session, team_id: int) -> int:
    return session.scalar(select(func.count()).select_from(StudyRow).where(StudyRow.team_id == team_id)) or 0


class SpaceCache:
    """Each study's space, parsed and validated once per worker: a study's space never changes.

    Keyed by the study's identity (row id and creation time, so a study deleted and made again under a
    reused id is not mistaken for the old one). Bounded: it starts over when full.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._spaces: dict[tuple[int, datetime], SearchSpace] = {}

    def get(self, study_id: int, created_at: datetime, stored: Callable[[], Any]) -> SearchSpace:
        """The space, parsing `stored()` (the space column's JSON) on a miss."""
        key = (study_id, created_at)
        space = self._spaces.get(key)
        if space is None:
            if len(self._spaces) >= self.size:
                self._spaces.clear()
            space = self._spaces[key] = parse_stored_space(stored())
        return space

    def put(self, study_id: int, created_at: datetime, space: SearchSpace) -> None:
        """Remember a space parsed elsewhere (a study just created), so it is not parsed again."""
        if len(self._spaces) >= self.size:
            self._spaces.clear()
        self._spaces[(study_id, created_at)] = space

    def of(self, session: Session, study: StudyRef) -> SearchSpace:
        """The space of a study found by `find_ref` or `claim_numbers` (read from its row on a miss)."""
        return self.get(study.id, study.created_at,
                        lambda: session.connection().execute(_SPACE, {"of_study_id": study.id}).scalar_one())


# A stored space passed the limits in force when its study was created; reloading it must not
# apply today's (perhaps lower) limits, or a restart with new settings would lock a study out.
_NO_LIMITS = Limits(max_params=2**62, max_choices=2**62, max_name_length=2**62)


def parse_stored_space(stored: Any) -> SearchSpace:
    return SearchSpace.from_json(stored, limits=_NO_LIMITS)


def read(session: Session, team_id: int, name: str, spaces: SpaceCache) -> Study | None:
    """The study with its trial counts and best trial."""
    if not storable(name):
        return None
    row = session.scalars(select(StudyRow).where(StudyRow.team_id == team_id, StudyRow.name == name)).one_or_none()
    return _summaries(session, [row], spaces)[0] if row is not None else None


def read_by_id(session: Session, study_id: int, spaces: SpaceCache) -> Study:
    return _summaries(session, [session.get_one(StudyRow, study_id)], spaces)[0]


def page(session: Session, team_id: int, after: int, limit: int, spaces: SpaceCache) -> list[tuple[int, Study]]:
    """Up to `limit` of the team's studies after row id `after`, oldest first, each with its row id."""
    rows = list(session.scalars(select(StudyRow).where(StudyRow.team_id == team_id, StudyRow.id > after)
                                .order_by(StudyRow.id).limit(limit)))
    return list(zip((row.id for row in rows), _summaries(session, rows, spaces), strict=True))


def _summaries(session: Session, rows: Sequence[StudyRow], spaces: SpaceCache) -> list[Study]:
    """Studies with their trial counts and best trials: a fixed number of queries for any page size."""
    ids = [row.id for row in rows]
    counts = trials.count_by_state(session, ids)
    activity = trials.last_activity(session, ids)
    best = trials.best_of_studies(session, ids)
    found = [_study(row, spaces) for row in rows]
    results = trials.completed_results(session, [row.id for row, study in zip(rows, found, strict=True)
                                                 if study.multi_objective])
    return [replace(study, trial_counts=counts[row.id], last_activity_at=activity[row.id],
                    queued=row.queued, best_trial=None if study.multi_objective else best.get(row.id),
                    pareto=_pareto(study, results[row.id]) if row.id in results else None)
            for row, study in zip(rows, found, strict=True)]


def _pareto(study: Study, results: Sequence[Result]) -> ParetoSummary:
    return summary(front(results, study.objectives), study.objectives, study.reference_point)


def _study(row: StudyRow, spaces: SpaceCache) -> Study:
    return study_from_row(row, spaces.get(row.id, row.created_at, lambda: row.space))
