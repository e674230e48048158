"""Trials of a study: tell results, heartbeats and reports (which ask the study's pruner), enqueue and
import, list, read, best, and the reaper that fails trials whose lease ended.

A tell, heartbeat or report locks only its trial (`lookup.locked_trial`); enqueue and import take the
study's lock, since they change its queue and number counter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from suggest_api.accounts import Principal
from suggest_api.config import Limits
from suggest_api.domain import STALE_REASON, Goal, Report, Trial, TrialState
from suggest_api.errors import Conflict, InvalidInput, MultiObjective, NoCompletedTrial, ReportLimit
from suggest_api.names import check_metadata
from suggest_api.paging import Page, cut, decode_cursor
from suggest_api.pruners.base import MAX_REASON, Decision
from suggest_api.pruners.registry import pruners
from suggest_api.service import lookup
from suggest_api.service.leases import lease_end
from suggest_api.service.outcomes import outcome
from suggest_api.service.transactions import Transactions
from suggest_api.storage import reports, studies, trials
from suggest_api.storage.database import database_now
from suggest_api.storage.rows import StudyRef
from suggest_api.storage.studies import SpaceCache
from suggest_api.storage.trials import Queued

#: What in-process callers (benchmarks, workloads) get unless they pass the service's configured limits.
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Told:
    suggester: str
    trial: Trial
    changed: bool


def tell(session: Session, who: Principal, name: str, number: int, *, value: float | None,
         state: TrialState | None, metadata: Mapping[str, Any] | None, values: Mapping[str, Any] | None = None,
         limits: Limits = DEFAULT_LIMITS) -> Told:
    """Finish a trial. The same tell again is a no-op; a different one is a conflict.

    `value` for a study with one objective and no constraints; `values` (every objective and constraint
    metric) otherwise (see service.outcomes).
    """
    locked = lookup.locked_trial(session, who.team_id, name, number)
    study, trial = locked.study, locked.trial
    result = outcome(study.objective_list, study.constraint_list, value=value, values=values, state=state)
    suggester = study.suggester["name"]
    # A trial whose lease ended (its trainer went quiet for longer than heartbeat_timeout) still did the
    # work when its result arrives: the result is stored and the trial completed (docs/api.md: "Trial lifecycle").
    late = trial.state is TrialState.FAILED and trial.fail_reason == STALE_REASON
    if trial.state is not TrialState.RUNNING and not late:
        if trial.state is result.state and trial.value == result.value and trial.values == result.values:
            return Told(suggester, trial, changed=False)
        told = f"{trial.state.value}" + (f" with value {trial.value!r}" if trial.value is not None else "") + (
            f" with values {dict(trial.values)!r}" if trial.values is not None else "")
        raise Conflict(f"trial {number} of study {name!r} was already told {told}; a finished trial's "
                       "result cannot be replaced (telling the same result again is allowed)")
    merged = {**(trial.metadata or {}), **metadata} if metadata else trial.metadata
    if metadata:
        check_metadata("metadata", merged, limits)
    trial = replace(trial, state=result.state, value=result.value, values=result.values, feasible=result.feasible,
                    finished_at=locked.now, fail_reason=None, metadata=merged)
    trials.update_trial(session, study.id, trial, told_by=who.key_id)
    return Told(suggester, trial, changed=True)


def heartbeat(session: Session, who: Principal, name: str, number: int) -> Trial:
    """Renew the trial's lease: it now ends heartbeat_timeout after this moment, by the database's clock."""
    locked = lookup.running_trial(session, who.team_id, name, number, "take heartbeats")
    trial = replace(locked.trial, heartbeat_at=locked.now, lease_expires_at=lease_end(locked.study, locked.now))
    trials.update_trial(session, locked.study.id, trial)
    return trial


@dataclass(frozen=True)
class Reported:
    prune: bool
    #: Why (None: the study has no pruner).
    reason: str | None = None
    #: The study's pruner when this report was a new step it answered (not a retry): what metrics count.
    answered_by: str | None = None


def report(session: Session, who: Principal, name: str, number: int, step: int, value: float,
           limits: Limits = DEFAULT_LIMITS) -> Reported:
    """Store an intermediate value (also a heartbeat) with the study's pruner's answer to it.

    Decided inside the trial's row lock, from the trial's own reports and indexed reads of the other
    trials (`reports.StoredPeers`). A report of a step already reported, with the same value, is a retry:
    it gets the stored answer. Once a trial was told to stop, every later report gets that answer too.
    A trial keeps at most `max_reports` reports, so neither it nor a page of trials grows without bound.
    """
    if not math.isfinite(value):
        raise InvalidInput("value must be a finite number; to say the run diverged, tell state 'failed'",
                           errors={"value": ["must be finite"]})
    locked = lookup.running_trial(session, who.team_id, name, number, "take reports")
    study, trial_id, trial, now = locked.study, locked.trial_id, locked.trial, locked.now
    known = trial.intermediate
    renewed = replace(trial, heartbeat_at=now, lease_expires_at=lease_end(study, now))
    same_step = next((r for r in known if r.step == step), None)
    if same_step is not None:
        if same_step.value != value:
            raise Conflict(f"trial {number} already reported {same_step.value!r} at step {step}; "
                           "report each step once (or use the next step)")
        trials.update_trial(session, study.id, renewed)
        return Reported(prune=bool(same_step.prune), reason=same_step.reason)
    if known and step < known[-1].step:
        raise Conflict(f"trial {number} already reported step {known[-1].step}; steps only go up, so report "
                       f"step {known[-1].step + 1} or later (a retry of an earlier step with its value is accepted)")
    if len(known) >= limits.max_reports:
        raise ReportLimit(f"trial {number} holds {len(known):,} reports, the most a trial keeps "
                          f"(SUGGEST_MAX_REPORTS); report less often (every few steps), or tell its result",
                          extra={"limit": limits.max_reports})
    goal = Goal(study.goal)
    best = value if not known or known[-1].best is None else (
        min(value, known[-1].best) if goal is Goal.MINIMIZE else max(value, known[-1].best))
    new = Report(step=step, value=value, best=best)
    decision = _decide(session, study, trial_id, replace(renewed, intermediate=(*known, new)), goal)
    if decision is not None:
        new = replace(new, prune=decision.prune, reason=decision.reason[:MAX_REASON],
                      rung=decision.rungs[-1].rung if decision.rungs else None)
        reports.add_rung_entries(session, study.id, trial_id, decision.rungs, now)
    reports.add_report(session, study.id, trial_id, new, now)
    trials.update_trial(session, study.id, renewed)
    return Reported(prune=bool(new.prune), reason=new.reason,
                    answered_by=study.pruner_ref.name if study.pruner_ref is not None else None)


def _decide(session: Session, study: StudyRef, trial_id: int, trial: Trial, goal: Goal) -> Decision | None:
    """The pruner's answer to the trial's newest report; the earlier answer once it was told to stop."""
    if study.pruner_ref is None:
        return None
    stopped = next((r for r in trial.intermediate if r.prune), None)
    if stopped is not None and stopped.reason is not None:
        return Decision(prune=True, reason=stopped.reason)
    peers = reports.StoredPeers(session, study.id, trial_id, study.seed)
    return pruners.build(study.pruner_ref).decide(trial, peers, goal)


@dataclass(frozen=True, kw_only=True)
class NewTrial:
    params: Mapping[str, Any]
    value: float | None = None
    state: TrialState | None = None
    metadata: Mapping[str, Any] | None = None
    values: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Added:
    imported: list[Trial]
    enqueued: int
    queue_length: int


def add_trials(session: Session, who: Principal, name: str, items: Sequence[NewTrial], *, limits: Limits,
               spaces: SpaceCache) -> Added:
    """Enqueue parameter sets (no result) or import finished trials (with value or state)."""
    if len(items) > limits.max_import:
        raise InvalidInput(f"{len(items)} trials in one request is above the limit of {limits.max_import}; "
                           "send them in several requests", errors={"trials": ["too many"]})
    study = lookup.study_ref(session, who.team_id, name, lock=True)
    space = spaces.of(session, study)
    now = database_now(session)
    imported: list[Trial] = []
    enqueued: list[Queued] = []
    for index, item in enumerate(items):
        check_metadata(f"trials[{index}].metadata", item.metadata, limits)
        try:
            params = space.validate_params(item.params)
        except InvalidInput as exc:
            raise type(exc)(f"trials[{index}].params do not fit the study's space: {exc.detail}",
                            errors={f"trials[{index}].params.{k}": v for k, v in (exc.errors or {}).items()}
                            ) from None
        if item.value is None and item.values is None and item.state is None:
            enqueued.append(Queued(params, item.metadata))
            continue
        try:
            result = outcome(study.objective_list, study.constraint_list, value=item.value, values=item.values,
                             state=item.state)
        except InvalidInput as exc:
            raise InvalidInput(f"trials[{index}]: {exc.detail}",
                               errors={f"trials[{index}].{k}": v for k, v in (exc.errors or {}).items()}
                               ) from None
        imported.append(Trial(number=study.next_number + len(imported), state=result.state, params=params,
                              value=result.value, values=result.values, feasible=result.feasible, created_at=now,
                              finished_at=now, metadata=item.metadata, source="import"))
    trials.enqueue(session, study.id, enqueued, now)
    studies.record_added(session, study.id, enqueued=len(enqueued), imported=len(imported))
    trials.insert_trials(session, study.id, imported, asked_by=who.key_id)
    return Added(imported, len(enqueued), study.queued + len(enqueued))


def list_trials(session: Session, who: Principal, name: str, state: TrialState | None, limit: int,
                cursor: str | None, *, min_number: int = 0, reports: bool = True) -> Page[Trial]:
    study = lookup.study_ref(session, who.team_id, name)
    after = max(decode_cursor(cursor, last=trials.MAX_TRIAL_NUMBER), min_number - 1)
    page = cut(trials.page_trials(session, study.id, after, state, limit + 1), limit, lambda trial: trial.number)
    return page.with_items(trials.with_reports(session, study.id, page.items)) if reports else page


def get_trial(session: Session, who: Principal, name: str, number: int) -> Trial:
    study = lookup.study_ref(session, who.team_id, name)
    return trials.with_reports(session, study.id, [lookup.trial(session, study, number)])[0]


def best(session: Session, who: Principal, name: str) -> Trial:
    study = lookup.study_ref(session, who.team_id, name)
    if len(study.objective_list) > 1:
        raise MultiObjective(f"study {name!r} has {len(study.objective_list)} objectives, so no single best trial; "
                             f"read its Pareto front at /v1/studies/{quote(name, safe='')}/pareto instead")
    trial = trials.best_trial(session, study.id, Goal(study.goal))
    if trial is None:
        if study.constraint_list:
            raise NoCompletedTrial(f"study {name!r} has no completed trial that satisfies its constraints yet")
        raise NoCompletedTrial(f"study {name!r} has no completed trial yet; tell a result first")
    return trials.with_reports(session, study.id, [trial])[0]


def reap(transactions: Transactions, who: Principal, name: str) -> None:
    """Expire ended leases before a listing. A cheap read first, so a healthy study never takes the write lock."""
    study = transactions.read(lambda s: _with_expired_leases(s, who, name))
    if study is not None:
        transactions.write(lambda s: trials.reap_expired(s, study, database_now(s)))


def _with_expired_leases(session: Session, who: Principal, name: str) -> StudyRef | None:
    study = studies.find_ref(session, who.team_id, name)
    return study if study is not None and trials.has_expired(session, study) else None
