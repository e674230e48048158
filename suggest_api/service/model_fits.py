"""Costly suggestions (Bayesian model fits) in helper processes, at most `slots` at once per worker process.

Why: a Gaussian-process fit holds the GIL for hundreds of milliseconds, and BLAS spins extra threads. In a
gunicorn gthread worker that starves the threads serving cheap requests (each GIL hand-off waits up to the
5 ms switch interval, many times per request). A fit in another process, niced and with one BLAS thread,
leaves this process's GIL and the machine's other cores to them.

Helper processes are spawned (not forked: a fork of a threaded worker may copy held locks), which costs
about a second of imports, so they start on first use and are kept for reuse in a pool shared by every
`ModelFits` of the process; there are never more helpers than fits that ran at once. A helper exits on
its own within a second once its parent is gone, so a SIGKILLed worker leaves no orphans.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from suggest_api.domain import PluginRef
from suggest_api.errors import ModelBusy, SuggestError, Unavailable
from suggest_api.suggesters.base import SuggestRequest

log = logging.getLogger("suggest_api.service.model_fits")

#: Past `budget_s * HARD_LIMIT_FACTOR + HARD_LIMIT_EXTRA_S` the parent stops waiting and kills the helper: the
#: suggester honours its deadline cooperatively, so only a bug or a starved machine gets there.
HARD_LIMIT_FACTOR = 2.0
HARD_LIMIT_EXTRA_S = 5.0
#: Seconds a new helper may take to import and say it is ready (about 1 s on an idle machine).
START_TIMEOUT_S = 60.0
#: Seconds `close` and exit wait for an idle helper to stop before killing it.
STOP_TIMEOUT_S = 1.0
#: How often a helper checks that its parent is alive; it exits within about this long of the parent's death.
PARENT_CHECK_S = 0.25
#: Added to a helper's niceness: the worker's own threads (cheap requests) win the CPU over a fit.
HELPER_NICENESS = 10


class ModelFitFailed(RuntimeError):
    """A bug in the suggester (not a SuggestError) raised in the helper; the traceback is logged there."""


class ModelFits:
    """At most `slots` costly suggestions at once in this process, each in a helper process."""

    def __init__(self, slots: int, budget_s: float, *, hard_limit_s: float | None = None) -> None:
        """`budget_s`: the suggester's deadline; `hard_limit_s` (default budget * 2 + 5): when the helper
        is killed and the ask answers 503."""
        if slots < 1:
            raise ValueError(f"slots must be 1 or more, not {slots!r}")
        if not budget_s > 0:
            raise ValueError(f"budget_s must be positive, not {budget_s!r}")
        self.slots = slots
        self.budget_s = budget_s
        if hard_limit_s is None:
            hard_limit_s = budget_s * HARD_LIMIT_FACTOR + HARD_LIMIT_EXTRA_S
        self.hard_limit_s = hard_limit_s
        self._free = threading.BoundedSemaphore(slots)

    @contextmanager
    def reserve(self) -> Iterator[Fitter]:
        """Take a slot without waiting; raise errors.ModelBusy (503, Retry-After) when all are in use.

        Callers reserve BEFORE opening a database transaction, so a busy worker refuses fast (and holds
        no lock or connection while it waits for nothing).
        """
        if not self._free.acquire(blocking=False):
            raise ModelBusy(f"this worker already runs {self.slots} model fit(s), its limit; retry shortly "
                            f"(another worker may take it)")
        fitter = Fitter(self.budget_s, self.hard_limit_s)
        try:
            yield fitter
        finally:
            fitter._closed = True
            self._free.release()

    def close(self) -> None:
        """Stop this process's idle helpers (shared by every ModelFits here); a later fit starts a new one."""
        stop_idle_helpers()


class Fitter:
    """A reserved slot: runs suggestions in a helper process. One thread at a time uses it."""

    def __init__(self, budget_s: float, hard_limit_s: float) -> None:
        self.budget_s = budget_s
        self.hard_limit_s = hard_limit_s
        self._closed = False

    def suggest(self, suggester: PluginRef, request: SuggestRequest) -> list[dict[str, Any]]:
        """Run suggesters.build(suggester).suggest(request with deadline) in a helper process.

        A SuggestError raised there is raised here as the same type; any other exception there raises
        ModelFitFailed (a bug: a 500); a helper that died or overran its hard limit raises Unavailable.
        """
        result: list[dict[str, Any]] = self._call(("suggest", suggester, request, self.budget_s), self.hard_limit_s)
        return result

    def describe(self) -> dict[str, Any]:
        """What a helper runs with: pid, niceness, BLAS/OpenMP thread pools (for operators and tests)."""
        info: dict[str, Any] = self._call(("describe",), START_TIMEOUT_S)
        return info

    def _call(self, message: tuple[Any, ...], limit_s: float) -> Any:
        if self._closed:
            raise RuntimeError("this Fitter's reservation has ended; reserve again")
        helper = _take_helper()
        done = False
        try:
            reply = helper.exchange(message, limit_s)
            done = True
        finally:
            # A helper whose exchange did not complete (overrun, death, an interrupt here) may still be
            # working or half-written: never reuse it.
            if done:
                _return_helper(helper)
            else:
                helper.kill()
        kind, value = reply
        if kind == "ok":
            return value
        if kind == "error":
            raise value
        raise ModelFitFailed(f"the model fit failed in helper process {helper.pid}: {value} "
                             f"(its traceback is in that process's log)")


# --- the parent's side: helper handles and the per-process pool --------------------------------------


class _Helper:
    """One helper process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid = process.pid

    @classmethod
    def start(cls) -> _Helper:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        root = logging.getLogger("suggest_api")
        level = logging.getLevelName(root.getEffectiveLevel()) if root.handlers else None
        process = context.Process(target=_serve, args=(theirs, os.getpid(), level),
                                  name="suggest-api-model-fit", daemon=True)
        began = time.monotonic()
        process.start()
        theirs.close()
        helper = cls(process, ours)
        with _lock:
            _live.add(helper)
        try:
            if not ours.poll(START_TIMEOUT_S):
                raise Unavailable(f"a model-fit helper process did not start within {START_TIMEOUT_S:g} s; "
                                  f"retry shortly")
            kind, info = ours.recv()
            if kind != "ready":
                raise RuntimeError(f"a model-fit helper process said {kind!r} instead of 'ready'")
        except (EOFError, OSError) as exc:
            process.join(STOP_TIMEOUT_S)
            error = Unavailable(f"a model-fit helper process exited while starting (exit code "
                                f"{process.exitcode}); retry shortly")
            helper.kill()
            raise error from exc
        except BaseException:
            helper.kill()
            raise
        # One line per helper, so an operator sees its niceness and BLAS threads (and what a start costs).
        log.info("model-fit helper started", extra={"helper": info, "start_s": round(time.monotonic() - began, 3)})
        return helper

    def alive(self) -> bool:
        return self.process.is_alive()

    def exchange(self, message: tuple[Any, ...], limit_s: float) -> tuple[str, Any]:
        """Send one message and wait at most `limit_s` for its reply; Unavailable past that or if it died."""
        try:
            self.conn.send(message)
            if not self.conn.poll(limit_s):
                raise Unavailable(f"the model fit did not finish within {limit_s:g} s, so its helper process was "
                                  f"stopped; retry (on a busy server, later)")
            reply: tuple[str, Any] = self.conn.recv()
        except (EOFError, OSError) as exc:  # BrokenPipeError and ConnectionResetError are OSErrors
            self.process.join(STOP_TIMEOUT_S)
            raise Unavailable(f"the model-fit helper process exited unexpectedly (exit code "
                              f"{self.process.exitcode}); retry shortly") from exc
        return reply

    def ask_to_stop(self) -> None:
        """Send an idle helper the sentinel: it exits after reading it."""
        try:
            self.conn.send(None)
        except OSError:
            pass

    def stop(self) -> None:
        """Wait up to STOP_TIMEOUT_S for a helper asked to stop to exit, then kill it."""
        self.process.join(STOP_TIMEOUT_S)
        self.kill()

    def kill(self) -> None:
        """SIGKILL (when still running), reap, release the pipe; the helper is never used again."""
        with _lock:
            _live.discard(self)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(STOP_TIMEOUT_S)
        self.conn.close()
        if self.process.exitcode is not None:
            self.process.close()


_lock = threading.Lock()
#: Helpers waiting for work, most recently used last.
_idle: list[_Helper] = []
#: Every helper this process started and has not stopped, idle or busy.
_live: set[_Helper] = set()


def _take_helper() -> _Helper:
    """An idle helper, or a new one: so helpers never outnumber the fits running at once."""
    while True:
        with _lock:
            helper = _idle.pop() if _idle else None
        if helper is None:
            return _Helper.start()
        if helper.alive():
            return helper
        helper.kill()


def _return_helper(helper: _Helper) -> None:
    with _lock:
        _idle.append(helper)


def stop_idle_helpers() -> None:
    """Stop every idle helper of this process (at exit, and from ModelFits.close)."""
    with _lock:
        idle = list(_idle)
        _idle.clear()
    for helper in idle:  # all at once, so they exit side by side
        helper.ask_to_stop()
    for helper in idle:
        helper.stop()


def _forget_after_fork() -> None:
    """In a forked child (a gunicorn worker forked from a master that ran a fit), the helpers are the
    parent's: forget them, or this process would send them work, or stop them at its exit."""
    global _lock, _idle, _live
    # multiprocessing's own exit handler would terminate (or join, failing) the parent's helpers from
    # here: it keeps them in a private set that it does not clear on os.fork.
    children = getattr(multiprocessing.process, "_children", None)
    if isinstance(children, set):
        for helper in _live:
            children.discard(helper.process)
    _lock = threading.Lock()
    _idle = []
    _live = set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(stop_idle_helpers)


# --- the helper's side ---------------------------------------------------------------------------------


def _serve(conn: Connection, parent_pid: int, log_level: str | None) -> None:
    """A helper process's main: set up (nice, one BLAS thread, parent watch), say ready, then serve
    messages until the sentinel None or the parent's end of the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent decides
    if hasattr(os, "nice"):
        os.nice(HELPER_NICENESS)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    if log_level is not None:  # the parent's JSON log lines, for the tracebacks of failed fits
        from suggest_api.logs import configure

        configure(log_level)
    # Import the suggesters (numpy, scipy) before limiting: threadpoolctl sees only loaded libraries.
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    from suggest_api.suggesters.registry import suggesters

    threadpool_limits(limits=1)
    conn.send(("ready", _describe()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        reply: tuple[str, Any]
        if message[0] == "describe":
            reply = ("ok", _describe())
        else:
            _, ref, request, budget_s = message
            try:
                request = dataclasses.replace(request, deadline=time.monotonic() + budget_s)
                reply = ("ok", suggesters.build(ref).suggest(request))
            except SuggestError as exc:
                reply = ("error", exc)
            except Exception as exc:
                log.exception("model fit failed", extra={"suggester": ref.name})
                reply = ("failed", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # the reply did not pickle: a bug, but this helper stays usable
            log.exception("model-fit reply did not pickle")
            conn.send(("failed", f"the reply did not pickle: {type(exc).__name__}: {exc}"))


def _watch_parent(parent_pid: int) -> None:
    """Exit once the parent is gone (reparented): a busy helper never reads the pipe's end-of-file."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _describe() -> dict[str, Any]:
    from threadpoolctl import threadpool_info

    return {
        "pid": os.getpid(),
        "nice": os.nice(0) if hasattr(os, "nice") else None,
        "threadpools": [{"api": pool["internal_api"], "library": os.path.basename(pool["filepath"]),
                         "threads": pool["num_threads"]} for pool in threadpool_info()],
    }
