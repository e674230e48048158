"""A real `suggest-api serve` process (gunicorn) on a free loopback port, for tests that need one."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

READY_TIMEOUT_S = 90.0  # two cores, several workers importing numpy at once
STOP_TIMEOUT_S = 45.0  # above gunicorn's 30 s graceful timeout, after which it kills its workers


@dataclass(frozen=True)
class Server:
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def suggest_api_command() -> list[str]:
    """The installed `suggest-api` script of the interpreter running the tests."""
    script = Path(sys.executable).with_name("suggest-api")
    if not script.exists():
        pytest.fail(f"{script} is missing: install the project (pip install -e .) into this environment")
    return [str(script)]


@contextlib.contextmanager
def running_server(database_url: str, workdir: Path, *, workers: int = 2) -> Iterator[Server]:
    """Start `suggest-api serve`, wait for /readyz to answer 200, and always stop it afterwards.

    The server runs in `workdir` with no SUGGEST_* variables of the caller; its scratch files (the
    Prometheus multiprocess directory via TMPDIR, gunicorn's control socket via XDG_RUNTIME_DIR) go
    there too, so servers of parallel runs never share them and nothing is left behind.
    """
    port = free_port()
    server = Server(f"http://127.0.0.1:{port}", workdir / "server.log")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SUGGEST_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(TMPDIR=str(workdir), XDG_RUNTIME_DIR=str(workdir))
    command = [*suggest_api_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--database-url", database_url]
    with open(server.log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            _wait_until_ready(process, server)
            yield server
        finally:
            _stop(process)


def _wait_until_ready(process: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"suggest-api serve exited with {process.returncode} before it was ready:\n"
                        f"{server.log()[-4000:]}")
        try:
            with urllib.request.urlopen(server.base_url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:  # 503 while the database is not ready yet
            exc.close()
        except (urllib.error.URLError, OSError):  # not listening yet
            pass
        time.sleep(0.2)
    pytest.fail(f"suggest-api serve was not ready within {READY_TIMEOUT_S:g} s:\n{server.log()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn's graceful stop); SIGKILL the master and its workers if that hangs."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        workers = _children(process.pid)
        process.kill()
        process.wait()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc): a gunicorn master's workers."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found
