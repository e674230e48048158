"""Trial rows: lock one, read pages and histories, insert, update, reports, expiry, and the study's queue.

Statements are Core, built once with bound parameters (the hot path: every ask, tell, heartbeat and
report). A caller that changes a trial holds its row lock (`lock_trial`) or its study's (`claim_numbers`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import asc, bindparam, case, delete, desc, exists, func, insert, null, select, update
from sqlalchemy.orm import Session

from suggest_api.domain import STALE_REASON, Goal, Report, Trial, TrialCounts, TrialState
from suggest_api.multiobjective.front import Result
from suggest_api.storage.database import storable, utc_now
from suggest_api.storage.rows import (
    OWN_STUDY,
    QUEUE,
    REF_COLUMNS,
    REPORTS,
    STUDIES,
    TRIAL_COLUMNS,
    TRIALS,
    StudyRef,
    trial_from_row,
)

MAX_TRIAL_NUMBER = 2**31 - 1  # the column is a 32-bit integer; a larger number cannot exist

_LOCK_TRIAL = (select(*TRIAL_COLUMNS, *REF_COLUMNS,
                      exists().where(REPORTS.c.trial_id == TRIALS.c.id).label("has_reports"), utc_now())
               .join(STUDIES, STUDIES.c.id == TRIALS.c.study_id)
               .where(*OWN_STUDY, TRIALS.c.number == bindparam("trial_number"))
               .with_for_update(of=TRIALS))
_FIND_TRIAL = select(TRIALS).where(TRIALS.c.study_id == bindparam("study_id"),
                                   TRIALS.c.number == bindparam("trial_number"))
_UPDATE_TRIAL = (update(TRIALS).where(TRIALS.c.study_id == bindparam("of_study_id"),
                                      TRIALS.c.number == bindparam("trial_number"))
                 .values(state=bindparam("new_state"), value=bindparam("new_value"), metrics=bindparam("new_metrics"),
                         feasible=bindparam("new_feasible"),
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
_REPORT_COLUMNS = (REPORTS.c.step, REPORTS.c.value, REPORTS.c.best, REPORTS.c.prune, REPORTS.c.reason, REPORTS.c.rung)
_REPORTS_OF = (select(TRIALS.c.number, *_REPORT_COLUMNS)
               .join(TRIALS, TRIALS.c.id == REPORTS.c.trial_id)
               .where(TRIALS.c.study_id == bindparam("study_id"),
                      TRIALS.c.number.in_(bindparam("numbers", expanding=True)))
               .order_by(TRIALS.c.number, REPORTS.c.step))
_HISTORY = (select(*(null().label("metadata") if column.name == "metadata" else column for column in TRIALS.c))
            .where(TRIALS.c.study_id == bindparam("study_id")).order_by(TRIALS.c.number))
_LAST_REPORT_OF = REPORTS.alias("last_report_of")
# Each pruned trial's last report (one descent of the (trial, step) unique index per trial): what suggesters
# learn from a trial that was stopped early.
_PRUNED_LAST_REPORTS = (select(TRIALS.c.number, *_REPORT_COLUMNS)
                        .join(TRIALS, TRIALS.c.id == REPORTS.c.trial_id)
                        .where(TRIALS.c.study_id == bindparam("study_id"),
                               TRIALS.c.state == TrialState.PRUNED.value,
                               REPORTS.c.step == select(func.max(_LAST_REPORT_OF.c.step))
                               .where(_LAST_REPORT_OF.c.trial_id == TRIALS.c.id).scalar_subquery()))
_COUNT_RUNNING = (select(func.count()).select_from(TRIALS)
                  .where(TRIALS.c.study_id == bindparam("study_id"), TRIALS.c.state == TrialState.RUNNING.value))
_INSERT_TRIALS = insert(TRIALS)
_INSERT_QUEUED = insert(QUEUE)


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
    study = StudyRef(*row[len(TRIAL_COLUMNS):-2])
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

    A pruned trial carries its last report (what suggesters learn from a trial stopped early), no other
    trial any: reading every report would cost as much as the rest of the history. Without user
    metadata: no suggester or pruner reads it, and decoding its JSON was a third of the
    cost of reading a long history, time in which the worker holds the GIL its other requests need.
    """
    rows = session.connection().execute(_HISTORY, {"study_id": study_id}).all()
    found = [trial_from_row(row) for row in rows]
    if any(t.state is TrialState.PRUNED for t in found):
        last = {number: _report(*report) for number, *report in
                session.connection().execute(_PRUNED_LAST_REPORTS, {"study_id": study_id})}
        found = [replace(t, intermediate=(last[t.number],)) if t.number in last else t for t in found]
    return found


#: A completed trial can be a study's best when it has a value (a multi-objective study's trials have none) and
#: satisfies the constraints (`feasible` is NULL for a study without any).
_BEST_CANDIDATE = (TRIALS.c.value.is_not(None), TRIALS.c.feasible.is_not(False))


def best_trial(session: Session, study_id: int, goal: Goal) -> Trial | None:
    order = TRIALS.c.value.asc() if goal is Goal.MINIMIZE else TRIALS.c.value.desc()
    query = (select(TRIALS)
             .where(TRIALS.c.study_id == study_id, TRIALS.c.state == TrialState.COMPLETED.value, *_BEST_CANDIDATE)
             .order_by(order, TRIALS.c.number).limit(1))
    row = session.connection().execute(query).one_or_none()
    return trial_from_row(row) if row is not None else None


#: What a Pareto front is computed from: each completed trial's number and results, feasible ones only
#: (`feasible` is NULL in a study without constraints). No params or metadata are decoded.
_RESULTS = (select(TRIALS.c.study_id, TRIALS.c.number, TRIALS.c.value, TRIALS.c.metrics)
            .where(TRIALS.c.study_id.in_(bindparam("study_ids", expanding=True)),
                   TRIALS.c.state == TrialState.COMPLETED.value, TRIALS.c.feasible.is_not(False))
            .order_by(TRIALS.c.study_id, TRIALS.c.number))
_BY_NUMBERS = (select(TRIALS).where(TRIALS.c.study_id == bindparam("study_id"),
                                    TRIALS.c.number.in_(bindparam("numbers", expanding=True)))
               .order_by(TRIALS.c.number))


def completed_results(session: Session, ids: Sequence[int]) -> dict[int, list[Result]]:
    """Each study's completed, feasible trials' results, by trial number: what its Pareto front is made from."""
    found: dict[int, list[Result]] = {i: [] for i in ids}
    if ids:
        for study_id, number, value, metrics in session.connection().execute(_RESULTS, {"study_ids": list(ids)}):
            found[study_id].append(Result(number, value, metrics))
    return found


def trials_by_number(session: Session, study_id: int, numbers: Sequence[int]) -> list[Trial]:
    """The study's trials of these numbers, ascending, with their reports."""
    if not numbers:
        return []
    rows = session.connection().execute(_BY_NUMBERS, {"study_id": study_id, "numbers": list(numbers)})
    return with_reports(session, study_id, [trial_from_row(row) for row in rows])


def with_reports(session: Session, study_id: int, trials: Sequence[Trial]) -> list[Trial]:
    """Attach intermediate reports with one query for the whole page, not one per trial."""
    by_number: dict[int, list[Report]] = defaultdict(list)
    if trials:
        found = session.connection().execute(
            _REPORTS_OF, {"study_id": study_id, "numbers": [t.number for t in trials]})
        for number, *report in found:
            by_number[number].append(_report(*report))
    return [replace(t, intermediate=tuple(by_number[t.number])) if t.number in by_number else t for t in trials]


def _report(step: int, value: float, best: float, prune: bool | None, reason: str | None,
            rung: int | None) -> Report:
    return Report(step=step, value=value, best=best, prune=prune, reason=reason, rung=rung)


def count_running(session: Session, study_id: int) -> int:
    """Running trials of the study (an index-only count: the state index leads with the study)."""
    return int(session.connection().execute(_COUNT_RUNNING, {"study_id": study_id}).scalar_one())


def insert_trials(session: Session, study_id: int, trials: Sequence[Trial], asked_by: str | None = None) -> None:
    """Insert new trials with one executemany; `asked_by` is the key that asked (audit)."""
    if not trials:
        return
    session.connection().execute(_INSERT_TRIALS, [
        {"study_id": study_id, "number": t.number, "state": t.state.value, "params": dict(t.params),
         "value": t.value, "metrics": dict(t.values) if t.values is not None else None, "feasible": t.feasible,
         "created_at": t.created_at, "finished_at": t.finished_at, "heartbeat_at": t.heartbeat_at,
         "lease_expires_at": t.lease_expires_at, "client_id": t.client_id, "source": t.source, "metadata": t.metadata,
         "asked_by": asked_by}
        for t in trials])


def update_trial(session: Session, study_id: int, trial: Trial, told_by: str | None = None) -> None:
    """Write a trial's mutable fields back (the caller holds its row lock); `told_by`: the key that told it."""
    session.connection().execute(_UPDATE_TRIAL, {
        "of_study_id": study_id, "trial_number": trial.number, "new_state": trial.state.value,
        "new_value": trial.value, "new_metrics": dict(trial.values) if trial.values is not None else None,
        "new_feasible": trial.feasible, "new_finished_at": trial.finished_at, "new_heartbeat_at": trial.heartbeat_at,
        "new_lease_expires_at": trial.lease_expires_at, "new_fail_reason": trial.fail_reason,
        "new_metadata": trial.metadata, "new_told_by": told_by})


def has_expired(session: Session, study: StudyRef) -> bool:
    """Whether any running trial's lease has ended, by the database's clock (a read; takes no lock)."""
    return session.connection().execute(_HAS_EXPIRED, {"of_study_id": study.id}).first() is not None


def reap_expired(session: Session, study: StudyRef, now: datetime) -> int:
    """Fail every running trial whose lease ended by `now` (the database's clock): one conditional UPDATE."""
    result = session.connection().execute(_EXPIRE, {"of_study_id": study.id, "now": now})
    session.connection().execute(_MARK_REAPED, {"of_study_id": study.id, "now": now})
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Queued:
    """Parameters a user enqueued, handed out by an ask before the suggester runs."""

    params: Mapping[str, Any]
    metadata: Mapping[str, Any] | None


def enqueue(session: Session, study_id: int, items: Sequence[Queued], now: datetime) -> None:
    """Append to the study's queue (the caller holds the study lock and counts them with `record_added`)."""
    if items:
        session.connection().execute(_INSERT_QUEUED, [
            {"study_id": study_id, "params": dict(q.params), "metadata": q.metadata, "created_at": now}
            for q in items])


def pop_queued(session: Session, study_id: int, limit: int) -> list[Queued]:
    """Take the oldest queued parameter sets; the caller holds the study lock, so no one else can."""
    rows = session.connection().execute(
        select(QUEUE.c.id, QUEUE.c.params, QUEUE.c.metadata).where(QUEUE.c.study_id == study_id)
        .order_by(QUEUE.c.id).limit(limit)).all()
    if rows:
        session.connection().execute(delete(QUEUE).where(QUEUE.c.id.in_([r.id for r in rows])))
        session.connection().execute(update(STUDIES).where(STUDIES.c.id == study_id)
                                     .values(queued=STUDIES.c.queued - len(rows)))
    return [Queued(row.params, row.metadata) for row in rows]


def _newest(column: str, *states: TrialState) -> Any:
    """The study's newest `column` (a correlated max that an index on (study_id, column) answers by one
    descent; with `states`, only over trials in them)."""
    trial = TRIALS.alias(f"newest_{column}")
    query = select(func.max(trial.c[column])).where(trial.c.study_id == STUDIES.c.id)
    if states:
        query = query.where(trial.c.state.in_([state.value for state in states]))
    return query.scalar_subquery()


#: Each study's newest trial creation, finish and heartbeat of a running trial (a finished trial's heartbeat is
#: older than its finish): its last activity, from indexes, however many trials it has.
_ACTIVITY = select(STUDIES.c.id, _newest("created_at"), _newest("finished_at"),
                   _newest("heartbeat_at", TrialState.RUNNING)
                   ).where(STUDIES.c.id.in_(bindparam("study_ids", expanding=True)))


def count_by_state(session: Session, ids: Sequence[int]) -> dict[int, TrialCounts]:
    """Each study's trials, counted by state."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if ids:
        query = (select(TRIALS.c.study_id, TRIALS.c.state, func.count())
                 .where(TRIALS.c.study_id.in_(ids)).group_by(TRIALS.c.study_id, TRIALS.c.state))
        for study_id, state, n in session.connection().execute(query):
            counts[study_id][state] = n
    return {i: TrialCounts(**counts.get(i, {})) for i in ids}


def last_activity(session: Session, ids: Sequence[int]) -> dict[int, datetime | None]:
    """Each study's last activity: the newest time one of its trials was created, finished or heartbeat (None
    without trials)."""
    if not ids:
        return {}
    found: dict[int, datetime | None] = {}
    for study_id, *times in session.connection().execute(_ACTIVITY, {"study_ids": list(ids)}):
        seen = [t for t in times if t is not None]
        found[study_id] = max(seen) if seen else None
    return found


def _best_of(order: Any) -> Any:
    """The id of the study's best completed trial in `order` of value (ties: the lowest number): one descent of
    the (study, state, value) index, however many trials the study has."""
    candidate = TRIALS.alias("candidate")
    return (select(candidate.c.id)
            .where(candidate.c.study_id == STUDIES.c.id, candidate.c.state == TrialState.COMPLETED.value,
                   candidate.c.value.is_not(None), candidate.c.feasible.is_not(False))
            .order_by(order(candidate.c.value), candidate.c.number).limit(1).scalar_subquery())


#: Each study's best trial id; a window over all completed trials instead cost time in the study's size.
_BEST_IDS = select(case((STUDIES.c.goal == Goal.MINIMIZE.value, _best_of(asc)), else_=_best_of(desc))
                   ).where(STUDIES.c.id.in_(bindparam("study_ids", expanding=True)))
_BEST_ROWS = select(*TRIAL_COLUMNS).where(TRIALS.c.id.in_(_BEST_IDS))


def best_of_studies(session: Session, ids: Sequence[int]) -> dict[int, Trial]:
    """Each study's best completed trial, with its reports, in two queries however many studies."""
    if not ids:
        return {}
    rows = session.connection().execute(_BEST_ROWS, {"study_ids": list(ids)}).all()
    reports: dict[int, list[Report]] = defaultdict(list)
    query = (select(REPORTS.c.trial_id, *_REPORT_COLUMNS)
             .where(REPORTS.c.trial_id.in_([row.id for row in rows])).order_by(REPORTS.c.trial_id, REPORTS.c.step))
    for trial_id, *report in session.connection().execute(query) if rows else ():
        reports[trial_id].append(_report(*report))
    return {row.study_id: trial_from_row(row, reports.get(row.id, ())) for row in rows}
