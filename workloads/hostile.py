"""Hostile clients: many connections that hold a server's resources without ever finishing a request.

    python -m workloads.hostile --url http://127.0.0.1:8000 --slow-headers 200 --slow-bodies 200 \\
        --idle 500 --seconds 20 --out hostile.json

Three kinds, `target` of each kept open at all times (one the server cuts is reopened at once):

- `slow_header`: `POST /v1/studies/<study>/ask HTTP/1.1` and a Host line, then one more header line
  every `interval` seconds, never the blank line that ends the head;
- `slow_body`: a whole head (`Content-Type: application/json`, `Content-Length: body_length`), the
  first bytes of a JSON body, then one more byte every `interval` seconds;
- `idle`: one complete `GET /healthz` kept alive, then silence.

It runs in its own process (`HostileLoad` starts and stops it), so its hundreds of sockets never
compete with the measuring process for the GIL: one selector loop over non-blocking sockets. For
every connection it records how long it was held (slow kinds: from their first byte; idle: from the
end of the /healthz answer) until the server cut it, and the status of any answer it got first (a
408, say). The JSON summary it writes at the end (`summarize`) has per kind the counts, outcomes,
statuses and held-seconds percentiles, and each connection's (held_s, status, outcome).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import urlsplit

from workloads.percentiles import percentile

KINDS = ("slow_header", "slow_body", "idle")
REPO_ROOT = Path(__file__).resolve().parents[1]
CONNECT_TIMEOUT_S = 10.0
HEALTHZ_TIMEOUT_S = 10.0  # an idle connection whose /healthz is not answered by then is given up and reopened
MAX_CONNECTING = 100  # connects in flight at once: a burst of 900 SYNs would overflow the listen backlog
REOPEN_PAUSE_S = 0.05  # after a cut, so a server that refuses at once does not make this loop spin
TICK_S = 0.05
MAX_RECEIVED = 65536  # bytes kept per connection: enough for any status line and head
STOP_TIMEOUT_S = 30.0


@dataclass
class Plan:
    """What to hold, against which server, for how long at most."""

    host: str
    port: int
    targets: dict[str, int]
    seconds: float
    interval: float = 2.0
    study: str = "hostile"
    body_length: int = 1000


@dataclass
class Conn:
    """One hostile connection and what it has seen so far."""

    kind: str
    sock: socket.socket
    opened: float
    state: str = "connecting"  # connecting -> healthz (idle kind only) -> holding
    held_since: float = 0.0
    next_send: float = 0.0
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)
    healthz_status: int | None = None
    done: bool = False


@dataclass
class KindStats:
    """Everything recorded for one kind, turned into JSON by `summarize`."""

    opened: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    #: (held seconds, status of the answer received while holding or None, outcome), per connection that held.
    held: list[tuple[float, int | None, str]] = field(default_factory=list)
    content_types: Counter[str] = field(default_factory=Counter)
    healthz: Counter[str] = field(default_factory=Counter)


def parse_head(data: bytes | bytearray) -> tuple[int | None, dict[str, str], int | None]:
    """(status, lower-cased headers, offset of the body) of an HTTP response; None parts while incomplete."""
    line_end = data.find(b"\r\n")
    if line_end < 0:
        return None, {}, None
    parts = bytes(data[:line_end]).split(b" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() else None
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return status, {}, None
    headers: dict[str, str] = {}
    for raw in bytes(data[line_end + 2:head_end]).split(b"\r\n"):
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, head_end + 4


class Generator:
    """The selector loop that keeps `plan.targets` connections of each kind open until the end."""

    def __init__(self, plan: Plan, ready_file: Path | None = None) -> None:
        self.plan = plan
        self.ready_file = ready_file
        self.selector = selectors.DefaultSelector()
        self.conns: dict[int, Conn] = {}
        self.stats = {kind: KindStats() for kind in KINDS}
        self.reopen_at = dict.fromkeys(KINDS, 0.0)
        self.stopping = False
        self.started = time.monotonic()
        self.ready_after: float | None = None
        self.host_header = f"{plan.host}:{plan.port}"

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        deadline = self.started + self.plan.seconds
        while not self.stopping and time.monotonic() < deadline:
            self._top_up()
            for key, mask in self.selector.select(TICK_S):
                conn = self.conns.get(key.fd)
                if conn is not None:
                    self._on_event(conn, mask)
            self._on_timers()
            self._check_ready()
        for conn in list(self.conns.values()):
            self._finish(conn, "open")
        self.selector.close()
        return self.summary()

    def _top_up(self) -> None:
        now = time.monotonic()
        alive = Counter(conn.kind for conn in self.conns.values())
        connecting = sum(conn.state == "connecting" for conn in self.conns.values())
        for kind in KINDS:
            while (alive[kind] < self.plan.targets.get(kind, 0) and connecting < MAX_CONNECTING
                   and now >= self.reopen_at[kind]):
                self._open(kind, now)
                alive[kind] += 1
                connecting += 1

    def _open(self, kind: str, now: float) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        self.stats[kind].opened += 1
        code = sock.connect_ex((self.plan.host, self.plan.port))
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            self.stats[kind].outcomes["connect_failed"] += 1
            self.reopen_at[kind] = now + REOPEN_PAUSE_S
            return
        conn = Conn(kind, sock, now)
        self.conns[sock.fileno()] = conn
        self.selector.register(sock, selectors.EVENT_WRITE)

    def _on_event(self, conn: Conn, mask: int) -> None:
        if conn.state == "connecting":
            if mask & selectors.EVENT_WRITE:
                error = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    self._finish(conn, "connect_failed")
                    return
                self.selector.modify(conn.sock, selectors.EVENT_READ)
                self._start(conn)
            return
        if mask & selectors.EVENT_READ:
            self._read(conn)

    def _start(self, conn: Conn) -> None:
        """Connected: send the first bytes of this kind's request."""
        now = time.monotonic()
        plan = self.plan
        if conn.kind == "idle":
            conn.state = "healthz"
            self._send(conn, f"GET /healthz HTTP/1.1\r\nHost: {self.host_header}\r\n\r\n".encode())
            return
        if conn.kind == "slow_header":
            first = f"POST /v1/studies/{plan.study}/ask HTTP/1.1\r\nHost: {self.host_header}\r\n"
        else:
            first = (f"POST /v1/studies/{plan.study}/tell HTTP/1.1\r\nHost: {self.host_header}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {plan.body_length}\r\n\r\n"
                     '{"number": 0, "value": ')
        conn.state, conn.held_since, conn.next_send = "holding", now, now + plan.interval
        self._send(conn, first.encode())

    def _send(self, conn: Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            pass  # a few bytes into an empty send buffer never block; if they did, the next trickle goes
        except OSError:
            self._read(conn)  # the server cut us: collect what it answered before the close
            if not conn.done:
                self._finish(conn, "reset")

    def _read(self, conn: Conn) -> None:
        """Take what arrived; on EOF or reset, finish the connection with what it was answered."""
        while True:
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._finish(conn, "reset")
                return
            if not data:
                self._finish(conn, "eof")
                return
            if len(conn.received) < MAX_RECEIVED:
                conn.received += data
            if conn.state == "healthz":
                self._healthz_answered(conn)
                if conn.done:
                    return

    def _healthz_answered(self, conn: Conn) -> None:
        status, headers, body_at = parse_head(conn.received)
        if body_at is None:
            return
        length = int(headers.get("content-length", "0") or 0)
        if len(conn.received) < body_at + length:
            return
        conn.healthz_status = status
        self.stats[conn.kind].healthz[str(status)] += 1
        if headers.get("connection", "").lower() == "close":  # e.g. a 503 at capacity: it never goes idle
            self._finish(conn, "not_kept_alive")
            return
        del conn.received[:body_at + length]
        conn.state, conn.held_since = "holding", time.monotonic()

    def _on_timers(self) -> None:
        now = time.monotonic()
        interval = self.plan.interval
        for conn in list(self.conns.values()):
            if conn.done:
                continue
            if conn.state == "connecting" and now - conn.opened > CONNECT_TIMEOUT_S:
                self._finish(conn, "connect_timeout")
            elif conn.state == "healthz" and now - conn.opened > HEALTHZ_TIMEOUT_S:
                self._finish(conn, "healthz_timeout")
            elif conn.state == "holding" and conn.kind != "idle" and now >= conn.next_send:
                conn.sent += 1
                conn.next_send = now + interval
                self._send(conn, f"X-Hold-{conn.sent}: {conn.sent}\r\n".encode() if conn.kind == "slow_header"
                           else b" ")

    def _check_ready(self) -> None:
        """The first moment every kind holds its whole target: written to `ready_file` for whoever waits."""
        if self.ready_after is not None:
            return
        holding = Counter(conn.kind for conn in self.conns.values() if conn.state == "holding")
        if all(holding[kind] >= count for kind, count in self.plan.targets.items()):
            self.ready_after = time.monotonic() - self.started
            if self.ready_file is not None:
                self.ready_file.touch()

    def _finish(self, conn: Conn, outcome: str) -> None:
        """Record the connection (cut, failed or still open at the end) and close our side."""
        now = time.monotonic()
        stats = self.stats[conn.kind]
        conn.done = True
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        self.conns.pop(conn.sock.fileno(), None)
        conn.sock.close()
        if conn.state == "holding":
            status, headers, _ = parse_head(conn.received)
            stats.held.append((round(now - conn.held_since, 3), status, outcome))
            if status is not None:
                stats.content_types[headers.get("content-type", "").split(";")[0] or "none"] += 1
        elif outcome in ("eof", "reset"):
            outcome = "cut_before_holding"  # e.g. an idle kind's connection closed before its /healthz answer
        stats.outcomes[outcome] += 1
        if outcome != "open":
            self.reopen_at[conn.kind] = now + REOPEN_PAUSE_S

    # -- the summary -------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {"targets": self.plan.targets, "seconds": round(time.monotonic() - self.started, 3),
                "interval_s": self.plan.interval, "ready_after_s": self.ready_after,
                "kinds": {kind: summarize(self.stats[kind]) for kind in KINDS if self.plan.targets.get(kind)}}


def summarize(stats: KindStats) -> dict[str, Any]:
    """One kind's JSON: `cut` connections the server closed while held, `open_at_end` ones it never did."""
    cut = [held for held, _, outcome in stats.held if outcome != "open"]
    still_open = [held for held, _, outcome in stats.held if outcome == "open"]
    statuses = Counter("none" if status is None else str(status) for _, status, outcome in stats.held
                       if outcome != "open")

    def rounded(values: list[float], q: float) -> float | None:
        return round(percentile(values, q), 3) if values else None

    return {
        "opened": stats.opened, "held": len(stats.held), "cut": len(cut), "open_at_end": len(still_open),
        "outcomes": dict(stats.outcomes), "statuses": dict(statuses), "content_types": dict(stats.content_types),
        "healthz": dict(stats.healthz),
        "held_s": {"min": min(cut, default=None), "p50": rounded(cut, 50), "p90": rounded(cut, 90),
                   "p99": rounded(cut, 99), "max": max(cut, default=None)},
        "oldest_open_s": max(still_open, default=None),
        "max_held_s": max(cut + still_open, default=None),
        "connections": [list(entry) for entry in stats.held],
    }


# --- as a subprocess ---------------------------------------------------------------------------


class HostileLoad:
    """`python -m workloads.hostile` as a child process: start it, wait until it holds its targets, stop it
    and read its summary. A context manager, so the process never outlives the caller's block."""

    def __init__(self, url: str, workdir: Path, *, slow_headers: int = 0, slow_bodies: int = 0, idle: int = 0,
                 seconds: float = 600.0, interval: float = 2.0, study: str = "hostile", name: str = "hostile") -> None:
        self.args = [sys.executable, "-m", "workloads.hostile", "--url", url, "--slow-headers", str(slow_headers),
                     "--slow-bodies", str(slow_bodies), "--idle", str(idle), "--seconds", str(seconds),
                     "--interval", str(interval), "--study", study]
        workdir.mkdir(parents=True, exist_ok=True)
        self.out = workdir / f"{name}.json"
        self.ready_file = workdir / f"{name}.ready"
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> HostileLoad:
        for stale in (self.out, self.ready_file):
            stale.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                                         os.environ.get("PYTHONPATH")]))}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([*self.args, "--out", str(self.out), "--ready-file", str(self.ready_file)],
                                            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float) -> bool:
        """True once every kind held its whole target at one moment; False at the deadline (or if it exited)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                return True
            if self.process is None or self.process.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any]:
        """SIGTERM (it writes its summary and exits), SIGKILL if it lingers; the summary it wrote."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if not self.out.exists():
            log = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"the hostile load wrote no summary; its log ends:\n{log}")
        summary: dict[str, Any] = json.loads(self.out.read_text(encoding="utf-8"))
        return summary

    def __enter__(self) -> HostileLoad:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)


# --- the command line --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="the server's base URL (http://host:port)")
    parser.add_argument("--slow-headers", type=int, default=0, help="connections trickling their headers")
    parser.add_argument("--slow-bodies", type=int, default=0, help="connections trickling their JSON body")
    parser.add_argument("--idle", type=int, default=0, help="idle keep-alive connections")
    parser.add_argument("--seconds", type=float, default=20.0, help="run at most this long (SIGTERM ends it sooner)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between trickled header lines / bytes")
    parser.add_argument("--study", default="hostile", help="the study named in the slow requests' paths")
    parser.add_argument("--body-length", type=int, default=1000, help="the slow bodies' Content-Length")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON summary goes")
    parser.add_argument("--ready-file", type=Path, help="created once every kind holds its target")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = urlsplit(args.url)
    targets = {"slow_header": args.slow_headers, "slow_body": args.slow_bodies, "idle": args.idle}
    plan = Plan(url.hostname or "127.0.0.1", url.port or 80, {k: v for k, v in targets.items() if v > 0},
                args.seconds, args.interval, args.study, args.body_length)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sum(targets.values()) + MAX_CONNECTING + 64  # one descriptor per connection, and some to spare
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(hard, wanted),
                                                    hard))
    generator = Generator(plan, args.ready_file)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        generator.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    summary = generator.run()
    temporary = args.out.with_suffix(".tmp")
    temporary.write_text(json.dumps(summary), encoding="utf-8")
    temporary.replace(args.out)
    for kind, figures in summary["kinds"].items():
        print(f"{kind}: opened {figures['opened']}, cut {figures['cut']}, open at end {figures['open_at_end']}, "
              f"statuses {figures['statuses']}, held {figures['held_s']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
