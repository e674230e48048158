"""Every operation of the API as one database transaction. No Flask objects here.

Write operations run through `execute`, which opens the transaction (SQLite: BEGIN IMMEDIATE),
replays the stored answer for a repeated Idempotency-Key, retries once when a concurrent
request won a unique constraint (two creates of one study, two requests with one key), so the loser
answers like a retry instead of failing, and runs the transaction again after a deadlock or a
serialization failure (a bounded number of times).

Every timestamp comes from the database's clock, never a worker's: with many replicas on many
machines, a lease ends at the same moment for all of them.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from suggest_api.config import Limits
from suggest_api.errors import (
    Conflict,
    GridExhausted,
    IdempotencyKeyReused,
    InvalidInput,
    NoCompletedTrial,
    NotFound,
    QuotaExceeded,
    RunningTrialsQuota,
    SuggestError,
)
from suggest_api.model_fits import Fitter, ModelFits
from suggest_api.names import check_name
from suggest_api.paging import Page, cut, decode_cursor
from suggest_api.pruners.registry import pruners
from suggest_api.space import SearchSpace
from suggest_api.storage import accounts
from suggest_api.storage import repository as repo
from suggest_api.storage.database import database_now, retrying, transaction
from suggest_api.storage.models import IdempotencyRow, QueuedRow, StudyRow
from suggest_api.storage.study_locks import StudyLocks
from suggest_api.suggesters.base import Suggester, SuggestRequest
from suggest_api.suggesters.registry import suggesters
from suggest_api.teams import Principal
from suggest_api.trials import STALE_REASON, Goal, PluginRef, Report, Study, Trial, TrialState

T = TypeVar("T")
MAX_SEED = 2**63 - 1


# --- transactions and idempotency -------------------------------------------------------------

@dataclass(frozen=True)
class IdempotencyKey:
    scope: str  # method and path: a key is only meaningful for the same endpoint
    key: str
    fingerprint: str  # digest of the request body: the same key with another body is refused
    ttl_s: float  # how long the answer is remembered; a retry after that is a new request


#: Each worker deletes expired Idempotency-Keys at most this often, and at most this many at a time.
PURGE_EVERY_S = 60.0
PURGE_BATCH = 1000
_next_purge = 0.0


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    replayed: bool = False


def execute(sessions: sessionmaker[Session], action: Callable[[Session], T], render: Callable[[T], Reply],
            key: IdempotencyKey | None = None) -> Reply:
    """Run a write in one transaction and render its answer.

    With an Idempotency-Key the answer is rendered and stored inside the transaction, so every retry
    gets exactly what the first request got; without one it is rendered after commit, so the study
    lock is held no longer than the writes need.
    """
    def once() -> Reply:
        with transaction(sessions, write=True) as session:
            if key is not None:
                return _remembered(session, action, render, key)
            result = action(session)
        return render(result)

    for attempt in range(2):
        try:
            return retrying(once)
        except IntegrityError:
            if attempt:
                raise Conflict("a concurrent request changed the same data; retry the request") from None
    raise AssertionError("unreachable")


def _remembered(session: Session, action: Callable[[Session], T], render: Callable[[T], Reply],
                key: IdempotencyKey) -> Reply:
    now = database_now(session)
    oldest = now - timedelta(seconds=key.ttl_s)
    _purge_expired_keys(session, oldest)
    prior = repo.find_idempotency(session, key.scope, key.key)
    if prior is not None:
        if prior.created_at > oldest:
            return _replay(prior, key)
        session.delete(prior)  # remembered for its time; this is a new request
        session.flush()
    reply = render(action(session))
    session.add(IdempotencyRow(scope=key.scope, key=key.key, fingerprint=key.fingerprint,
                               status=reply.status, body=reply.body, created_at=now))
    session.flush()  # a concurrent request with the same key fails here, and its retry replays this one
    return reply


def _purge_expired_keys(session: Session, oldest: datetime) -> None:
    """Delete keys past their time, a batch at a time, at most every PURGE_EVERY_S per worker."""
    global _next_purge
    if time.monotonic() < _next_purge:
        return
    _next_purge = time.monotonic() + PURGE_EVERY_S
    repo.purge_idempotency(session, oldest, PURGE_BATCH)


def read(sessions: sessionmaker[Session], action: Callable[[Session], T]) -> T:
    with transaction(sessions, write=False) as session:
        return action(session)


def _replay(prior: IdempotencyRow, key: IdempotencyKey) -> Reply:
    if prior.fingerprint != key.fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request body; "
            "use a new key for a new request",
            errors={"Idempotency-Key": ["already used with a different body"]})
    return Reply(prior.status, prior.body, replayed=True)


# --- studies ----------------------------------------------------------------------------------

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
    created: bool


def create_study(session: Session, who: Principal, definition: StudyDefinition, limits: Limits,
                 default_heartbeat_timeout: float) -> Created:
    """Create, or return the existing study when it has the same definition (409 when it differs).

    The team's row lock makes a team's creations take turns, so its study quota holds however many
    replicas create at once.
    """
    check_name("name", definition.name, limits)
    check_name("objective.name", definition.objective_name, limits)
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
                "user_metadata": definition.metadata}
    accounts.lock_team(session, who.team_id)
    existing = repo.find_study(session, who.team_id, definition.name)
    if existing is not None:
        given = wanted | {k: v for k, v in optional.items() if v is not None}
        differ = sorted(k for k, v in given.items() if _json_text(getattr(existing, k)) != _json_text(v))
        if differ:
            names = ", ".join(_PUBLIC_FIELD.get(k, k) for k in differ)
            raise Conflict(f"study {definition.name!r} already exists with a different {names}; "
                           "choose another name, or delete the study first",
                           extra={"differing_fields": [_PUBLIC_FIELD.get(k, k) for k in differ]})
        return Created(summarize(session, existing), created=False)
    studies = accounts.count_studies(session, who.team_id)
    if studies >= who.quotas.max_studies:
        raise QuotaExceeded(f"team {who.team_name!r} has {studies} studies, its quota is {who.quotas.max_studies}; "
                            "delete studies it no longer needs, or ask the operator to raise the quota",
                            extra={"quota": "max_studies", "limit": who.quotas.max_studies})
    now = database_now(session)
    row = StudyRow(
        team_id=who.team_id,
        created_by=who.key_id,
        name=definition.name,
        seed=definition.seed if definition.seed is not None else secrets.randbelow(MAX_SEED),
        heartbeat_timeout=definition.heartbeat_timeout or default_heartbeat_timeout,
        user_metadata=definition.metadata,
        next_number=0,
        created_at=now,
        **wanted,
    )
    session.add(row)
    accounts.record(session, who.team_id, who.key_id, "study.created", definition.name, now)
    session.flush()
    return Created(summarize(session, row, space), created=True)


def _json_text(value: Any) -> str:
    """Compare stored and requested values as JSON: in Python True == 1, in a search space they differ."""
    return json.dumps(value, sort_keys=True)


_PUBLIC_FIELD = {"objective_name": "objective.name", "goal": "objective.goal", "user_metadata": "metadata"}


def get_study(session: Session, who: Principal, name: str) -> Study:
    return summarize(session, _study(session, who.team_id, name))


def summarize(session: Session, row: StudyRow, space: SearchSpace | None = None) -> Study:
    return summarize_many(session, [row], {row.id: space} if space else None)[0]


def summarize_many(session: Session, rows: Sequence[StudyRow],
                   spaces: Mapping[int, SearchSpace] | None = None) -> list[Study]:
    """Studies with their trial counts and best trials: a fixed number of queries for any page size."""
    counts = repo.count_trials(session, (r.id for r in rows))
    best = repo.best_trials(session, rows)
    return [replace(repo.study_from_row(row, (spaces or {}).get(row.id)), trial_counts=counts[row.id],
                    queued=row.queued, best_trial=best.get(row.id))
            for row in rows]


def list_studies(session: Session, who: Principal, limit: int, cursor: str | None) -> Page[Study]:
    after = decode_cursor(cursor)
    rows = list(session.scalars(select(StudyRow).where(StudyRow.team_id == who.team_id, StudyRow.id > after)
                                .order_by(StudyRow.id)
                                .limit(limit + 1)))
    page = cut(rows, limit, lambda row: row.id)
    return Page(summarize_many(session, page.items), page.next_cursor)


def delete_study(session: Session, who: Principal, name: str) -> None:
    session.delete(_study(session, who.team_id, name))
    accounts.record(session, who.team_id, who.key_id, "study.deleted", name, database_now(session))


# --- trials -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Asked:
    suggester: str
    trials: list[Trial]


@dataclass(frozen=True)
class Costly:
    """How an ask runs a costly suggester (a model fit): in one of this worker's model-fit processes,
    with a fit slot reserved before the ask waits for anything, so a worker never has more than its
    `max_model_fits` threads busy with fits (the others answer 503 at once)."""

    fits: ModelFits
    #: The reserved slot; None on the first attempt, which finds out whether the study needs one.
    fitter: Fitter | None = None


class NeedsFitSlot(Exception):
    """Raised in the ask's transaction (which rolls back) when the study's suggester is costly and no fit
    slot is reserved yet."""


#: Studies (team, name) this worker has seen with a costly suggester: their asks reserve a fit slot before
#: they wait for the study's lock. Only a hint (a study may be deleted and made again): checked each ask.
_COSTLY_STUDIES: set[tuple[int, str]] = set()
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class Planned:
    """Suggestions computed before the write transaction, for the trial numbers and position it saw."""

    numbers: Sequence[int]
    made: int
    params: list[dict[str, Any]]


def ask_trials(sessions: sessionmaker[Session], who: Principal, name: str, count: int, client_id: str | None,
               limits: Limits,
               render: Callable[[Asked], Reply], key: IdempotencyKey | None, *, costly: Costly,
               study_locks: StudyLocks | None) -> Reply:
    """An ask, end to end. A cheap suggester runs in one transaction. A costly one first reserves a fit slot
    (503 when the worker has none free); then on PostgreSQL it fits inside the transaction, under the study's
    row lock (which holds back only this study's asks); on SQLite, whose write lock holds back every write,
    it takes the study's own lock, reads the study, fits, and writes in a short transaction that uses the
    fit's suggestions if nothing changed the study meanwhile."""
    try:
        return execute(sessions, lambda s: ask(s, who, name, count, client_id, limits, costly), render, key)
    except NeedsFitSlot:
        pass
    with costly.fits.reserve() as fitter:
        reserved = replace(costly, fitter=fitter)
        if study_locks is None:
            return execute(sessions, lambda s: ask(s, who, name, count, client_id, limits, reserved), render, key)
        study_id = read(sessions, lambda s: _study_ref(s, who.team_id, name).id)
        with study_locks.hold(study_id):
            planned = read(sessions, lambda s: plan_ask(s, who.team_id, name, count, fitter))
            return execute(sessions, lambda s: ask(s, who, name, count, client_id, limits, reserved, planned),
                           render, key)


def plan_ask(session: Session, team_id: int, name: str, count: int, fitter: Fitter) -> Planned | None:
    """Suggestions for the next `count` numbers of the study as it is now (None: let the ask decide)."""
    study = repo.find_study_ref(session, team_id, name)
    if study is None or study.queued:
        return None
    request = _request(session, study, range(study.next_number, study.next_number + count), with_history=True)
    try:
        params = fitter.suggest(_suggester_of(study), request)[:count]
    except SuggestError:
        return None  # the ask meets the same error in its transaction and answers it there
    return Planned(request.numbers, request.made, params)


def ask(session: Session, who: Principal, name: str, count: int, client_id: str | None, limits: Limits,
        costly: Costly | None = None, planned: Planned | None = None) -> Asked:
    """Reserve numbers (taking the study lock), reap stale trials when due, check the team's running-trial
    quota, hand out queued params first, then the suggester's (`costly` None: every suggester runs in this
    thread). The quota is counted under the study lock, so concurrent asks on any replica cannot pass it."""
    if count > limits.max_count:
        raise InvalidInput(f"count {count} is above the limit of {limits.max_count} trials per ask; "
                           "ask for fewer (or raise SUGGEST_MAX_COUNT)",
                           errors={"count": [f"must be at most {limits.max_count}"]})
    if count > who.quotas.max_trials_per_ask:
        raise QuotaExceeded(f"count {count} is above team {who.team_name!r}'s quota of "
                            f"{who.quotas.max_trials_per_ask} trials per ask; ask for fewer",
                            errors={"count": [f"must be at most {who.quotas.max_trials_per_ask}"]},
                            extra={"quota": "max_trials_per_ask", "limit": who.quotas.max_trials_per_ask})
    if client_id is not None:
        check_name("client_id", client_id, limits)
    if costly is not None and costly.fitter is None and (who.team_id, name) in _COSTLY_STUDIES:
        raise NeedsFitSlot  # before the study's lock: a busy worker must refuse, not queue
    claimed = repo.claim_numbers(session, who.team_id, name, count)
    if claimed is None:
        raise NotFound(f"no study named {name!r}; create it with POST /v1/studies")
    study, now = claimed
    reaped = repo.reap_due(study, now)
    if reaped:
        repo.reap_expired(session, study, now)
    _check_running_quota(session, who, study, count, now, reaped)
    first = study.next_number - count
    queued = repo.pop_queued(session, study.id, count) if study.queued else []
    chosen: list[tuple[dict[str, Any], Mapping[str, Any] | None, str]] = [
        (q.params, q.user_metadata, "queue") for q in queued]
    if len(chosen) < count:
        ref = _suggester_of(study)
        suggester = suggesters.build(ref)
        numbers = range(first + len(chosen), first + count)
        try:
            if planned is not None and planned.numbers == numbers and planned.made == study.suggested:
                suggested = planned.params
            else:
                request = _request(session, study, numbers, with_history=suggester.needs_history)
                suggested = _suggest((who.team_id, name), suggester, request, ref, costly)[:request.count]
        except GridExhausted:
            if not chosen:
                raise
            suggested = []  # the queue filled part of the ask: answer those, give the other numbers back
        chosen += [(params, None, "suggester") for params in suggested]
        repo.record_suggested(session, study.id, len(suggested), count - len(chosen))
    lease = repo.lease_end(study, now)
    trials = [Trial(number=first + i, state=TrialState.RUNNING, params=params, created_at=now, heartbeat_at=now,
                    lease_expires_at=lease, client_id=client_id, metadata=metadata, source=source)
              for i, (params, metadata, source) in enumerate(chosen)]
    repo.insert_trials(session, study.id, trials, asked_by=who.key_id)
    return Asked(study.suggester["name"], trials)


def _check_running_quota(session: Session, who: Principal, study: repo.StudyRef, count: int, now: datetime,
                         reaped: bool) -> None:
    """Refuse an ask that would run more trials at once than the team's quota; trials whose lease has
    ended do not count (they are expired first, even when the periodic reap is not due)."""
    limit = who.quotas.max_running_trials
    running = repo.count_running(session, study.id)
    if running + count > limit and not reaped and repo.reap_expired(session, study, now):
        running = repo.count_running(session, study.id)
    if running + count > limit:
        room = max(0, limit - running)
        raise RunningTrialsQuota(
            f"study {study.name!r} runs {running} trials and team {who.team_name!r}'s quota is {limit} running "
            f"trials per study; tell results first" + (f", or ask for at most {room}" if room else ""),
            extra={"quota": "max_running_trials", "limit": limit, "running": running})


def _suggester_of(study: repo.StudyRef) -> PluginRef:
    return PluginRef(name=study.suggester["name"], options=study.suggester["options"])


def _request(session: Session, study: repo.StudyRef, numbers: range, *, with_history: bool) -> SuggestRequest:
    return SuggestRequest(space=repo.space_of(session, study), goal=Goal(study.goal), seed=study.seed,
                          numbers=numbers, made=study.suggested,
                          history=repo.history(session, study.id) if with_history else ())


def _suggest(name: tuple[int, str], suggester: Suggester, request: SuggestRequest, ref: PluginRef,
             costly: Costly | None) -> list[dict[str, Any]]:
    if not suggester.costly:
        _COSTLY_STUDIES.discard(name)
        return suggester.suggest(request)
    if costly is None:  # in-process callers (benchmarks): fit in this thread
        return suggester.suggest(request)
    if costly.fitter is None:
        if len(_COSTLY_STUDIES) >= _MAX_REMEMBERED:
            _COSTLY_STUDIES.clear()
        _COSTLY_STUDIES.add(name)
        raise NeedsFitSlot
    return costly.fitter.suggest(ref, request)


@dataclass(frozen=True)
class Told:
    suggester: str
    trial: Trial
    changed: bool


def tell(session: Session, who: Principal, name: str, number: int, *, value: float | None,
         state: TrialState | None, metadata: Mapping[str, Any] | None) -> Told:
    """Finish a trial. The same tell again is a no-op; a different one is a conflict."""
    state = _told_state(value, state)
    locked = _locked_trial(session, who.team_id, name, number)
    study, trial = locked.study, locked.trial
    suggester = study.suggester["name"]
    # A trial whose lease ended (its trainer went quiet for longer than heartbeat_timeout) still did the
    # work when its result arrives: the result is stored and the trial completed (README: "Leases").
    late = trial.state is TrialState.FAILED and trial.fail_reason == STALE_REASON
    if trial.state is not TrialState.RUNNING and not late:
        if trial.state is state and trial.value == value:
            return Told(suggester, trial, changed=False)
        told = f"{trial.state.value}" + (f" with value {trial.value!r}" if trial.value is not None else "")
        raise Conflict(f"trial {number} of study {name!r} was already told {told}; a finished trial's "
                       "result cannot be replaced (telling the same result again is allowed)")
    merged = {**(trial.metadata or {}), **metadata} if metadata else trial.metadata
    trial = replace(trial, state=state, value=value, finished_at=locked.now, fail_reason=None, metadata=merged)
    repo.update_trial(session, study.id, trial, told_by=who.key_id)
    return Told(suggester, trial, changed=True)


def _told_state(value: float | None, state: TrialState | None) -> TrialState:
    if value is not None and not math.isfinite(value):
        raise InvalidInput("value must be a finite number; to say the run diverged, tell state 'failed'",
                           errors={"value": ["must be finite"]})
    if state is None:
        if value is None:
            raise InvalidInput("give `value` (completed) or `state` ('failed' or 'pruned')",
                               errors={"value": ["required unless state is failed or pruned"]})
        return TrialState.COMPLETED
    if state is TrialState.RUNNING:
        raise InvalidInput("a tell finishes a trial: state must be completed, failed or pruned",
                           errors={"state": ["must be one of: completed, failed, pruned"]})
    if state is TrialState.COMPLETED and value is None:
        raise InvalidInput("a completed trial needs its `value`", errors={"value": ["required for completed"]})
    if state is TrialState.FAILED and value is not None:
        raise InvalidInput("a failed trial has no value; drop `value`, or tell state 'completed'",
                           errors={"value": ["must be absent when state is failed"]})
    return state


def heartbeat(session: Session, who: Principal, name: str, number: int) -> Trial:
    """Renew the trial's lease: it now ends heartbeat_timeout after this moment, by the database's clock."""
    locked = _running(session, who.team_id, name, number, "take heartbeats")
    trial = replace(locked.trial, heartbeat_at=locked.now, lease_expires_at=repo.lease_end(locked.study, locked.now))
    repo.update_trial(session, locked.study.id, trial)
    return trial


@dataclass(frozen=True)
class Reported:
    prune: bool


def report(session: Session, who: Principal, name: str, number: int, step: int, value: float) -> Reported:
    """Store an intermediate value (also a heartbeat) and ask the study's pruner, if any."""
    if not math.isfinite(value):
        raise InvalidInput("value must be a finite number", errors={"value": ["must be finite"]})
    locked = _running(session, who.team_id, name, number, "take reports")
    study, trial_id, trial, now = locked.study, locked.trial_id, locked.trial, locked.now
    existing = repo.report_value(session, trial_id, step)
    if existing is not None and existing != value:
        raise Conflict(f"trial {number} already reported {existing!r} at step {step}; "
                       "report each step once (or use the next step)")
    reports = trial.intermediate
    if existing is None:
        repo.add_report(session, trial_id, step, value, now)
        reports = tuple(sorted((*reports, Report(step=step, value=value)), key=lambda r: r.step))
    trial = replace(trial, heartbeat_at=now, lease_expires_at=repo.lease_end(study, now), intermediate=reports)
    repo.update_trial(session, study.id, trial)
    if study.pruner is None:
        return Reported(prune=False)
    pruner = pruners.build(PluginRef(name=study.pruner["name"], options=study.pruner["options"]))
    others = [t for t in repo.history(session, study.id) if t.number != number] if pruner.needs_history else []
    return Reported(prune=pruner.should_prune(trial, others, Goal(study.goal)))


@dataclass(frozen=True, kw_only=True)
class NewTrial:
    params: Mapping[str, Any]
    value: float | None = None
    state: TrialState | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Added:
    imported: list[Trial]
    enqueued: int
    queue_length: int


def add_trials(session: Session, who: Principal, name: str, items: Sequence[NewTrial], limits: Limits) -> Added:
    """Enqueue parameter sets (no result) or import finished trials (with value or state)."""
    if len(items) > limits.max_import:
        raise InvalidInput(f"{len(items)} trials in one request is above the limit of {limits.max_import}; "
                           "send them in several requests", errors={"trials": ["too many"]})
    row = _study(session, who.team_id, name, lock=True)
    space = repo.stored_space(row)
    now = database_now(session)
    imported: list[Trial] = []
    enqueued = 0
    for index, item in enumerate(items):
        try:
            params = space.validate_params(item.params)
        except InvalidInput as exc:
            raise type(exc)(f"trials[{index}].params do not fit the study's space: {exc.detail}",
                            errors={f"trials[{index}].params.{k}": v for k, v in (exc.errors or {}).items()}
                            ) from None
        if item.value is None and item.state is None:
            session.add(QueuedRow(study_id=row.id, params=params, user_metadata=item.metadata, created_at=now))
            enqueued += 1
            row.queued += 1
            continue
        try:
            state = _told_state(item.value, item.state)
        except InvalidInput as exc:
            raise InvalidInput(f"trials[{index}]: {exc.detail}",
                               errors={f"trials[{index}].{k}": v for k, v in (exc.errors or {}).items()}
                               ) from None
        imported.append(Trial(number=row.next_number, state=state, params=params, value=item.value,
                              created_at=now, finished_at=now, metadata=item.metadata, source="import"))
        row.next_number += 1
    session.flush()
    repo.insert_trials(session, row.id, imported, asked_by=who.key_id)
    return Added(imported, enqueued, row.queued)


def list_trials(session: Session, who: Principal, name: str, state: TrialState | None, limit: int,
                cursor: str | None) -> Page[Trial]:
    study = _study_ref(session, who.team_id, name)
    page = cut(repo.page_trials(session, study.id, decode_cursor(cursor), state, limit + 1), limit,
               lambda trial: trial.number)
    return Page(repo.with_reports(session, study.id, page.items), page.next_cursor)


def get_trial(session: Session, who: Principal, name: str, number: int) -> Trial:
    study = _study_ref(session, who.team_id, name)
    return repo.with_reports(session, study.id, [_trial(session, study, number)])[0]


def best(session: Session, who: Principal, name: str) -> Trial:
    study = _study_ref(session, who.team_id, name)
    trial = repo.best_trial(session, study.id, Goal(study.goal))
    if trial is None:
        raise NoCompletedTrial(f"study {name!r} has no completed trial yet; tell a result first")
    return repo.with_reports(session, study.id, [trial])[0]


def reap(sessions: sessionmaker[Session], who: Principal, name: str) -> None:
    """Expire ended leases before a listing. A cheap read first, so a healthy study never takes the write lock."""
    with transaction(sessions, write=False) as session:
        study = repo.find_study_ref(session, who.team_id, name)
        if study is None or not repo.has_expired(session, study):
            return
    with transaction(sessions, write=True) as session:
        repo.reap_expired(session, study, database_now(session))


# --- helpers ----------------------------------------------------------------------------------

def _study(session: Session, team_id: int, name: str, *, lock: bool = False) -> StudyRow:
    row = repo.find_study(session, team_id, name, lock=lock)
    if row is None:
        raise NotFound(f"no study named {name!r}; create it with POST /v1/studies")
    return row


def _study_ref(session: Session, team_id: int, name: str) -> repo.StudyRef:
    study = repo.find_study_ref(session, team_id, name)
    if study is None:
        raise NotFound(f"no study named {name!r}; create it with POST /v1/studies")
    return study


def _trial(session: Session, study: repo.StudyRef, number: int) -> Trial:
    trial = repo.find_trial(session, study.id, number)
    if trial is None:
        known = f"its trials are numbered 0..{study.next_number - 1}" if study.next_number else "it has no trials yet"
        raise NotFound(f"study {study.name!r} has no trial {number}; {known}")
    return trial


def _locked_trial(session: Session, team_id: int, name: str, number: int) -> repo.LockedTrial:
    found = repo.lock_trial(session, team_id, name, number)
    if found is None:
        _trial(session, _study_ref(session, team_id, name), number)  # raises the NotFound that says which is missing
        raise AssertionError("unreachable")
    return found


def _running(session: Session, team_id: int, name: str, number: int, what: str) -> repo.LockedTrial:
    locked = _locked_trial(session, team_id, name, number)
    trial = locked.trial
    if trial.state is not TrialState.RUNNING:
        why = (f" (its lease ended: no heartbeat for {locked.study.heartbeat_timeout:g} s; its result may "
               "still be told)") if trial.fail_reason == STALE_REASON else ""
        raise Conflict(f"trial {number} is {trial.state.value}{why}; only running trials {what}")
    return locked
