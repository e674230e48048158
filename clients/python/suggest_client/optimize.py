"""`Study.optimize`: the ask → train → tell loop on several workers, stopping cleanly on Ctrl-C.

Threads suit objectives that release the GIL while they work (PyTorch, NumPy, a subprocess, a
remote job); processes suit pure-Python objectives. Either way the service hands out the trials,
so workers need no coordination beyond a shared count of trials left to start.

This module sees a study only through the Protocols below (a worker process opens its own through a
`StudyOpener`), so it imports neither `study.py` (which imports it) nor `client.py`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import numbers
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, Union

from suggest_client.errors import GridExhausted, SpaceMismatch, SuggestError
from suggest_client.trial import StudyLike, Trial, TrialContext

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

log = logging.getLogger("suggest_client")

#: What an objective answers: a number, or every metric by name for a study told `values`
#: (several objectives, or constraints).
Result = Union[float, Mapping[str, float]]
Objective = Callable[[Trial], Result]
INTERRUPTED = "interrupted (Ctrl-C) before it finished"
CHILD_EXIT_WAIT_S = 30.0
INTERRUPT_GRACE_S = 10.0


class OptimizableStudy(StudyLike, Protocol):
    """What the loop needs of a study beyond what its trials need: the trials it finished, at the end."""

    def trials(self, state: str | None = None) -> list[Trial]: ...


class StudyOpener(Protocol):
    """Picklable, and opens the same study again: how a worker process gets a study of its own."""

    def open(self) -> OptimizableStudy: ...


class _Interrupted(Exception):
    """Raised in a worker whose trial started just after the loop was told to stop."""


@dataclass
class _Shared:
    """What the workers of one optimize call share (threads: directly; processes: via the parent)."""

    budget: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: dict[int, Trial] = field(default_factory=dict)
    finished: list[Trial] = field(default_factory=list)
    failure: BaseException | None = None

    def take(self) -> bool:
        """Claim one trial of the budget; False when none is left or the loop is stopping."""
        with self.lock:
            if self.stop.is_set() or self.budget <= 0:
                return False
            self.budget -= 1
            return True

    def started(self, trial: Trial) -> None:
        trial.interrupted = self.stop
        with self.lock:
            self.running[trial.number] = trial

    def ended(self, trial: Trial) -> None:
        with self.lock:
            self.running.pop(trial.number, None)
            self.finished.append(trial)


def optimize(study: OptimizableStudy, objective: Objective, n_trials: int, n_workers: int = 1, *,
             processes: bool = False, catch: tuple[type[BaseException], ...] = (Exception,),
             client_id: str | None = None, reopen: StudyOpener | None = None) -> list[Trial]:
    """See `Study.optimize`; `reopen` (needed with `processes=True`) opens `study` in each worker process."""
    if n_trials < 0:
        raise ValueError("n_trials must be 0 or more")
    if n_workers < 1:
        raise ValueError("n_workers must be 1 or more")
    if processes:
        if reopen is None:
            raise ValueError("processes=True needs `reopen`, to open the study in each worker process")
        return _in_processes(study, reopen, objective, n_trials, n_workers, catch, client_id)
    shared = _Shared(budget=n_trials)
    if n_workers == 1:
        _work(study, objective, shared, catch, client_id)  # Ctrl-C lands in the objective itself
    else:
        _in_threads(study, objective, shared, n_workers, catch, client_id)
    if shared.failure is not None:
        raise shared.failure
    return sorted(shared.finished, key=lambda t: t.number)


def _work(study: StudyLike, objective: Objective, shared: _Shared, catch: tuple[type[BaseException], ...],
          client_id: str | None) -> None:
    """One worker: take a trial from the budget, run it, repeat; record a fatal error and stop all."""
    try:
        while shared.take():
            context = TrialContext(study, client_id, on_start=shared.started)
            try:
                with context as trial:
                    if shared.stop.is_set():
                        raise _Interrupted(INTERRUPTED)
                    result = checked_result(trial, objective(trial))
                    if isinstance(result, dict):
                        trial.values = result
                    else:
                        trial.value = result
            except GridExhausted:
                if context.trial is not None:
                    raise
                log.info("%s: the grid is used up; the loop ends", study.name)
                shared.stop.set()
            except _Interrupted:
                # Started after the loop failed the running trials (its ask was still out, e.g. waiting
                # out a 503): nobody else will tell it, and telling it twice is harmless.
                _fail_all(study, [context.trial] if context.trial is not None else [])
            except BaseException as error:
                if context.trial is None or not isinstance(error, catch) or isinstance(error, SpaceMismatch):
                    # The ask failed, the objective raised what the caller did not allow, or its suggest_*
                    # calls disagree with the study's space: every later trial would fail the same way.
                    raise
                if not context.trial.stopping:  # an interrupted trial's error is the interruption
                    log.warning("trial %s of %s failed: %s: %s", context.trial.number, study.name,
                                type(error).__name__, error)
            finally:
                if context.trial is not None:
                    shared.ended(context.trial)
    except BaseException as error:
        shared.stop.set()
        with shared.lock:
            if shared.failure is None and not isinstance(error, KeyboardInterrupt):
                shared.failure = error
        if isinstance(error, KeyboardInterrupt) or threading.current_thread() is threading.main_thread():
            raise
    finally:
        study.transport.close_thread()


def _in_threads(study: StudyLike, objective: Objective, shared: _Shared, n_workers: int,
                catch: tuple[type[BaseException], ...], client_id: str | None) -> None:
    # Each worker says it is done with an Event, not Thread.join: on Python 3.11 and 3.12, a Ctrl-C that
    # interrupts join() marks the joined thread as stopped while it still runs, and the grace period
    # below would then not wait for it (a trial whose ask was still out would be left running).
    done = [threading.Event() for _ in range(n_workers)]

    def work(finished: threading.Event) -> None:
        try:
            _work(study, objective, shared, catch, client_id)
        finally:
            finished.set()

    for i, finished in enumerate(done):
        threading.Thread(target=work, args=(finished,), daemon=True, name=f"suggest-worker-{i}").start()
    try:
        for finished in done:
            while not finished.wait(0.2):  # a bounded wait, so Ctrl-C reaches this thread promptly
                pass
    except KeyboardInterrupt:
        shared.stop.set()
        with shared.lock:
            running = list(shared.running.values())
        _fail_all(study, running)
        # Give objectives a moment to notice (`trial.stopping`, `report` answering True): a process
        # that exits while a thread is inside a C++ library (PyTorch) can abort instead of exiting.
        deadline = time.monotonic() + INTERRUPT_GRACE_S
        for finished in done:
            while not finished.is_set() and time.monotonic() < deadline:
                finished.wait(0.1)  # a second Ctrl-C lands here and ends the wait
        raise


def _fail_all(study: StudyLike, trials: list[Trial]) -> None:
    """Tell interrupted trials failed, so they are not left running until the reaper finds them."""
    for trial in trials:
        try:
            study.tell(trial.number, state="failed", metadata={"error": INTERRUPTED})
        except SuggestError as error:
            log.warning("could not fail interrupted trial %s: %s", trial.number, error)


# --- processes --------------------------------------------------------------------------------

def _in_processes(study: OptimizableStudy, reopen: StudyOpener, objective: Objective, n_trials: int, n_workers: int,
                  catch: tuple[type[BaseException], ...], client_id: str | None) -> list[Trial]:
    # spawn, not fork: forking a process that runs threads (heartbeats, the caller's) can deadlock.
    context = multiprocessing.get_context("spawn")
    budget = context.Value("i", n_trials)
    stop = context.Event()
    events: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    children = [context.Process(target=_child, name=f"suggest-worker-{i}",
                                args=(reopen, objective, budget, stop, events, catch, client_id))
                for i in range(n_workers)]
    for child in children:
        child.start()
    events_seen = _EventLog()
    try:
        while any(child.is_alive() for child in children) or not events.empty():
            try:
                events_seen.record(*events.get(timeout=0.2))
            except queue.Empty:
                continue
            if events_seen.failure is not None:
                stop.set()
    except KeyboardInterrupt:
        stop.set()
        for child in children:  # the terminal sends Ctrl-C to all; `kill -INT parent` only to us
            if child.is_alive() and child.pid is not None:
                _signal(child.pid)
        for child in children:
            child.join(CHILD_EXIT_WAIT_S)
            if child.is_alive():
                child.terminate()
        with contextlib.suppress(queue.Empty):
            while True:  # what the children said before they exited
                events_seen.record(*events.get(timeout=0.5))
        _fail_all(study, [Trial(number=n, params={}) for n in sorted(events_seen.running)])
        raise
    finally:
        for child in children:
            child.join()
    if events_seen.failure is not None:
        raise RuntimeError(f"a worker process failed: {events_seen.failure}")
    return [trial for trial in study.trials() if trial.number in events_seen.finished]


@dataclass
class _EventLog:
    """The parent's view of its worker processes, from the events they send."""

    running: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    failure: str | None = None

    def record(self, kind: str, payload: Any) -> None:
        if kind == "started":
            self.running.add(payload)
        elif kind == "ended":
            self.running.discard(payload)
            self.finished.add(payload)
        elif kind == "failure" and self.failure is None:
            self.failure = payload


def _child(reopen: StudyOpener, objective: Objective, budget: Synchronized[int], stop: Any,
           events: multiprocessing.Queue[tuple[str, Any]], catch: tuple[type[BaseException], ...],
           client_id: str | None) -> None:
    """A worker process: the thread loop on a budget shared through the parent."""
    signal.signal(signal.SIGINT, _interrupt_once)
    study = reopen.open()
    shared = _ProcessShared(budget, stop, events)
    try:
        _work(study, objective, shared, catch, client_id)
    except BaseException:  # noqa: BLE001 - reported to the parent just below; Ctrl-C is not a failure
        pass
    finally:
        if shared.failure is not None:
            events.put(("failure", f"{type(shared.failure).__name__}: {shared.failure}"))
        study.transport.close()


class _ProcessShared(_Shared):
    """The same bookkeeping, with the budget and the stop flag in shared memory across processes."""

    def __init__(self, budget: Synchronized[int], stop: Any, events: multiprocessing.Queue[tuple[str, Any]]) -> None:
        super().__init__(budget=0)
        self._budget = budget
        self.stop = stop
        self._events = events

    def take(self) -> bool:
        with self._budget.get_lock():
            if self.stop.is_set() or self._budget.value <= 0:
                return False
            self._budget.value -= 1
            return True

    def started(self, trial: Trial) -> None:
        self._events.put(("started", trial.number))  # Ctrl-C reaches a process's objective itself

    def ended(self, trial: Trial) -> None:
        self._events.put(("ended", trial.number))


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    """First Ctrl-C interrupts the objective; a second (terminal and parent both send one) is ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _signal(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        pass


def checked_result(trial: Trial, answer: Any) -> float | dict[str, float]:
    """The objective's answer checked: a finite number, or a mapping of metric names to finite numbers."""
    if isinstance(answer, Mapping):
        if not answer:
            raise ValueError(f"the objective returned an empty dict for trial {trial.number}; return every "
                             "objective's (and constraint's) metric by name")
        return {str(name): _finite(trial, value, f"[{name!r}]") for name, value in answer.items()}
    if isinstance(answer, (tuple, list)):
        raise TypeError(f"the objective returned a {type(answer).__name__} for trial {trial.number}; return a "
                        "dict of metrics by name for a study with several objectives")
    return _finite(trial, answer)


def _finite(trial: Trial, value: Any, where: str = "") -> float:
    """The objective's answer as a float; anything else fails the trial with a message saying why."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy's floats are Real too
        raise TypeError(f"the objective must return a number{where and ' at ' + where} for trial {trial.number}, "
                        f"not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"the objective returned {value!r}{where and ' at ' + where} for trial {trial.number}; "
                         "return a finite number, or raise to fail the trial")
    return float(value)
