"""Queries, each taking the session first. Rows become domain objects here and nowhere else."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from suggest_api.config import Limits
from suggest_api.space import SearchSpace
from suggest_api.storage.models import IdempotencyRow, QueuedRow, ReportRow, StudyRow, TrialRow
from suggest_api.trials import Goal, PluginRef, Report, Study, Trial, TrialCounts, TrialState

STALE_REASON = "stale"
MAX_TRIAL_NUMBER = 2**31 - 1  # the column is a 32-bit integer; a larger number cannot exist


def find_study(session: Session, name: str, *, lock: bool = False) -> StudyRow | None:
    """`lock=True` takes the study row lock that serializes asks.

    PostgreSQL: FOR NO KEY UPDATE (ask changes only `next_number`, so foreign-key checks from trial
    inserts elsewhere are not blocked). SQLite: the write transaction's BEGIN IMMEDIATE already holds it.
    """
    query = select(StudyRow).where(StudyRow.name == name)
    if lock:
        query = query.with_for_update(key_share=True)
    return session.scalars(query).one_or_none()


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
    created_at: datetime


_REF_COLUMNS = (StudyRow.id, StudyRow.name, StudyRow.next_number, StudyRow.goal, StudyRow.suggester,
                StudyRow.pruner, StudyRow.seed, StudyRow.heartbeat_timeout, StudyRow.queued, StudyRow.reaped_at,
                StudyRow.created_at)


def find_study_ref(session: Session, name: str) -> StudyRef | None:
    row = session.execute(select(*_REF_COLUMNS).where(StudyRow.name == name)).one_or_none()
    return StudyRef(*row) if row is not None else None


def claim_numbers(session: Session, name: str, count: int) -> StudyRef | None:
    """Reserve `count` trial numbers in one statement, which also takes the study's write lock.

    PostgreSQL locks the updated row until commit, so concurrent asks of one study queue here and
    nowhere else; SQLite's BEGIN IMMEDIATE already serializes writers. The returned `next_number`
    is the value after the reservation: the new trials are numbered from `next_number - count`.
    """
    query = (update(StudyRow).where(StudyRow.name == name)
             .values(next_number=StudyRow.next_number + count).returning(*_REF_COLUMNS)
             .execution_options(synchronize_session=False))
    row = session.execute(query).one_or_none()
    return StudyRef(*row) if row is not None else None


def lock_trial(session: Session, name: str, number: int) -> tuple[StudyRef, TrialRow] | None:
    """A trial, locked (FOR UPDATE OF trials), with its study's columns: one statement for tell and report."""
    if not 0 <= number <= MAX_TRIAL_NUMBER:
        return None
    query = (select(TrialRow, *_REF_COLUMNS).join(StudyRow, StudyRow.id == TrialRow.study_id)
             .where(StudyRow.name == name, TrialRow.number == number).with_for_update(of=TrialRow))
    row = session.execute(query).one_or_none()
    return (StudyRef(*row[1:]), row[0]) if row is not None else None


def find_trial(session: Session, study_id: int, number: int, *, lock: bool = False) -> TrialRow | None:
    if not 0 <= number <= MAX_TRIAL_NUMBER:
        return None
    query = select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.number == number)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


# A stored space passed the limits in force when its study was created; reloading it must not
# apply today's (perhaps lower) limits, or a restart with new settings would lock a study out.
_NO_LIMITS = Limits(max_params=2**62, max_choices=2**62, max_name_length=2**62)


@lru_cache(maxsize=256)
def _parse_space(canonical: str) -> SearchSpace:
    return SearchSpace.from_json(json.loads(canonical), limits=_NO_LIMITS)


def stored_space(row: StudyRow) -> SearchSpace:
    """The study's space, validated once per worker rather than on every ask."""
    return _parse_space(json.dumps(row.space, sort_keys=True))


_SPACES: dict[tuple[int, datetime], SearchSpace] = {}


def space_of(session: Session, study: StudyRef) -> SearchSpace:
    """A study's space never changes: read and validate it once per worker, keyed by the study's identity."""
    key = (study.id, study.created_at)
    space = _SPACES.get(key)
    if space is None:
        if len(_SPACES) >= 1024:
            _SPACES.clear()
        space = _SPACES[key] = _parse_space(json.dumps(session.scalar(
            select(StudyRow.space).where(StudyRow.id == study.id)), sort_keys=True))
    return space


def study_from_row(row: StudyRow, space: SearchSpace | None = None) -> Study:
    pruner = PluginRef(name=row.pruner["name"], options=row.pruner["options"]) if row.pruner else None
    return Study(
        name=row.name,
        space=space or stored_space(row),
        objective_name=row.objective_name,
        goal=Goal(row.goal),
        suggester=PluginRef(name=row.suggester["name"], options=row.suggester["options"]),
        pruner=pruner,
        seed=row.seed,
        heartbeat_timeout=row.heartbeat_timeout,
        created_at=row.created_at,
        metadata=row.user_metadata,
    )


def trial_from_row(row: TrialRow, reports: Sequence[Report] = ()) -> Trial:
    return Trial(
        number=row.number,
        state=TrialState(row.state),
        params=row.params,
        value=row.value,
        created_at=row.created_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        fail_reason=row.fail_reason,
        client_id=row.client_id,
        metadata=row.user_metadata,
        intermediate=tuple(reports),
    )


def trials_with_reports(session: Session, rows: Sequence[TrialRow]) -> list[Trial]:
    """Attach intermediate reports with one query for the whole page, not one per trial."""
    by_trial: dict[int, list[Report]] = defaultdict(list)
    if rows:
        query = (select(ReportRow).where(ReportRow.trial_id.in_([r.id for r in rows]))
                 .order_by(ReportRow.trial_id, ReportRow.step))
        for report in session.scalars(query):
            by_trial[report.trial_id].append(Report(step=report.step, value=report.value))
    return [trial_from_row(row, by_trial.get(row.id, ())) for row in rows]


#: An ask reaps stale trials at most this often (and at most every quarter heartbeat timeout), so
#: a busy study does not pay for the reaper's UPDATE on every ask.
REAP_EVERY_S = 5.0


def stale_cutoff(study: StudyRef | StudyRow, now: datetime) -> datetime:
    return now - timedelta(seconds=study.heartbeat_timeout)


def reap_due(study: StudyRef, now: datetime) -> bool:
    interval = min(study.heartbeat_timeout / 4, REAP_EVERY_S)
    return study.reaped_at is None or (now - study.reaped_at).total_seconds() >= interval


def has_stale(session: Session, study: StudyRef | StudyRow, now: datetime) -> bool:
    query = select(TrialRow.id).where(
        TrialRow.study_id == study.id, TrialRow.state == TrialState.RUNNING.value,
        TrialRow.heartbeat_at < stale_cutoff(study, now)).limit(1)
    return session.scalar(query) is not None


def reap_stale(session: Session, study: StudyRef | StudyRow, now: datetime) -> int:
    """Fail running trials whose heartbeat is older than the timeout, in one conditional UPDATE."""
    result = session.execute(
        update(TrialRow)
        .where(TrialRow.study_id == study.id, TrialRow.state == TrialState.RUNNING.value,
               TrialRow.heartbeat_at < stale_cutoff(study, now))
        .values(state=TrialState.FAILED.value, fail_reason=STALE_REASON, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(update(StudyRow).where(StudyRow.id == study.id).values(reaped_at=now)
                    .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def count_trials(session: Session, study_ids: Iterable[int]) -> dict[int, TrialCounts]:
    ids = list(study_ids)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if ids:
        query = (select(TrialRow.study_id, TrialRow.state, func.count())
                 .where(TrialRow.study_id.in_(ids)).group_by(TrialRow.study_id, TrialRow.state))
        for study_id, state, n in session.execute(query):
            counts[study_id][state] = n
    return {i: TrialCounts(**counts.get(i, {})) for i in ids}


def best_trial(session: Session, study_id: int, goal: Goal) -> TrialRow | None:
    order = TrialRow.value.asc() if goal is Goal.MINIMIZE else TrialRow.value.desc()
    query = (select(TrialRow)
             .where(TrialRow.study_id == study_id, TrialRow.state == TrialState.COMPLETED.value)
             .order_by(order, TrialRow.number).limit(1))
    return session.scalars(query).first()


def history(session: Session, study_id: int) -> list[Trial]:
    """Every trial of the study, running ones included, for suggesters that read the past."""
    rows = session.scalars(select(TrialRow).where(TrialRow.study_id == study_id).order_by(TrialRow.number))
    return [trial_from_row(row) for row in rows]


def pop_queued(session: Session, study_id: int, limit: int) -> list[QueuedRow]:
    """Take the oldest queued parameter sets; the caller holds the study lock, so no one else can."""
    rows = list(session.scalars(select(QueuedRow).where(QueuedRow.study_id == study_id)
                                .order_by(QueuedRow.id).limit(limit)))
    if rows:
        session.execute(delete(QueuedRow).where(QueuedRow.id.in_([r.id for r in rows])))
        session.execute(update(StudyRow).where(StudyRow.id == study_id)
                        .values(queued=StudyRow.queued - len(rows)).execution_options(synchronize_session=False))
    return rows


def find_idempotency(session: Session, scope: str, key: str) -> IdempotencyRow | None:
    query = select(IdempotencyRow).where(IdempotencyRow.scope == scope, IdempotencyRow.key == key)
    return session.scalars(query).one_or_none()
