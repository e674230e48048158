"""Queries, each taking the session first. Rows become domain objects here and nowhere else."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, case, delete, exists, func, insert, null, select, update
from sqlalchemy.orm import Session

from suggest_api.config import Limits
from suggest_api.space import SearchSpace
from suggest_api.storage.database import utc_now
from suggest_api.storage.models import Base, IdempotencyRow, QueuedRow, StudyRow, TrialRow
from suggest_api.trials import STALE_REASON, Goal, PluginRef, Report, Study, Trial, TrialCounts, TrialState

MAX_TRIAL_NUMBER = 2**31 - 1  # the column is a 32-bit integer; a larger number cannot exist


def find_study(session: Session, team_id: int, name: str, *, lock: bool = False) -> StudyRow | None:
    """`lock=True` takes the study row lock that asks take through `claim_numbers` (enqueue and import
    need it too: they change the queue and the number counter).

    PostgreSQL: FOR NO KEY UPDATE (only non-key columns change, so foreign-key checks from trial inserts
    elsewhere are not blocked). SQLite: the write transaction's BEGIN IMMEDIATE already holds it.
    """
    if not storable(name):
        return None
    query = select(StudyRow).where(StudyRow.team_id == team_id, StudyRow.name == name)
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
    suggested: int
    created_at: datetime


# The hot path (every ask, tell, heartbeat and report) runs Core statements built once, here, with bound
# parameters: building SQLAlchemy expressions per request, and the ORM's identity map and unit of work,
# cost more than the queries themselves. Everything else about studies uses the ORM.
STUDIES = Base.metadata.tables["studies"]
TRIALS = Base.metadata.tables["trials"]
REPORTS = Base.metadata.tables["trial_reports"]
_TRIAL_COLUMNS = tuple(TRIALS.c)
_REF_COLUMNS = tuple(STUDIES.c[name] for name in StudyRef.__dataclass_fields__)

# Every statement that finds a study by name finds it within the caller's team: another team's study
# of the same name is, to the caller, a study that does not exist.
_OWN_STUDY = (STUDIES.c.team_id == bindparam("of_team"), STUDIES.c.name == bindparam("study_name"))
_FIND_REF = select(*_REF_COLUMNS).where(*_OWN_STUDY)
_CLAIM = (update(STUDIES).where(*_OWN_STUDY)
          .values(next_number=STUDIES.c.next_number + bindparam("count")).returning(*_REF_COLUMNS, utc_now()))
_RECORD_SUGGESTED = (update(STUDIES).where(STUDIES.c.id == bindparam("of_study_id"))
                     .values(suggested=STUDIES.c.suggested + bindparam("made"),
                             next_number=STUDIES.c.next_number - bindparam("unused")))
_LOCK_TRIAL = (select(*_TRIAL_COLUMNS, *_REF_COLUMNS,
                      exists().where(REPORTS.c.trial_id == TRIALS.c.id).label("has_reports"), utc_now())
               .join(STUDIES, STUDIES.c.id == TRIALS.c.study_id)
               .where(*_OWN_STUDY, TRIALS.c.number == bindparam("trial_number"))
               .with_for_update(of=TRIALS))
_FIND_TRIAL = select(TRIALS).where(TRIALS.c.study_id == bindparam("study_id"),
                                   TRIALS.c.number == bindparam("trial_number"))
_UPDATE_TRIAL = (update(TRIALS).where(TRIALS.c.study_id == bindparam("of_study_id"),
                                      TRIALS.c.number == bindparam("trial_number"))
                 .values(state=bindparam("new_state"), value=bindparam("new_value"),
                         finished_at=bindparam("new_finished_at"), heartbeat_at=bindparam("new_heartbeat_at"),
                         lease_expires_at=bindparam("new_lease_expires_at"),
                         fail_reason=bindparam("new_fail_reason"), metadata=bindparam("new_metadata"),
                         told_by=bindparam("new_told_by")))
# Expiry is this one conditional UPDATE (for a whole study, or one trial): whichever worker runs it first
# fails the trial, and for every later one the state condition no longer holds, so each trial expires
# exactly once however many replicas reap at the same moment. The trial ended when its lease did.
_EXPIRE = (update(TRIALS).where(TRIALS.c.study_id == bindparam("of_study_id"),
                                TRIALS.c.state == TrialState.RUNNING.value,
                                TRIALS.c.lease_expires_at <= bindparam("now"))
           .values(state=TrialState.FAILED.value, fail_reason=STALE_REASON, finished_at=TRIALS.c.lease_expires_at))
_EXPIRE_ONE = _EXPIRE.where(TRIALS.c.number == bindparam("trial_number"))
_MARK_REAPED = update(STUDIES).where(STUDIES.c.id == bindparam("of_study_id")).values(reaped_at=bindparam("now"))
_HAS_EXPIRED = (select(TRIALS.c.id).where(TRIALS.c.study_id == bindparam("of_study_id"),
                                          TRIALS.c.state == TrialState.RUNNING.value,
                                          TRIALS.c.lease_expires_at <= utc_now()).limit(1))
_REPORTS_OF = (select(TRIALS.c.number, REPORTS.c.step, REPORTS.c.value)
               .join(TRIALS, TRIALS.c.id == REPORTS.c.trial_id)
               .where(TRIALS.c.study_id == bindparam("study_id"),
                      TRIALS.c.number.in_(bindparam("numbers", expanding=True)))
               .order_by(TRIALS.c.number, REPORTS.c.step))
_REPORT_VALUE = select(REPORTS.c.value).where(REPORTS.c.trial_id == bindparam("trial_id"),
                                              REPORTS.c.step == bindparam("report_step"))
_HISTORY = (select(*(null().label("metadata") if column.name == "metadata" else column for column in TRIALS.c))
            .where(TRIALS.c.study_id == bindparam("study_id")).order_by(TRIALS.c.number))
_COUNT_RUNNING = (select(func.count()).select_from(TRIALS)
                  .where(TRIALS.c.study_id == bindparam("study_id"), TRIALS.c.state == TrialState.RUNNING.value))
_INSERT_TRIALS = insert(TRIALS)
_INSERT_REPORT = insert(REPORTS)


def storable(text: str) -> bool:
    """Whether a name from a URL can be looked up: PostgreSQL refuses NUL in text, and no stored name has one."""
    return "\x00" not in text


def find_study_ref(session: Session, team_id: int, name: str) -> StudyRef | None:
    if not storable(name):
        return None
    row = session.connection().execute(_FIND_REF, {"of_team": team_id, "study_name": name}).one_or_none()
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


def trial_from_row(row: Any, reports: Sequence[Report] = ()) -> Trial:
    """A Trial from a row holding the trials table's columns (first, in table order)."""
    m = row._mapping
    return Trial(number=m["number"], state=TrialState(m["state"]), params=m["params"], value=m["value"],
                 created_at=m["created_at"], finished_at=m["finished_at"], heartbeat_at=m["heartbeat_at"],
                 lease_expires_at=m["lease_expires_at"], fail_reason=m["fail_reason"], client_id=m["client_id"],
                 metadata=m["metadata"], source=m["source"], intermediate=tuple(reports))


@dataclass(frozen=True)
class LockedTrial:
    """A trial under its row lock, with its row id, its study's columns and the database's time."""

    study: StudyRef
    trial_id: int
    trial: Trial
    now: datetime


def lock_trial(session: Session, team_id: int, name: str, number: int) -> LockedTrial | None:
    """A trial, locked (FOR UPDATE OF trials), with its reports; a running trial whose lease has ended
    is expired first, so what the caller sees never depends on when a reaper last ran.

    One statement, plus one for the reports only when the trial has any.
    """
    if not 0 <= number <= MAX_TRIAL_NUMBER or not storable(name):
        return None
    row = session.connection().execute(_LOCK_TRIAL, {"of_team": team_id, "study_name": name,
                                                     "trial_number": number}).one_or_none()
    if row is None:
        return None
    study = StudyRef(*row[len(_TRIAL_COLUMNS):-2])
    now: datetime = row[-1]
    trial = trial_from_row(row)
    if trial.state is TrialState.RUNNING and trial.lease_expires_at is not None and trial.lease_expires_at <= now:
        session.connection().execute(_EXPIRE_ONE, {"of_study_id": study.id, "now": now, "trial_number": number})
        trial = replace(trial, state=TrialState.FAILED, fail_reason=STALE_REASON, finished_at=trial.lease_expires_at)
    if row.has_reports:
        [trial] = with_reports(session, study.id, [trial])
    return LockedTrial(study, row.id, trial, now)


def find_trial(session: Session, study_id: int, number: int) -> Trial | None:
    if not 0 <= number <= MAX_TRIAL_NUMBER:
        return None
    row = session.connection().execute(_FIND_TRIAL, {"study_id": study_id, "trial_number": number}).one_or_none()
    return trial_from_row(row) if row is not None else None


def page_trials(session: Session, study_id: int, after: int, state: TrialState | None, limit: int) -> list[Trial]:
    query = select(TRIALS).where(TRIALS.c.study_id == study_id, TRIALS.c.number > after)
    if state is not None:
        query = query.where(TRIALS.c.state == state.value)
    rows = session.connection().execute(query.order_by(TRIALS.c.number).limit(limit))
    return [trial_from_row(row) for row in rows]


def history(session: Session, study_id: int) -> list[Trial]:
    """Every trial of the study, running ones included, for suggesters that read the past.

    Without user metadata: no suggester or pruner reads it, and decoding its JSON was a third of the
    cost of reading a long history, time in which the worker holds the GIL its other requests need.
    """
    rows = session.connection().execute(_HISTORY, {"study_id": study_id}).all()
    return [trial_from_row(row) for row in rows]


def best_trial(session: Session, study_id: int, goal: Goal) -> Trial | None:
    order = TRIALS.c.value.asc() if goal is Goal.MINIMIZE else TRIALS.c.value.desc()
    query = (select(TRIALS)
             .where(TRIALS.c.study_id == study_id, TRIALS.c.state == TrialState.COMPLETED.value)
             .order_by(order, TRIALS.c.number).limit(1))
    row = session.connection().execute(query).one_or_none()
    return trial_from_row(row) if row is not None else None


def best_trials(session: Session, studies: Sequence[StudyRow]) -> dict[int, Trial]:
    """Each study's best completed trial, with its reports, in two queries however many studies."""
    if not studies:
        return {}
    score = case((STUDIES.c.goal == Goal.MINIMIZE.value, TRIALS.c.value), else_=-TRIALS.c.value)
    ranked = (select(*_TRIAL_COLUMNS, func.row_number().over(partition_by=TRIALS.c.study_id,
                                                             order_by=(score, TRIALS.c.number)).label("rank"))
              .join(STUDIES, STUDIES.c.id == TRIALS.c.study_id)
              .where(TRIALS.c.study_id.in_([s.id for s in studies]),
                     TRIALS.c.state == TrialState.COMPLETED.value)
              .subquery())
    rows = session.connection().execute(select(ranked).where(ranked.c.rank == 1)).all()
    reports: dict[int, list[Report]] = defaultdict(list)
    query = (select(REPORTS.c.trial_id, REPORTS.c.step, REPORTS.c.value)
             .where(REPORTS.c.trial_id.in_([row.id for row in rows])).order_by(REPORTS.c.trial_id, REPORTS.c.step))
    for trial_id, step, value in session.connection().execute(query) if rows else ():
        reports[trial_id].append(Report(step=step, value=value))
    return {row.study_id: trial_from_row(row, reports.get(row.id, ())) for row in rows}


def with_reports(session: Session, study_id: int, trials: Sequence[Trial]) -> list[Trial]:
    """Attach intermediate reports with one query for the whole page, not one per trial."""
    by_number: dict[int, list[Report]] = defaultdict(list)
    if trials:
        found = session.connection().execute(
            _REPORTS_OF, {"study_id": study_id, "numbers": [t.number for t in trials]})
        for number, step, value in found:
            by_number[number].append(Report(step=step, value=value))
    return [replace(t, intermediate=tuple(by_number[t.number])) if t.number in by_number else t for t in trials]


def count_running(session: Session, study_id: int) -> int:
    """Running trials of the study (an index-only count: the state index leads with the study)."""
    return int(session.connection().execute(_COUNT_RUNNING, {"study_id": study_id}).scalar_one())


def insert_trials(session: Session, study_id: int, trials: Sequence[Trial], asked_by: str | None = None) -> None:
    """Insert new trials with one executemany; `asked_by` is the key that asked (audit)."""
    if not trials:
        return
    session.connection().execute(_INSERT_TRIALS, [
        {"study_id": study_id, "number": t.number, "state": t.state.value, "params": dict(t.params),
         "value": t.value, "created_at": t.created_at, "finished_at": t.finished_at, "heartbeat_at": t.heartbeat_at,
         "lease_expires_at": t.lease_expires_at, "client_id": t.client_id, "source": t.source, "metadata": t.metadata,
         "asked_by": asked_by}
        for t in trials])


def update_trial(session: Session, study_id: int, trial: Trial, told_by: str | None = None) -> None:
    """Write a trial's mutable fields back (the caller holds its row lock); `told_by`: the key that told it."""
    session.connection().execute(_UPDATE_TRIAL, {
        "of_study_id": study_id, "trial_number": trial.number, "new_state": trial.state.value,
        "new_value": trial.value, "new_finished_at": trial.finished_at, "new_heartbeat_at": trial.heartbeat_at,
        "new_lease_expires_at": trial.lease_expires_at, "new_fail_reason": trial.fail_reason,
        "new_metadata": trial.metadata, "new_told_by": told_by})


def report_value(session: Session, trial_id: int, step: int) -> float | None:
    value: float | None = session.connection().execute(
        _REPORT_VALUE, {"trial_id": trial_id, "report_step": step}).scalar_one_or_none()
    return value


def add_report(session: Session, trial_id: int, step: int, value: float, now: datetime) -> None:
    session.connection().execute(_INSERT_REPORT, {"trial_id": trial_id, "step": step, "value": value,
                                                  "created_at": now})



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


#: An ask reaps stale trials at most this often (and at most every quarter heartbeat timeout), so
#: a busy study does not pay for the reaper's UPDATE on every ask.
REAP_EVERY_S = 5.0


def lease_end(study: StudyRef, now: datetime) -> datetime:
    """When a lease taken or renewed at `now` (the database's clock) ends."""
    return now + timedelta(seconds=study.heartbeat_timeout)


def reap_due(study: StudyRef, now: datetime) -> bool:
    interval = min(study.heartbeat_timeout / 4, REAP_EVERY_S)
    return study.reaped_at is None or (now - study.reaped_at).total_seconds() >= interval


def has_expired(session: Session, study: StudyRef) -> bool:
    """Whether any running trial's lease has ended, by the database's clock (a read; takes no lock)."""
    return session.connection().execute(_HAS_EXPIRED, {"of_study_id": study.id}).first() is not None


def reap_expired(session: Session, study: StudyRef, now: datetime) -> int:
    """Fail every running trial whose lease ended by `now` (the database's clock): one conditional UPDATE."""
    result = session.connection().execute(_EXPIRE, {"of_study_id": study.id, "now": now})
    session.connection().execute(_MARK_REAPED, {"of_study_id": study.id, "now": now})
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
    if not storable(scope):
        return None  # a path with NUL names nothing, so its request fails before a key would be stored
    query = select(IdempotencyRow).where(IdempotencyRow.scope == scope, IdempotencyRow.key == key)
    return session.scalars(query).one_or_none()


def purge_idempotency(session: Session, oldest: datetime, batch: int) -> int:
    """Delete up to `batch` Idempotency-Keys created at or before `oldest`."""
    expired = select(IdempotencyRow.id).where(IdempotencyRow.created_at <= oldest).limit(batch).scalar_subquery()
    result = session.execute(delete(IdempotencyRow).where(IdempotencyRow.id.in_(expired))
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
