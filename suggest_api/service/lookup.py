"""Finding what a request names, or the NotFound that says which part is missing and what to do."""

from __future__ import annotations

from sqlalchemy.orm import Session

from suggest_api.domain import STALE_REASON, Trial, TrialState
from suggest_api.errors import Conflict, NotFound
from suggest_api.storage import studies, trials
from suggest_api.storage.rows import StudyRef
from suggest_api.storage.trials import LockedTrial


def no_study(name: str) -> NotFound:
    return NotFound(f"no study named {name!r}; create it with POST /v1/studies")


def study_ref(session: Session, team_id: int, name: str, *, lock: bool = False) -> StudyRef:
    study = studies.find_ref(session, team_id, name, lock=lock)
    if study is None:
        raise no_study(name)
    return study


def trial(session: Session, study: StudyRef, number: int) -> Trial:
    found = trials.find_trial(session, study.id, number)
    if found is None:
        raise _no_trial(study, number)
    return found


def locked_trial(session: Session, team_id: int, name: str, number: int) -> LockedTrial:
    found = trials.lock_trial(session, team_id, name, number)
    if found is None:
        raise _no_trial(study_ref(session, team_id, name), number)  # or the NotFound of the study
    return found


def running_trial(session: Session, team_id: int, name: str, number: int, what: str) -> LockedTrial:
    """The trial, locked, if it is running; else a Conflict saying why it is not and what `what` needs."""
    locked = locked_trial(session, team_id, name, number)
    found = locked.trial
    if found.state is not TrialState.RUNNING:
        why = (f" (its lease ended: no heartbeat for {locked.study.heartbeat_timeout:g} s; its result may "
               "still be told)") if found.fail_reason == STALE_REASON else ""
        raise Conflict(f"trial {number} is {found.state.value}{why}; only running trials {what}")
    return locked


def _no_trial(study: StudyRef, number: int) -> NotFound:
    known = f"its trials are numbered 0..{study.next_number - 1}" if study.next_number else "it has no trials yet"
    return NotFound(f"study {study.name!r} has no trial {number}; {known}")
