"""Hostile clients: connections that trickle their headers or body, or sit idle, must not starve trainers.

gunicorn's gthread worker gives a connection a thread at its first byte and reads the rest blocking,
so 30 clients that send half a request and wait would hold every thread of a default `serve`. The
service's worker reads each request whole in its event loop, with deadlines: headers within
SUGGEST_REQUEST_HEADER_TIMEOUT of the first byte, the body within SUGGEST_REQUEST_BODY_TIMEOUT after
them (else 408 problem+json and close), idle keep-alive connections closed after
SUGGEST_KEEPALIVE_TIMEOUT, heads and declared bodies over their limits refused (414, 431, 413) before
anything else is read.

On PostgreSQL, 8 trainer processes ask and tell for 20 s beside 200 slow-header and 200 slow-body
connections (`workloads.hostile`, in its own process), then beside 500 idle keep-alive ones: every
trainer request is answered promptly (503 only with Retry-After, retried), nothing is lost or
doubled, and every hostile connection is cut within its deadline plus a slack, with a 408 where it
had sent bytes. Short deadlines (3 s, keep-alive 2 s) make each slot be cut several times per run.
The quick checks below them need one SQLite server and a socket each.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.support import call, expect, study_body
from tests.reliability.support import (
    POOL_ENV,
    Figures,
    Fleet,
    Tally,
    gaps,
    lost,
    server_failures,
    sleep_while,
    stored,
)
from tests.support.servers import Server, StartServer, start_server
from workloads.hostile import HostileLoad, parse_head

CLIENTS = 8
LOAD_S = 20.0
HEADER_TIMEOUT_S = 3
BODY_TIMEOUT_S = 3
KEEPALIVE_S = 2
TRICKLE_S = 1.0  # below the deadlines: only a deadline on the whole head or body cuts these clients
#: How late a cut may come: the worker checks its deadlines about once a second, on two busy cores.
SLACK_S = 2.5
EARLY_S = 0.5  # how early: a cut before its deadline would refuse honest slow networks
#: The slowest trainer request allowed; the stock worker leaves them waiting for the whole run.
LATENCY_LIMIT_S = 5.0
HOSTILE_READY_S = 30.0
FINISH_TIMEOUT_S = 60.0
HOSTILE_ENV = {**POOL_ENV, "SUGGEST_REQUEST_HEADER_TIMEOUT": str(HEADER_TIMEOUT_S),
               "SUGGEST_REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT_S), "SUGGEST_KEEPALIVE_TIMEOUT": str(KEEPALIVE_S)}


# --- trainers beside a hostile load (PostgreSQL) ---------------------------------------------------


@dataclass
class Run:
    """What the trainers saw, what the database holds, what the hostile connections saw."""

    tally: Tally
    rows: list[dict[str, Any]]
    hostile: dict[str, Any]
    ready: bool


def trainers_beside(server: Server, database_url: str, workdir: Path, study: str, *, slow_headers: int = 0,
                    slow_bodies: int = 0, idle: int = 0) -> Run:
    """Hold the hostile connections, then run the trainers for LOAD_S; stop both, the hostile load first."""
    with requests.Session() as http:
        expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=study_body(study)), 201)
    with HostileLoad(server.base_url, workdir / "hostile", slow_headers=slow_headers, slow_bodies=slow_bodies,
                     idle=idle, interval=TRICKLE_S, seconds=LOAD_S + 180, study=study) as load:
        ready = load.wait_ready(HOSTILE_READY_S)
        with Fleet(workdir, study) as fleet:
            fleet.start(CLIENTS, "raw", [server.base_url], study, "--seed", "5")
            fleet.go()
            sleep_while(fleet, LOAD_S)
            fleet.stop()
            summary = load.stop()  # before waiting: a stock worker frees its threads only when these go
            reports = fleet.wait(timeout=FINISH_TIMEOUT_S)
    return Run(Tally(reports), stored(database_url, study), summary, ready)


def hostile_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Per kind, the few numbers worth a line in the figures table."""
    return {kind: {"cut": k["cut"], "open_at_end": k["open_at_end"], "statuses": k["statuses"],
                   "held_p50_s": k["held_s"]["p50"], "max_held_s": k["max_held_s"], "healthz": k["healthz"] or None}
            for kind, k in summary["kinds"].items()}


def deadline_problems(summary: dict[str, Any], kind: str, deadline: float, status: str) -> list[str]:
    """How the hostile connections of `kind` were not cut as they should be (an empty list: they were)."""
    figures = summary["kinds"][kind]
    target = summary["targets"][kind]
    problems = []
    if figures["cut"] < target:
        problems.append(f"{kind}: {figures['cut']} cut in {LOAD_S:g} s, fewer than the {target} held at once")
    if figures["max_held_s"] is None or figures["max_held_s"] > deadline + SLACK_S:
        problems.append(f"{kind}: held up to {figures['max_held_s']} s (oldest still open at the end: "
                        f"{figures['oldest_open_s']} s), over the {deadline:g} s deadline + {SLACK_S:g} s")
    if figures["held_s"]["min"] is not None and figures["held_s"]["min"] < deadline - EARLY_S:
        problems.append(f"{kind}: one was cut after {figures['held_s']['min']} s, before its {deadline:g} s deadline")
    if figures["statuses"] != {status: figures["cut"]}:
        problems.append(f"{kind}: answered {figures['statuses']} before the cut, not {status} every time")
    if status != "none" and figures["content_types"] != {"application/problem+json": figures["cut"]}:
        problems.append(f"{kind}: answers were {figures['content_types']}, not all application/problem+json")
    return problems


def trainer_problems(run: Run, server: Server) -> list[str]:
    """What the trainers were not answered as they should be, and what the database lost or doubled."""
    tally, rows = run.tally, run.rows
    problems = [*tally.client_errors()]
    problems += [f"client {r['client']} exited with {r['returncode']}" for r in tally.reports if r["returncode"]]
    statuses = tally.statuses()
    if not set(statuses) <= {200, 201, 503}:
        problems.append(f"trainers were answered {dict(statuses)}: only 200, 201 and 503 (retried) are right")
    problems += [f"503 without Retry-After or problem+json: {bad}" for r in tally.reports for bad in r["bad_503"]]
    if tally.max_latency() > LATENCY_LIMIT_S:
        slow = sum(1 for start, end, *_ in tally.requests if end - start > LATENCY_LIMIT_S)
        problems.append(f"{slow} trainer requests took over {LATENCY_LIMIT_S:g} s (the slowest "
                        f"{tally.max_latency():.1f} s)")
    if tally.duplicates:
        problems.append(f"{tally.duplicates} trials handed out twice")
    problems += lost(rows, tally)
    if [row["number"] for row in rows] != list(range(len(rows))) or sorted(tally.asked) != [r["number"] for r in rows]:
        problems.append(f"stored trial numbers are not exactly the asked ones, 0..n-1 ({gaps(rows)} off)")
    if len(rows) < CLIENTS * 10:
        problems.append(f"only {len(rows)} trials stored: the trainers barely ran")
    problems += [f"server: {line}" for line in server_failures(server.log_text)]
    return problems


def record(figures: Figures, scenario: str, run: Run) -> None:
    tally = run.tally
    figures.record(scenario, requests=tally.sent, errors=tally.errors(), lost=len(lost(run.rows, tally)),
                   duplicates=tally.duplicates, trials=len(run.rows), load_s=round(tally.span(), 1),
                   max_latency_s=round(tally.max_latency(), 2), hostile_ready=run.ready,
                   hostile_ready_after_s=run.hostile["ready_after_s"], hostile=hostile_figures(run.hostile))


@pytest.mark.postgres
@pytest.mark.slow
def test_slow_headers_and_bodies_are_cut_while_trainers_are_served(
        serve: StartServer, scratch_postgres: Callable[[str], str], tmp_path: Path, figures: Figures) -> None:
    database_url = scratch_postgres("hostile_slow")
    server = serve(database_url, workers=2, env=HOSTILE_ENV)

    run = trainers_beside(server, database_url, tmp_path, "hostile-slow", slow_headers=200, slow_bodies=200)
    record(figures, "hostile slow headers+bodies", run)

    assert run.ready, "the hostile load never held all its connections at once"
    problems = trainer_problems(run, server)
    assert not problems, "\n".join(problems)
    problems = (deadline_problems(run.hostile, "slow_header", HEADER_TIMEOUT_S, "408")
                + deadline_problems(run.hostile, "slow_body", BODY_TIMEOUT_S, "408"))
    assert not problems, "\n".join(problems)


@pytest.mark.postgres
@pytest.mark.slow
def test_idle_keepalive_flood_is_closed_while_trainers_are_served(
        serve: StartServer, scratch_postgres: Callable[[str], str], tmp_path: Path, figures: Figures) -> None:
    database_url = scratch_postgres("hostile_idle")
    server = serve(database_url, workers=2, env=HOSTILE_ENV)

    run = trainers_beside(server, database_url, tmp_path, "hostile-idle", idle=500)
    record(figures, "hostile idle keep-alive", run)

    assert run.ready, "the hostile load never held all its connections at once"
    problems = trainer_problems(run, server)
    assert not problems, "\n".join(problems)
    # Nothing was sent on an idle connection, so nothing is answered: the server just closes it.
    problems = deadline_problems(run.hostile, "idle", KEEPALIVE_S, "none")
    assert not problems, "\n".join(problems)
    assert set(run.hostile["kinds"]["idle"]["healthz"]) <= {"200", "503"}


# --- quick checks, one connection each (SQLite) ----------------------------------------------------

QUICK_HEADER_S = 2
QUICK_BODY_S = 2
QUICK_KEEPALIVE_S = 1
QUICK_ENV = {"SUGGEST_REQUEST_HEADER_TIMEOUT": str(QUICK_HEADER_S), "SUGGEST_REQUEST_BODY_TIMEOUT": str(QUICK_BODY_S),
             "SUGGEST_KEEPALIVE_TIMEOUT": str(QUICK_KEEPALIVE_S)}
#: The documented defaults of the limits, which the quick server keeps.
MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 32768
MAX_HEADERS = 100
MAX_BODY_BYTES = 1024 * 1024
ANSWER_WAIT_S = 10.0
QUICK_TRICKLE_S = 0.5


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server on a SQLite file for every quick check, with short deadlines and default limits."""
    workdir = tmp_path_factory.mktemp("hostile-quick")
    started: list[Server] = []
    try:
        yield start_server(f"sqlite:///{workdir / 'quick.db'}", workdir, started, workers=1, env=QUICK_ENV)
    finally:
        hung = [server.base_url for server in started if not server.stop()]
    assert not hung, f"servers ignored SIGTERM and were killed: {hung}"


@dataclass
class Seen:
    """Everything one connection received, and when (seconds after it was opened) the server closed it."""

    data: bytes
    closed_after: float | None

    def answer(self) -> tuple[int | None, str, Any]:
        """(status, media type, parsed JSON body or None) of the first response received."""
        status, headers, body_at = parse_head(self.data)
        content_type = headers.get("content-type", "").split(";")[0].strip()
        body: Any = None
        if body_at is not None and content_type.endswith("json"):
            try:
                body = json.loads(self.data[body_at:body_at + int(headers.get("content-length", "0"))])
            except ValueError:
                body = self.data[body_at:body_at + 200]
        return status, content_type, body


def open_connection(server: Server) -> socket.socket:
    address = urlsplit(server.base_url)
    return socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), timeout=5.0)


def receive(sock: socket.socket, opened: float, wait: float, *, until_answer: bool = False,
            trickle: Callable[[int], bytes] | None = None) -> Seen:
    """Read until the server closes, `wait` seconds after `opened` pass, or (`until_answer`) one whole
    response is in; `trickle(n)` is sent every QUICK_TRICKLE_S meanwhile, until something arrives."""
    data = bytearray()
    deadline = opened + wait
    sent, next_send = 0, time.monotonic() + QUICK_TRICKLE_S
    while True:
        now = time.monotonic()
        if now >= deadline:
            return Seen(bytes(data), None)
        trickling = trickle is not None and not data
        wake = min(deadline, next_send) if trickling else deadline
        readable, _, _ = select.select([sock], [], [], max(0.0, wake - now))
        if readable:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return Seen(bytes(data), time.monotonic() - opened)
            data += chunk
            _, headers, body_at = parse_head(data)
            if until_answer and body_at is not None and len(data) >= body_at + int(headers.get("content-length", 0)):
                return Seen(bytes(data), None)
        elif trickle is not None and trickling and time.monotonic() >= next_send:
            sent += 1
            next_send = time.monotonic() + QUICK_TRICKLE_S
            try:
                sock.sendall(trickle(sent))
            except (BrokenPipeError, ConnectionResetError):
                pass  # cut off: what it answered is still to be read


def exchange(server: Server, request: bytes, wait: float = ANSWER_WAIT_S) -> Seen:
    """Send `request` at once and read until the server closes (or `wait` passes)."""
    with open_connection(server) as sock:
        opened = time.monotonic()
        sock.sendall(request)
        return receive(sock, opened, wait)


def head(target: str, headers: list[tuple[str, str]] | None = None, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *(f"{n}: {v}" for n, v in headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_refused(seen: Seen, status: int) -> None:
    """A problem+json answer with `status`, then the connection closed by the server."""
    got, content_type, body = seen.answer()
    assert (got, content_type) == (status, "application/problem+json"), (got, content_type, seen.data[:300])
    assert isinstance(body, dict) and body.get("status") == status and body.get("detail"), body
    assert seen.closed_after is not None, "the server kept the connection open after refusing the request"


@pytest.mark.slow
def test_a_silent_connection_is_closed_after_the_header_timeout(quick_server: Server) -> None:
    with open_connection(quick_server) as sock:
        seen = receive(sock, time.monotonic(), QUICK_HEADER_S + SLACK_S + 1)
    assert seen.closed_after is not None, f"still open after {QUICK_HEADER_S + SLACK_S + 1:g} s"
    assert seen.data == b"", "a connection that sent nothing is closed, not answered"
    assert QUICK_HEADER_S - EARLY_S <= seen.closed_after <= QUICK_HEADER_S + SLACK_S, seen.closed_after


@pytest.mark.slow
def test_an_idle_keepalive_connection_is_closed_after_the_keepalive_timeout(quick_server: Server) -> None:
    with open_connection(quick_server) as sock:
        sock.sendall(head("/healthz"))
        first = receive(sock, time.monotonic(), ANSWER_WAIT_S, until_answer=True)
        assert first.answer()[0] == 200 and first.closed_after is None, first
        idle_from = time.monotonic()
        seen = receive(sock, idle_from, QUICK_KEEPALIVE_S + SLACK_S + 1)
    assert seen.closed_after is not None, f"still open after {QUICK_KEEPALIVE_S + SLACK_S + 1:g} s idle"
    assert seen.data == b""
    assert QUICK_KEEPALIVE_S - EARLY_S <= seen.closed_after <= QUICK_KEEPALIVE_S + SLACK_S, seen.closed_after


@pytest.mark.slow
def test_headers_that_trickle_past_the_header_timeout_get_408(quick_server: Server) -> None:
    with open_connection(quick_server) as sock:
        opened = time.monotonic()
        sock.sendall(b"POST /v1/studies/quick/ask HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        seen = receive(sock, opened, QUICK_HEADER_S + SLACK_S + 1, trickle=lambda n: f"X-Slow-{n}: {n}\r\n".encode())
    assert_refused(seen, 408)
    assert seen.closed_after is not None and QUICK_HEADER_S - EARLY_S <= seen.closed_after <= QUICK_HEADER_S + SLACK_S


@pytest.mark.slow
def test_a_body_that_trickles_past_the_body_timeout_gets_408(quick_server: Server) -> None:
    with open_connection(quick_server) as sock:
        opened = time.monotonic()
        sock.sendall(head("/v1/studies/quick/tell", [("Content-Type", "application/json"), ("Content-Length", "1000")],
                          "POST") + b'{"number": 0, ')
        seen = receive(sock, opened, QUICK_BODY_S + SLACK_S + 1, trickle=lambda n: b" ")
    assert_refused(seen, 408)
    assert seen.closed_after is not None and QUICK_BODY_S - EARLY_S <= seen.closed_after <= QUICK_BODY_S + SLACK_S


@pytest.mark.slow
@pytest.mark.parametrize("headers", [
    pytest.param([("X-Big", "a" * (MAX_HEADER_BYTES + 1000))], id="header-too-large"),
    pytest.param([(f"X-Many-{n}", "1") for n in range(MAX_HEADERS + 20)], id="too-many-headers"),
])
def test_a_head_over_its_limits_gets_431(quick_server: Server, headers: list[tuple[str, str]]) -> None:
    assert_refused(exchange(quick_server, head("/healthz", headers)), 431)


@pytest.mark.slow
def test_a_head_within_its_limits_is_served(quick_server: Server) -> None:
    """The limits are the documented ones, not gunicorn's stricter own (8190 bytes a field)."""
    headers = [("X-Big", "a" * 20_000), *((f"X-Many-{n}", "1") for n in range(MAX_HEADERS - 10))]
    seen = exchange(quick_server, head("/healthz", [*headers, ("Connection", "close")]))
    assert seen.answer()[0] == 200, seen.data[:300]


@pytest.mark.slow
def test_a_url_over_its_limit_gets_414_and_one_within_is_served(quick_server: Server) -> None:
    assert_refused(exchange(quick_server, head("/healthz?pad=" + "a" * MAX_URL_BYTES)), 414)
    seen = exchange(quick_server, head("/healthz?pad=" + "a" * 6000, [("Connection", "close")]))
    assert seen.answer()[0] == 200, seen.data[:300]


@pytest.mark.slow
def test_a_declared_body_over_the_limit_gets_413_before_it_is_sent(quick_server: Server) -> None:
    request = head("/v1/studies", [("Content-Type", "application/json"),
                                   ("Content-Length", str(MAX_BODY_BYTES + 1))], "POST")
    seen = exchange(quick_server, request, wait=QUICK_BODY_S + SLACK_S)  # the body never comes: no 408 wait
    assert_refused(seen, 413)
    assert seen.closed_after is not None and seen.closed_after < QUICK_BODY_S, seen.closed_after
