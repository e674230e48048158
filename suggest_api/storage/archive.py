"""A whole study's rows at once, for export and import: every trial with its reports and rung entries (with
their own timestamps, which the per-request reads leave out), the queue, and the suggester's position.

Reads are a fixed handful of statements whatever the study's size; an import inserts each table with one
executemany. The caller holds the transaction (an import holds the team's lock and writes a new study).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from suggest_api.domain import Report, Trial
from suggest_api.storage.reports import RUNGS
from suggest_api.storage.rows import QUEUE, REPORTS, STUDIES, TRIAL_COLUMNS, TRIALS, trial_from_row


@dataclass(frozen=True)
class StoredReport:
    """A report as stored: the domain's Report and when it arrived."""

    report: Report
    created_at: datetime


@dataclass(frozen=True)
class StoredRung:
    """A successive-halving rung a trial entered, with the value it entered with."""

    rung: int
    value: float
    created_at: datetime


@dataclass(frozen=True)
class StoredQueued:
    params: Mapping[str, Any]
    metadata: Mapping[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class ArchivedTrial:
    """A trial with everything stored about it (its `intermediate` is left empty: `reports` hold them)."""

    trial: Trial
    reports: tuple[StoredReport, ...] = ()
    rungs: tuple[StoredRung, ...] = ()


@dataclass(frozen=True)
class Archive:
    trials: list[ArchivedTrial]
    queue: list[StoredQueued] = field(default_factory=list)


_TRIALS_OF = select(*TRIAL_COLUMNS).where(TRIALS.c.study_id == bindparam("study_id")).order_by(TRIALS.c.number)
_REPORTS_OF = (select(TRIALS.c.number, REPORTS.c.step, REPORTS.c.value, REPORTS.c.best, REPORTS.c.prune,
                      REPORTS.c.reason, REPORTS.c.rung, REPORTS.c.created_at)
               .join(TRIALS, TRIALS.c.id == REPORTS.c.trial_id)
               .where(REPORTS.c.study_id == bindparam("study_id")).order_by(TRIALS.c.number, REPORTS.c.step))
_RUNGS_OF = (select(TRIALS.c.number, RUNGS.c.rung, RUNGS.c.value, RUNGS.c.created_at)
             .join(TRIALS, TRIALS.c.id == RUNGS.c.trial_id)
             .where(RUNGS.c.study_id == bindparam("study_id")).order_by(TRIALS.c.number, RUNGS.c.rung))
_QUEUE_OF = (select(QUEUE.c.params, QUEUE.c.metadata, QUEUE.c.created_at)
             .where(QUEUE.c.study_id == bindparam("study_id")).order_by(QUEUE.c.id))
_TRIAL_IDS = select(TRIALS.c.number, TRIALS.c.id).where(TRIALS.c.study_id == bindparam("study_id"))
_SET_PROGRESS = (update(STUDIES).where(STUDIES.c.id == bindparam("of_study_id"))
                 .values(next_number=bindparam("new_next_number"), queued=bindparam("new_queued"),
                         suggested=bindparam("new_suggested")))


def row_count(session: Session, study_id: int) -> int:
    """How many rows an export of the study reads: trials, reports, rung entries and queued params (index counts)."""
    counts = [select(func.count()).select_from(table).where(table.c.study_id == study_id).scalar_subquery()
              for table in (TRIALS, REPORTS, RUNGS, QUEUE)]
    return int(session.connection().execute(select(sum(counts[1:], counts[0]))).scalar_one())


def read_archive(session: Session, study_id: int) -> Archive:
    """Every trial of the study by number, with its reports and rung entries, and the queue oldest first."""
    connection = session.connection()
    reports: dict[int, list[StoredReport]] = defaultdict(list)
    for number, step, value, best, prune, reason, rung, at in connection.execute(_REPORTS_OF, {"study_id": study_id}):
        reports[number].append(StoredReport(Report(step=step, value=value, best=best, prune=prune, reason=reason,
                                                   rung=rung), at))
    rungs: dict[int, list[StoredRung]] = defaultdict(list)
    for number, rung, value, at in connection.execute(_RUNGS_OF, {"study_id": study_id}):
        rungs[number].append(StoredRung(rung, value, at))
    trials = [trial_from_row(row) for row in connection.execute(_TRIALS_OF, {"study_id": study_id})]
    queue = [StoredQueued(row.params, row.metadata, row.created_at)
             for row in connection.execute(_QUEUE_OF, {"study_id": study_id})]
    return Archive([ArchivedTrial(t, tuple(reports.get(t.number, ())), tuple(rungs.get(t.number, ())))
                    for t in trials], queue)


def write_archive(session: Session, study_id: int, archive: Archive, *, suggested: int,
                  imported_by: str | None) -> None:
    """Insert a new study's trials, reports, rung entries and queue, and set its counters to match."""
    connection = session.connection()
    trials = [item.trial for item in archive.trials]
    if trials:
        connection.execute(insert(TRIALS), [
            {"study_id": study_id, "number": t.number, "state": t.state.value, "params": dict(t.params),
             "value": t.value, "metrics": dict(t.values) if t.values is not None else None, "feasible": t.feasible,
             "created_at": t.created_at, "finished_at": t.finished_at, "heartbeat_at": t.heartbeat_at,
             "lease_expires_at": t.lease_expires_at, "fail_reason": t.fail_reason, "client_id": t.client_id,
             "source": t.source, "metadata": t.metadata, "asked_by": imported_by}
            for t in trials])
    ids = dict(connection.execute(_TRIAL_IDS, {"study_id": study_id}).all()) if trials else {}
    reports = [{"trial_id": ids[item.trial.number], "study_id": study_id, "step": r.report.step,
                "value": r.report.value, "best": r.report.best, "prune": r.report.prune, "reason": r.report.reason,
                "rung": r.report.rung, "created_at": r.created_at}
               for item in archive.trials for r in item.reports]
    if reports:
        connection.execute(insert(REPORTS), reports)
    rungs = [{"trial_id": ids[item.trial.number], "study_id": study_id, "rung": r.rung, "value": r.value,
              "created_at": r.created_at} for item in archive.trials for r in item.rungs]
    if rungs:
        connection.execute(insert(RUNGS), rungs)
    if archive.queue:
        connection.execute(insert(QUEUE), [
            {"study_id": study_id, "params": dict(q.params), "metadata": q.metadata, "created_at": q.created_at}
            for q in archive.queue])
    connection.execute(_SET_PROGRESS, {"of_study_id": study_id, "new_next_number": len(trials),
                                       "new_queued": len(archive.queue), "new_suggested": suggested})

