"""HTTP with the retry rules every suggest_api client follows.

- Connection errors, timeouts, 502/503/504 and 429 are retried with exponential backoff and full
  jitter, so many workers hitting a restarting service do not come back in lockstep. A
  `Retry-After` header, when the service sends one, sets the wait instead.
- A POST that creates something (a study, trials, a result) carries an `Idempotency-Key` made once
  per call and sent again on every retry: if the first attempt reached the service and only the
  answer was lost, the retry gets that first answer back instead of a second trial.
- Reads, heartbeats and reports are idempotent on the service, so they are retried as they are.
- A `503 model-busy` (every model-fit slot of the worker taken) is a turn to wait for, not a fault: it is
  retried after its `Retry-After` (plus jitter, so waiting workers do not return together) for up to
  MODEL_BUSY_WAIT_S, however few `retries` are left. So more trainers than the service has fit slots
  take turns instead of failing.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import requests

from suggest_client.errors import ConnectionFailed, ProblemError, from_problem
from suggest_client.version import __version__

log = logging.getLogger("suggest_client")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 20.0
RETRY_AFTER_CAP_S = 60.0
IDEMPOTENCY_HEADER = "Idempotency-Key"
MODEL_BUSY = "urn:suggest-api:problem:model-busy"
MODEL_BUSY_WAIT_S = 300.0


class Transport:
    """One base URL, one token, one connection pool per thread (requests.Session is not thread-safe)."""

    def __init__(self, url: str, token: str | None, timeout: float, retries: int) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                idempotent_post: bool = False, idempotency_key: str | None = None) -> Any:
        """Send with retries; the parsed JSON answer (None for an empty one), or a typed error.

        `idempotency_key` replaces the key made per call, for a request whose key must outlive the
        process (one derived from its content: a rerun of the same import is answered, not repeated).
        """
        headers = {"Accept": "application/json, application/problem+json"}
        if idempotent_post or idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        attempt = 0
        started = time.monotonic()
        answer_lost = False  # an earlier attempt may have reached the service
        while True:
            try:
                response = self._session().request(method, self.url + path, json=json, params=params,
                                                   headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                if attempt >= self.retries:
                    raise ConnectionFailed(f"{method} {self.url}{path} failed after {attempt + 1} attempts: "
                                           f"{error}") from error
                answer_lost = True
                delay = backoff(attempt)
                log.info("%s %s: %s; retrying in %.2f s", method, path, type(error).__name__, delay)
            else:
                if response.status_code < 400:
                    return response.json() if response.content else None
                if method == "DELETE" and response.status_code == 404 and answer_lost:
                    return None  # the lost attempt deleted it
                problem = _problem(response)
                told = retry_after(response.headers.get("Retry-After"))
                if problem.type == MODEL_BUSY and time.monotonic() - started < MODEL_BUSY_WAIT_S:
                    delay = (1.0 if told is None else told) * random.uniform(1.0, 1.5)
                    log.debug("%s %s: model fits busy; retrying in %.2f s", method, path, delay)
                    time.sleep(delay)
                    continue  # waiting for a turn uses no retry
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    raise problem
                delay = backoff(attempt) if told is None else told
                log.info("%s %s: %s; retrying in %.2f s", method, path, response.status_code, delay)
            time.sleep(delay)
            attempt += 1

    def close_thread(self) -> None:
        """Close the calling thread's connections (a worker thread that is done)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None:
            self._local.session = None
            with self._sessions_lock:
                self._sessions.remove(session)
            session.close()

    def close(self) -> None:
        """Close every thread's connections."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"suggest-client-python/{__version__}"
            if self.token:
                session.headers["Authorization"] = f"Bearer {self.token}"
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session


def backoff(attempt: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** attempt))


def retry_after(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), capped; None if absent."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return min(float(header), RETRY_AFTER_CAP_S)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), RETRY_AFTER_CAP_S)


def _problem(response: requests.Response) -> ProblemError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return from_problem(response.status_code, body)
