"""Intermediate reports, rung entries, and what a pruner may ask about the other trials of a study.

Every question is one statement on an index: the values at one step come from (study, step), a rung's
entries from (study, rung). A report therefore costs the same on a study of 10 trials and on one of
1,000 trials with 100 reports each; nothing here reads a study's whole history.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, func, insert, select, text
from sqlalchemy.orm import Session

from suggest_api.domain import Report, TrialState
from suggest_api.pruners.base import PeerValue, RungEntry
from suggest_api.storage.models import Base
from suggest_api.storage.rows import REPORTS, TRIALS

RUNGS = Base.metadata.tables["trial_rungs"]

_INSERT_REPORT = insert(REPORTS)
_INSERT_RUNGS = insert(RUNGS)
_AT_STEP = (select(TRIALS.c.number, TRIALS.c.state, REPORTS.c.value, REPORTS.c.best)
            .join(TRIALS, TRIALS.c.id == REPORTS.c.trial_id)
            .where(REPORTS.c.study_id == bindparam("study_id"), REPORTS.c.step == bindparam("at_step"),
                   REPORTS.c.trial_id != bindparam("not_trial"),
                   TRIALS.c.state.in_(bindparam("states", expanding=True))))
_AT_RUNG = (select(TRIALS.c.number, TRIALS.c.state, RUNGS.c.value)
            .join(TRIALS, TRIALS.c.id == RUNGS.c.trial_id)
            .where(RUNGS.c.study_id == bindparam("study_id"), RUNGS.c.rung == bindparam("at_rung"),
                   RUNGS.c.trial_id != bindparam("not_trial"))
            .order_by(RUNGS.c.id))
_COMPLETED = (select(func.count()).select_from(TRIALS)
              .where(TRIALS.c.study_id == bindparam("study_id"), TRIALS.c.state == TrialState.COMPLETED.value))
_FIRST_COMPLETED = (select(TRIALS.c.id)
                    .where(TRIALS.c.study_id == bindparam("study_id"),
                           TRIALS.c.state == TrialState.COMPLETED.value,
                           exists().where(REPORTS.c.trial_id == TRIALS.c.id))
                    .order_by(TRIALS.c.finished_at, TRIALS.c.number).limit(1).scalar_subquery())
_FIRST_COMPLETED_LAST_STEP = select(func.max(REPORTS.c.step)).where(REPORTS.c.trial_id == _FIRST_COMPLETED)
# Rung decisions of one study take turns (PostgreSQL; SQLite's writes already do): each one then sees every
# entry made before it, so the stored decisions are exactly what a serial replay of the entries gives.
_RUNG_TURN = text("SELECT pg_advisory_xact_lock(1397757522, CAST(:study_id % 2147483647 AS integer))")


def add_report(session: Session, study_id: int, trial_id: int, report: Report, now: datetime) -> None:
    session.connection().execute(_INSERT_REPORT, {
        "trial_id": trial_id, "study_id": study_id, "step": report.step, "value": report.value,
        "best": report.best, "prune": report.prune, "reason": report.reason, "rung": report.rung, "created_at": now})


def add_rung_entries(session: Session, study_id: int, trial_id: int, entries: Sequence[RungEntry],
                     now: datetime) -> None:
    if entries:
        session.connection().execute(_INSERT_RUNGS, [
            {"trial_id": trial_id, "study_id": study_id, "rung": e.rung, "value": e.value, "created_at": now}
            for e in entries])


@dataclass
class StoredPeers:
    """The `Peers` of one trial, answered by the database inside the reporting transaction."""

    session: Session
    study_id: int
    trial_id: int
    seed: int
    _took_rung_turn: bool = False

    def completed(self) -> int:
        return int(self.session.connection().execute(_COMPLETED, {"study_id": self.study_id}).scalar_one())

    def at_step(self, step: int, states: Collection[TrialState]) -> Sequence[PeerValue]:
        rows = self.session.connection().execute(_AT_STEP, {
            "study_id": self.study_id, "at_step": step, "not_trial": self.trial_id,
            "states": [s.value for s in states]})
        return [PeerValue(number=number, state=TrialState(state), value=value, best=best)
                for number, state, value, best in rows]

    def at_rung(self, rung: int) -> Sequence[PeerValue]:
        connection = self.session.connection()
        if not self._took_rung_turn and connection.dialect.name == "postgresql":
            connection.execute(_RUNG_TURN, {"study_id": self.study_id})
            self._took_rung_turn = True
        rows = connection.execute(_AT_RUNG, {"study_id": self.study_id, "at_rung": rung, "not_trial": self.trial_id})
        return [PeerValue(number=number, state=TrialState(state), value=value, best=value)
                for number, state, value in rows]

    def first_completed_last_step(self) -> int | None:
        step = self.session.connection().execute(_FIRST_COMPLETED_LAST_STEP, {"study_id": self.study_id}).scalar()
        return int(step) if step is not None else None
