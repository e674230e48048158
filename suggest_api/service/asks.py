"""Asks: new running trials, from the study's queue first, then from its suggester.

`Asks.ask` is an ask end to end. A cheap suggester (random, grid) runs in one transaction,
`create_trials`. A costly one (a model fit) is the costly-ask path, all of it here:
- it first reserves one of this worker's fit slots (`ModelFits`), so a busy worker answers 503 at
  once instead of queueing on the study's lock; the fit runs in a niced helper process, within a
  time budget (model_fits.py);
- on PostgreSQL it then fits inside the transaction, under the study's row lock (which holds back
  only this study's asks);
- on SQLite, whose one write lock holds back every write of every study, it takes the study's own
  lock (study_locks.py), reads the study and fits (`plan_suggestions`), then writes in a short
  transaction that uses the fit's suggestions if nothing changed the study meanwhile.
Which studies need a fit slot is learned on their first ask and remembered by this worker (a hint,
checked on every ask), so a costly study's asks reserve before they wait for anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from suggest_api.accounts import Principal
from suggest_api.config import Limits
from suggest_api.domain import Goal, PluginRef, Trial, TrialState
from suggest_api.errors import GridExhausted, InvalidInput, QuotaExceeded, RunningTrialsQuota, SuggestError
from suggest_api.names import check_name
from suggest_api.service import lookup
from suggest_api.service.leases import lease_end, reap_due
from suggest_api.service.model_fits import Fitter, ModelFits
from suggest_api.service.study_locks import StudyLocks
from suggest_api.service.transactions import Transactions
from suggest_api.storage import studies, trials
from suggest_api.storage.rows import StudyRef
from suggest_api.storage.studies import SpaceCache
from suggest_api.suggesters.base import Suggester, SuggestRequest
from suggest_api.suggesters.registry import suggesters

R = TypeVar("R")


@dataclass(frozen=True)
class AskRequest:
    study: str
    count: int = 1
    client_id: str | None = None  # free text that tells a study's workers apart in listings


@dataclass(frozen=True)
class Asked:
    suggester: str
    trials: list[Trial]


#: Runs one write transaction of an ask and gives its answer: the API's remembers it under the request's
#: Idempotency-Key (Transactions.answer); an in-process caller's may be just Transactions.write.
Commit = Callable[[Callable[[Session], Asked]], R]


@dataclass(frozen=True)
class Planned:
    """Suggestions computed before the write transaction, for the trial numbers and position it saw."""

    numbers: Sequence[int]
    made: int
    params: list[dict[str, Any]]


class NeedsFitSlot(Exception):
    """Raised in an ask's transaction (which rolls back) when the study's suggester is costly and no fit
    slot is reserved yet."""


#: At most this many costly studies are remembered per worker (then the hints start over).
MAX_REMEMBERED = 10_000


class Asks:
    """One worker's asks: its fit slots, its SQLite study locks, and its hints of which studies are costly."""

    def __init__(self, transactions: Transactions, *, limits: Limits, spaces: SpaceCache, fits: ModelFits,
                 study_locks: StudyLocks | None) -> None:
        """`study_locks`: SQLite only; None on PostgreSQL, where a fit runs under the study's row lock."""
        self.transactions = transactions
        self.limits = limits
        self.spaces = spaces
        self.fits = fits
        self.study_locks = study_locks
        self._costly: set[tuple[int, str]] = set()  # (team id, study name) seen with a costly suggester

    def ask(self, who: Principal, request: AskRequest, commit: Commit[R]) -> R:
        """An ask, end to end (see the module's docstring); `commit` runs each write transaction."""
        try:
            return commit(lambda s: self._create(s, who, request))
        except NeedsFitSlot:
            pass
        with self.fits.reserve() as fitter:
            if self.study_locks is None:
                return commit(lambda s: self._create(s, who, request, fitter))
            study_id = self.transactions.read(lambda s: lookup.study_ref(s, who.team_id, request.study).id)
            with self.study_locks.hold(study_id):
                planned = self.transactions.read(lambda s: plan_suggestions(s, who.team_id, request, fitter,
                                                                            self.spaces))
                return commit(lambda s: self._create(s, who, request, fitter, planned))

    def _create(self, session: Session, who: Principal, request: AskRequest, fitter: Fitter | None = None,
                planned: Planned | None = None) -> Asked:
        study = (who.team_id, request.study)
        if fitter is None and study in self._costly:
            raise NeedsFitSlot  # before the study's lock: a busy worker must refuse, not queue

        def suggest(suggester: Suggester, ref: PluginRef, suggest_request: SuggestRequest) -> list[dict[str, Any]]:
            if not suggester.costly:
                self._costly.discard(study)
                return suggester.suggest(suggest_request)
            if fitter is None:
                if len(self._costly) >= MAX_REMEMBERED:
                    self._costly.clear()
                self._costly.add(study)
                raise NeedsFitSlot
            return fitter.suggest(ref, suggest_request)

        return create_trials(session, who, request, limits=self.limits, spaces=self.spaces, suggest=suggest,
                             planned=planned)


def plan_suggestions(session: Session, team_id: int, request: AskRequest, fitter: Fitter,
                     spaces: SpaceCache) -> Planned | None:
    """Suggestions for the next `count` numbers of the study as it is now (None: let the ask decide)."""
    study = studies.find_ref(session, team_id, request.study)
    if study is None or study.queued:
        return None
    suggest_request = _request(session, study, range(study.next_number, study.next_number + request.count),
                               spaces, with_history=True)
    try:
        params = fitter.suggest(study.suggester_ref, suggest_request)[:request.count]
    except SuggestError:
        return None  # the ask meets the same error in its transaction and answers it there
    return Planned(suggest_request.numbers, suggest_request.made, params)


#: Runs a study's suggester for one ask: in this thread, or in a fit slot's helper process.
SuggestFn = Callable[[Suggester, PluginRef, SuggestRequest], list[dict[str, Any]]]


def _in_this_thread(suggester: Suggester, _ref: PluginRef, request: SuggestRequest) -> list[dict[str, Any]]:
    return suggester.suggest(request)


def create_trials(session: Session, who: Principal, request: AskRequest, *, limits: Limits, spaces: SpaceCache,
                  suggest: SuggestFn = _in_this_thread, planned: Planned | None = None) -> Asked:
    """One ask's transaction: reserve numbers (taking the study lock), reap stale trials when due, check the
    team's running-trial quota, hand out queued params first, then the suggester's (by default run in this
    thread: what in-process callers such as the benchmarks get). The quota is counted under the study lock,
    so concurrent asks on any replica cannot pass it."""
    count = request.count
    if count > limits.max_count:
        raise InvalidInput(f"count {count} is above the limit of {limits.max_count} trials per ask; "
                           "ask for fewer (or raise SUGGEST_MAX_COUNT)",
                           errors={"count": [f"must be at most {limits.max_count}"]})
    if count > who.quotas.max_trials_per_ask:
        raise QuotaExceeded(f"count {count} is above team {who.team_name!r}'s quota of "
                            f"{who.quotas.max_trials_per_ask} trials per ask; ask for fewer",
                            errors={"count": [f"must be at most {who.quotas.max_trials_per_ask}"]},
                            extra={"quota": "max_trials_per_ask", "limit": who.quotas.max_trials_per_ask})
    if request.client_id is not None:
        check_name("client_id", request.client_id, limits)
    claimed = studies.claim_numbers(session, who.team_id, request.study, count)
    if claimed is None:
        raise lookup.no_study(request.study)
    study, now = claimed
    reaped = reap_due(study, now)
    if reaped:
        trials.reap_expired(session, study, now)
    _check_running_quota(session, who, study, count, now, reaped)
    first = study.next_number - count
    queued = trials.pop_queued(session, study.id, count) if study.queued else []
    chosen: list[tuple[Mapping[str, Any], Mapping[str, Any] | None, str]] = [
        (q.params, q.metadata, "queue") for q in queued]
    if len(chosen) < count:
        ref = study.suggester_ref
        suggester = suggesters.build(ref)
        numbers = range(first + len(chosen), first + count)
        try:
            if planned is not None and planned.numbers == numbers and planned.made == study.suggested:
                suggested = planned.params
            else:
                suggest_request = _request(session, study, numbers, spaces, with_history=suggester.needs_history)
                suggested = suggest(suggester, ref, suggest_request)[:suggest_request.count]
        except GridExhausted:
            if not chosen:
                raise
            suggested = []  # the queue filled part of the ask: answer those, give the other numbers back
        chosen += [(params, None, "suggester") for params in suggested]
        studies.record_suggested(session, study.id, len(suggested), count - len(chosen))
    lease = lease_end(study, now)
    made = [Trial(number=first + i, state=TrialState.RUNNING, params=params, created_at=now, heartbeat_at=now,
                  lease_expires_at=lease, client_id=request.client_id, metadata=metadata, source=source)
            for i, (params, metadata, source) in enumerate(chosen)]
    trials.insert_trials(session, study.id, made, asked_by=who.key_id)
    return Asked(study.suggester["name"], made)


def _check_running_quota(session: Session, who: Principal, study: StudyRef, count: int, now: datetime,
                         reaped: bool) -> None:
    """Refuse an ask that would run more trials at once than the team's quota; trials whose lease has
    ended do not count (they are expired first, even when the periodic reap is not due)."""
    limit = who.quotas.max_running_trials
    running = trials.count_running(session, study.id)
    if running + count > limit and not reaped and trials.reap_expired(session, study, now):
        running = trials.count_running(session, study.id)
    if running + count > limit:
        room = max(0, limit - running)
        raise RunningTrialsQuota(
            f"study {study.name!r} runs {running} trials and team {who.team_name!r}'s quota is {limit} running "
            f"trials per study; tell results first" + (f", or ask for at most {room}" if room else ""),
            extra={"quota": "max_running_trials", "limit": limit, "running": running})


def _request(session: Session, study: StudyRef, numbers: range, spaces: SpaceCache, *,
             with_history: bool) -> SuggestRequest:
    return SuggestRequest(space=spaces.of(session, study), goal=Goal(study.goal), seed=study.seed,
                          numbers=numbers, made=study.suggested, objectives=study.objective_list,
                          constraints=study.constraint_list,
                          history=trials.history(session, study.id) if with_history else ())
