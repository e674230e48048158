"""The runner: every operation of the service as one database transaction, retried where that is safe,
and answered once per Idempotency-Key.

`write` opens the transaction (SQLite: BEGIN IMMEDIATE) and runs it again after a deadlock or a
serialization failure (a bounded number of times); when a concurrent request won a unique constraint
(two creates of one study, two requests with one key) it runs once more, so the loser answers like a
retry instead of failing. `answer` does the same and renders the result with the caller's `render`:
with an Idempotency-Key it renders and stores the answer inside the transaction, so every retry gets
exactly what the first request got. The runner never chooses an answer: the API's `render` does
(its HTTP status included); the runner stores it and gives it back.

Every timestamp comes from the database's clock, never a worker's: with many replicas on many
machines, a lease ends at the same moment for all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from suggest_api.errors import Conflict, IdempotencyKeyReused
from suggest_api.storage import idempotency
from suggest_api.storage.database import database_now, retrying, transaction

T = TypeVar("T")

#: Each worker deletes expired Idempotency-Keys at most this often, and at most this many at a time.
PURGE_EVERY_S = 60.0
PURGE_BATCH = 1000


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str  # team, method and path: a key is only meaningful for the same endpoint
    key: str
    fingerprint: str  # digest of the request body: the same key with another body is refused
    ttl_s: float  # how long the answer is remembered; a retry after that is a new request


@dataclass(frozen=True)
class Answer:
    """A rendered answer: a status and a JSON body, both chosen by the caller's `render`."""

    status: int
    body: Any
    #: True when this is the remembered answer to an earlier request with the same Idempotency-Key.
    replayed: bool = False


class Transactions:
    """One worker's way into the database: reads, writes, and remembered answers."""

    def __init__(self, sessions: sessionmaker[Session], *, read_budget_s: float | None = None) -> None:
        self.sessions = sessions
        #: How long each statement of a `budgeted` read may run (SUGGEST_MAX_READ_MS), then 503.
        self.read_budget_s = read_budget_s
        self._next_purge = 0.0  # monotonic time of this worker's next purge of expired keys

    def read(self, action: Callable[[Session], T], *, budgeted: bool = False) -> T:
        """Run `action` in a read transaction. `budgeted`: a read whose cost a client chooses (a listing, a
        summary), held to the read budget; a lookup that every request makes (its key) is not."""
        with transaction(self.sessions, write=False, budget_s=self.read_budget_s if budgeted else None) as session:
            return action(session)

    def write(self, action: Callable[[Session], T]) -> T:
        """Run `action` in one write transaction, retried as the module says; its result."""
        def once() -> T:
            with transaction(self.sessions, write=True) as session:
                return action(session)

        return self._retried(once)

    def answer(self, action: Callable[[Session], T], render: Callable[[T], Answer],
               key: IdempotencyKey | None = None) -> Answer:
        """Run a write and render its answer.

        With an Idempotency-Key the answer is rendered and stored inside the transaction, so every retry
        gets exactly what the first request got; without one it is rendered after commit, so the study
        lock is held no longer than the writes need.
        """
        def once() -> Answer:
            with transaction(self.sessions, write=True) as session:
                if key is not None:
                    return self._remembered(session, action, render, key)
                result = action(session)
            return render(result)

        return self._retried(once)

    @staticmethod
    def _retried(once: Callable[[], T]) -> T:
        for attempt in range(2):
            try:
                return retrying(once)
            except IntegrityError:
                if attempt:
                    raise Conflict("a concurrent request changed the same data; retry the request") from None
        raise AssertionError("unreachable")

    def _remembered(self, session: Session, action: Callable[[Session], T], render: Callable[[T], Answer],
                    key: IdempotencyKey) -> Answer:
        now = database_now(session)
        oldest = now - timedelta(seconds=key.ttl_s)
        self._purge_expired_keys(session, oldest)
        prior = idempotency.find(session, key.scope, key.key)
        if prior is not None:
            if prior.created_at > oldest:
                if prior.fingerprint != key.fingerprint:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was already used with a different request body; "
                        "use a new key for a new request",
                        errors={"Idempotency-Key": ["already used with a different body"]})
                return Answer(prior.status, prior.body, replayed=True)
            idempotency.forget(session, prior)  # remembered for its time; this is a new request
        answer = render(action(session))
        # A concurrent request with the same key fails here, and its retry replays this one.
        idempotency.remember(session, scope=key.scope, key=key.key, fingerprint=key.fingerprint,
                             status=answer.status, body=answer.body, at=now)
        return answer

    def _purge_expired_keys(self, session: Session, oldest: datetime) -> None:
        """Delete keys past their time, a batch at a time, at most every PURGE_EVERY_S per worker."""
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY_S
        idempotency.purge(session, oldest, PURGE_BATCH)
