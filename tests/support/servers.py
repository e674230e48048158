"""A real `suggest-api serve` process (gunicorn) on a free loopback port, for any test that needs one.

Start servers through the `serve` fixture (tests/conftest.py): it stops every server it started
when the test ends, and fails the test if one ignored SIGTERM and had to be killed. Everything here
talks to real processes over real sockets, so a helper that waits always has a deadline, and every
response, file and process it opens is closed again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

#: The console script installed beside this interpreter (the virtualenv's `bin/`).
SUGGEST_API = str(Path(sys.executable).with_name("suggest-api"))
READY_TIMEOUT_S = 90.0  # generous: two cores, several workers importing numpy/scipy at once
STOP_TIMEOUT_S = 45.0  # above gunicorn's graceful_timeout (30 s), after which it kills workers itself
HTTP_TIMEOUT_S = 60.0  # above SQLite's 30 s busy timeout, so a queued writer is not cut off by us


def free_port() -> int:
    """A port the kernel just handed out; gunicorn binds it a moment later (retried on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_environment(workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without SUGGEST_* settings, with TMPDIR and XDG_RUNTIME_DIR inside `workdir`.

    So the prometheus multiprocess directory that `serve` creates lands where a test can look, and
    servers of parallel runs never share scratch files.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUGGEST_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    scratch = workdir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    env.update(TMPDIR=str(scratch), XDG_RUNTIME_DIR=str(scratch), PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


@dataclass
class Server:
    """A running `suggest-api serve` (the gunicorn master) and where its logs go."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    workdir: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_text(self) -> str:
        """Everything the server (master and workers) has logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self) -> list[str]:
        return self.log_text.splitlines()

    def metrics_dir(self) -> Path:
        """The PROMETHEUS_MULTIPROC_DIR that this server's `serve` created under its TMPDIR."""
        found = list((self.workdir / "tmp").glob("suggest-metrics-*"))
        assert len(found) == 1, found
        return found[0]

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM the master (graceful drain); False if it had to be SIGKILLed, workers included.

        Not SIGINT: gunicorn's quick shutdown can deadlock a gthread worker that is handing a
        connection to its thread pool at that moment, leaving an orphan that holds the port.
        """
        if self.process.poll() is not None:
            return True
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            workers = children(self.pid)
            self.process.kill()
            self.process.wait(timeout)
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return False


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc), e.g. a gunicorn master's workers."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


class StartServer(Protocol):
    """The `serve` fixture: start a server on a database, get it back once it is ready."""

    def __call__(self, database_url: str, *, workers: int = 2, port_in_env: bool = False,
                 threads: int | None = None, env: Mapping[str, str] | None = None) -> Server: ...


class ServerFailed(RuntimeError):
    """The server exited, or did not become ready in time; carries its log for the report."""


def start_server(database_url: str, workdir: Path, started: list[Server], *, workers: int = 2,
                 port_in_env: bool = False, attempts: int = 3, threads: int | None = None,
                 env: Mapping[str, str] | None = None) -> Server:
    """`suggest-api serve` on a free loopback port, returned once GET /readyz answers 200.

    `port_in_env` gives the port as SUGGEST_PORT instead of `--port`. `threads` sets `--threads`
    (the service's default when None); `env` adds settings (e.g. `SUGGEST_POOL_SIZE`) to the
    server's environment. A port taken by someone else between our probe and gunicorn's bind is
    retried with another port. Each process is appended to `started` as soon as it exists, so the
    caller can stop it whatever happens next.
    """
    for attempt in range(attempts):
        port = free_port()
        args = [SUGGEST_API, "serve", "--host", "127.0.0.1", "--workers", str(workers),
                "--database-url", database_url]
        if threads is not None:
            args += ["--threads", str(threads)]
        extra = {**(env or {}), **({"SUGGEST_PORT": str(port)} if port_in_env else {})}
        if not port_in_env:
            args += ["--port", str(port)]
        log_path = workdir / f"server-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(args, cwd=workdir, env=server_environment(workdir, extra),
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        server = Server(process, f"http://127.0.0.1:{port}", log_path, workdir)
        started.append(server)
        try:
            wait_ready(server)
            return server
        except ServerFailed as failure:
            server.stop()
            if "Address already in use" in str(failure) and attempt + 1 < attempts:
                continue
            raise
    raise AssertionError("unreachable")


def wait_ready(server: Server, timeout: float = READY_TIMEOUT_S) -> None:
    """Poll /readyz, once gunicorn says it bound the port: the answer must come from our process."""
    deadline = time.monotonic() + timeout
    bound = f"Listening at: {server.base_url} "
    with requests.Session() as session:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerFailed(f"server exited with {server.process.returncode}:\n" + _tail(server))
            try:
                if (any(bound in line for line in server.log_lines())
                        and _status(session, server.base_url + "/readyz") == 200):
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
    raise ServerFailed(f"server not ready after {timeout} s:\n" + _tail(server))


def _status(session: requests.Session, url: str) -> int:
    """The status of a GET, its body read to the end and the response closed."""
    with session.get(url, timeout=HTTP_TIMEOUT_S) as response:
        response.content  # noqa: B018 - drain the body so the keep-alive connection is reusable
        status: int = response.status_code
        return status


def _tail(server: Server, lines: int = 40) -> str:
    return "\n".join(server.log_lines()[-lines:])


def run_cli(args: Iterable[str], workdir: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SUGGEST_API, *args], cwd=workdir, env=server_environment(workdir),
                          capture_output=True, text=True, timeout=timeout, check=False)
