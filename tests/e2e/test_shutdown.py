"""SIGTERM under load: in-flight requests finish, nothing is cut off, every acknowledged tell is stored.

Orchestrators stop servers with SIGTERM during traffic; a trainer that got a 200 for its tell must
be able to trust that the result is in the database.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import select

from suggest_api.storage.database import make_engine
from suggest_api.storage.models import StudyRow, TrialRow
from tests.e2e.support import Reply, call, expect, study_body
from tests.support.servers import StartServer

CLIENTS = 6
WARM_UP_TELLS = 40  # acknowledged tells before SIGTERM, so the burst is well under way


@dataclass
class Seen:
    """One client's view: replies (with whether they arrived after SIGTERM), failures, acknowledgements."""

    replies: list[tuple[Reply, bool]] = field(default_factory=list)
    broken: list[BaseException] = field(default_factory=list)
    asked: set[int] = field(default_factory=set)
    told: dict[int, float] = field(default_factory=dict)


class Burst:
    """Clients that ask and tell until the server stops answering."""

    def __init__(self, base_url: str, study: str) -> None:
        self.base_url, self.study = base_url, study
        self.sigterm_sent = threading.Event()
        self.stop = threading.Event()
        self.warm = threading.Event()
        self._lock = threading.Lock()
        self._acknowledged = 0

    def client(self, index: int) -> Seen:
        """Every third client asks 20 trials at once: bigger responses, longer requests in flight."""
        seen = Seen()
        count = 20 if index % 3 == 0 else 1
        with requests.Session() as session:
            while not self.stop.is_set():
                asked = self._send(session, seen, "ask", {"count": count})
                if asked is None:
                    return seen
                if asked.status != 201:
                    continue
                seen.asked.update(trial["number"] for trial in asked.body["trials"])
                for trial in asked.body["trials"]:
                    value = index + trial["number"] / 1000
                    told = self._send(session, seen, "tell", {"number": trial["number"], "value": value})
                    if told is None:
                        return seen
                    if told.status == 200:
                        seen.told[trial["number"]] = value
                        self._acknowledge()
        return seen

    def _send(self, session: requests.Session, seen: Seen, action: str, body: object) -> Reply | None:
        """A reply; None once the server is gone (no response at all is fine, a broken one is not)."""
        try:
            reply = call(session, "POST", f"{self.base_url}/v1/studies/{self.study}/{action}", json_body=body)
        except requests.ConnectionError:
            return None
        except Exception as exc:  # a truncated body, a bad chunk, a timeout: all failures of the drain
            seen.broken.append(exc)
            return None
        seen.replies.append((reply, self.sigterm_sent.is_set()))
        return reply

    def _acknowledge(self) -> None:
        with self._lock:
            self._acknowledged += 1
            if self._acknowledged >= WARM_UP_TELLS:
                self.warm.set()


def stored_trials(database_url: str, study: str) -> dict[int, tuple[str, float | None]]:
    """Read the database directly, with no server in between: number -> (state, value)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(TrialRow.number, TrialRow.state, TrialRow.value)
                .join(StudyRow, TrialRow.study_id == StudyRow.id).where(StudyRow.name == study))
            return {number: (state, value) for number, state, value in rows}
    finally:
        engine.dispose()


@pytest.mark.slow
def test_sigterm_drains_requests_and_keeps_every_acknowledged_tell(serve: StartServer, database_url: str,
                                                                   http: requests.Session) -> None:
    """SIGTERM mid-burst: exit 0 within 30 s, only 2xx or problem+json replies, acknowledged tells stored."""
    server = serve(database_url, workers=2)
    expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=study_body("drain")), 201)
    burst = Burst(server.base_url, "drain")

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(burst.client, index) for index in range(CLIENTS)]
        try:
            assert burst.warm.wait(timeout=120), "the burst never got going"
            server.process.send_signal(signal.SIGTERM)
            burst.sigterm_sent.set()  # after the signal: a reply marked late surely arrived after it
            exit_code = server.process.wait(timeout=30)
        finally:
            burst.stop.set()
        seen = [future.result() for future in futures]

    assert exit_code == 0
    assert [exc for s in seen for exc in s.broken] == []
    replies = [(reply, late) for s in seen for reply, late in s.replies]
    assert [r for r, _ in replies if not (200 <= r.status < 300 or r.is_problem)] == []
    assert any(late for _, late in replies), "no reply came after SIGTERM: in-flight requests were dropped"
    assert not list((server.workdir / "tmp").glob("suggest-metrics-*")), "metrics dir left behind"

    # A drain answers every request it accepted, so the database holds exactly what clients heard:
    # a trial created or finished without its answer reaching the client means a request was cut off.
    stored = stored_trials(database_url, "drain")
    assert sorted(stored) == list(range(len(stored)))
    assert set(stored) == {number for s in seen for number in s.asked}
    told = {number: value for s in seen for number, value in s.told.items()}
    assert len(told) >= WARM_UP_TELLS
    assert {n: stored[n] for n in told} == {n: ("completed", value) for n, value in told.items()}
    assert {n for n, (state, _) in stored.items() if state != "running"} == set(told)
