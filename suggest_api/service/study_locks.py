"""Per-study locks for costly asks on SQLite, whose only database lock is one for the whole file.

A Bayesian ask computes for up to seconds. Inside a write transaction that would stop every write of
every study for that long, so on SQLite such an ask computes outside it: under this study's lock it
reads the study, fits the model, then writes in a short transaction. The lock keeps two asks of one
study from fitting on the same snapshot (and suggesting the same point).

Across the worker processes it is a POSIX record lock on byte `study id` of one file beside the
database; within a process, a thread lock per study (record locks belong to the process, so two of
its threads would both get one). The kernel drops a killed process's record locks.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from suggest_api.errors import Unavailable

POLL_S = 0.005


class StudyLocks:
    def __init__(self, lock_file: str | None, timeout_s: float) -> None:
        """`lock_file` None (an in-memory database, one process): thread locks only."""
        self.lock_file = lock_file
        self.timeout_s = timeout_s
        self._guard = threading.Lock()
        self._threads: dict[int, threading.Lock] = {}
        self._fd: int | None = None
        self._pid = os.getpid()

    @contextmanager
    def hold(self, study_id: int) -> Iterator[None]:
        """Hold the study's lock, or answer 503 after `timeout_s` (the database's lock timeout)."""
        deadline = time.monotonic() + self.timeout_s
        thread_lock = self._thread_lock(study_id)
        if not thread_lock.acquire(timeout=self.timeout_s):
            raise self._busy()
        try:
            fd = self._file()
            if fd is not None:
                self._lock_range(fd, study_id, deadline)
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.lockf(fd, fcntl.LOCK_UN, 1, study_id)
        finally:
            thread_lock.release()

    def _thread_lock(self, study_id: int) -> threading.Lock:
        with self._guard:
            return self._threads.setdefault(study_id, threading.Lock())

    def _file(self) -> int | None:
        if self.lock_file is None:
            return None
        with self._guard:
            if self._fd is None or self._pid != os.getpid():  # a descriptor inherited across fork holds no locks
                self._fd, self._pid = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            return self._fd

    def _lock_range(self, fd: int, study_id: int, deadline: float) -> None:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, study_id)
                return
            except OSError:
                if time.monotonic() >= deadline:
                    raise self._busy() from None
                time.sleep(POLL_S)

    def _busy(self) -> Unavailable:
        return Unavailable(f"another ask of this study has been computing for over {self.timeout_s:g} s; retry shortly")
