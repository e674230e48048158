"""A study and its trials, as a trainer sees them: ask, train, report, tell."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import quote

from suggest_client.errors import Conflict, Forbidden, NotFound, SuggestError, TrialPruned, Unauthorized
from suggest_client.transport import Transport

if TYPE_CHECKING:
    from suggest_client.optimize import Objective

log = logging.getLogger("suggest_client")

NO_COMPLETED_TRIAL = "urn:suggest-api:problem:no-completed-trial"
FINISHED_STATES = ("completed", "failed", "pruned")
PAGE_SIZE = 1000


@dataclass
class Trial:
    """One parameter set handed out by the service, and what became of it.

    `metadata` is yours to fill while the trial runs (a test metric, a checkpoint path): it is sent
    with the tell and stored with the trial.
    """

    number: int
    params: dict[str, Any]
    state: str = "running"
    value: float | None = None
    intermediate: list[dict[str, Any]] = field(default_factory=list, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = field(default=None, repr=False)
    finished_at: datetime | None = field(default=None, repr=False)
    heartbeat_at: datetime | None = field(default=None, repr=False)
    fail_reason: str | None = None
    client_id: str | None = field(default=None, repr=False)
    #: The answer to the latest `report`: True once the service says to stop this trial.
    should_prune: bool = field(default=False, repr=False)
    study: Study | None = field(default=None, repr=False, compare=False)
    #: Set by `Study.optimize` when it is interrupted: the trial has been told failed already.
    interrupted: threading.Event | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], study: Study | None = None) -> Trial:
        return cls(number=data["number"], params=dict(data["params"]), state=data["state"],
                   value=data.get("value"), intermediate=list(data.get("intermediate") or []),
                   metadata=dict(data.get("metadata") or {}), created_at=_time(data.get("created_at")),
                   finished_at=_time(data.get("finished_at")), heartbeat_at=_time(data.get("heartbeat_at")),
                   fail_reason=data.get("fail_reason"), client_id=data.get("client_id"), study=study)

    def update(self, other: Trial) -> None:
        """Take the service's newer view of this trial (after a tell)."""
        for name in ("state", "value", "intermediate", "metadata", "finished_at", "heartbeat_at", "fail_reason"):
            setattr(self, name, getattr(other, name))

    @property
    def stopping(self) -> bool:
        """True once the optimize loop running this trial was interrupted (Ctrl-C): stop training.

        `report` then answers True without sending anything, so an objective that reports stops at
        its next report; one that does not can check this between steps.
        """
        return self.interrupted is not None and self.interrupted.is_set()

    def report(self, step: int, value: float) -> bool:
        """Store an intermediate value (it also counts as a heartbeat); True means stop now (prune)."""
        if self.stopping:
            self.should_prune = True
            return True
        self.should_prune = self._study().report(self.number, step, value)
        return self.should_prune

    def heartbeat(self) -> None:
        """Tell the service this trial is still running, so it is not reaped as stale."""
        self._study().heartbeat(self.number)

    def tell(self, value: float | None = None, *, state: str | None = None) -> Trial:
        """Finish this trial (see `Study.tell`), sending its `metadata` along."""
        return self._study().tell(self, value, state=state)

    def _study(self) -> Study:
        if self.study is None:
            raise RuntimeError(f"trial {self.number} is not attached to a study")
        return self.study


TrialRef = Union[Trial, int]


class Study:
    """A handle on one study; `info` is the service's last answer about it (see `refresh`)."""

    def __init__(self, transport: Transport, info: Mapping[str, Any]) -> None:
        self._transport = transport
        self.info: dict[str, Any] = dict(info)
        self.name: str = self.info["name"]
        self._path = "/v1/studies/" + quote(self.name, safe="")

    def __repr__(self) -> str:
        return f"Study({self.name!r})"

    @property
    def goal(self) -> str:
        """"minimize" or "maximize"."""
        goal: str = self.info["objective"]["goal"]
        return goal

    @property
    def heartbeat_timeout(self) -> float:
        """Seconds without a heartbeat after which the service fails a running trial as stale."""
        return float(self.info["heartbeat_timeout"])

    def refresh(self) -> dict[str, Any]:
        """Read the study again (trial counts, best trial) and return it."""
        self.info = self._transport.request("GET", self._path)
        return self.info

    def ask(self, count: int = 1, client_id: str | None = None) -> list[Trial]:
        """New running trials; fewer than `count` only when a grid has fewer points left.

        Raises GridExhausted once a grid study has handed out every point.
        """
        body: dict[str, Any] = {"count": count}
        if client_id is not None:
            body["client_id"] = client_id
        answer = self._transport.request("POST", self._path + "/ask", json=body, idempotent_post=True)
        return [Trial.from_json(item, self) for item in answer["trials"]]

    def tell(self, trial: TrialRef, value: float | None = None, *, state: str | None = None,
             metadata: Mapping[str, Any] | None = None) -> Trial:
        """Finish a trial: a value (completed), or `state="failed"` / `"pruned"`.

        Telling the same result again is harmless; a different one raises Conflict. A Trial's own
        `metadata` is sent unless `metadata` is given.
        """
        number = trial.number if isinstance(trial, Trial) else trial
        if value is not None and not math.isfinite(value):
            raise ValueError(f"trial {number}: value {value!r} is not finite; tell state='failed' for a "
                             "run that diverged")
        if state is not None and state not in FINISHED_STATES:
            raise ValueError(f"state must be one of {', '.join(FINISHED_STATES)}, not {state!r}")
        if metadata is None and isinstance(trial, Trial) and trial.metadata:
            metadata = trial.metadata
        body: dict[str, Any] = {"number": number}
        if value is not None:
            body["value"] = float(value)
        if state is not None:
            body["state"] = state
        if metadata:
            body["metadata"] = dict(metadata)
        answer = self._transport.request("POST", self._path + "/tell", json=body, idempotent_post=True)
        told = Trial.from_json(answer, self)
        if isinstance(trial, Trial):
            trial.update(told)
        return told

    def report(self, number: int, step: int, value: float) -> bool:
        """Store trial `number`'s value at `step`; True when the study's pruner says stop."""
        if not math.isfinite(value):
            raise ValueError(f"trial {number}: reported value {value!r} is not finite")
        answer = self._transport.request("POST", f"{self._path}/trials/{number}/report",
                                         json={"step": step, "value": float(value)})
        return bool(answer["prune"])

    def heartbeat(self, number: int) -> None:
        self._transport.request("POST", f"{self._path}/trials/{number}/heartbeat")

    def best(self) -> Trial | None:
        """The best completed trial, or None while no trial has completed."""
        try:
            return Trial.from_json(self._transport.request("GET", self._path + "/best"), self)
        except NotFound as error:
            if error.type == NO_COMPLETED_TRIAL:
                return None
            raise

    def trials(self, state: str | None = None) -> list[Trial]:
        """Every trial by number (following the pages), optionally only those in `state`."""
        return list(self._iter_trials(state))

    def trial_at(self, number: int) -> Trial:
        return Trial.from_json(self._transport.request("GET", f"{self._path}/trials/{number}"), self)

    def enqueue(self, params: Sequence[Mapping[str, Any]]) -> int:
        """Parameter sets to hand out before the suggester's own; answers the queue's length."""
        answer = self._transport.request("POST", self._path + "/trials", idempotent_post=True,
                                         json={"trials": [{"params": dict(p)} for p in params]})
        length: int = answer["queue_length"]
        return length

    def add_trials(self, trials: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Import finished trials (`{"params", "value" or "state", "metadata"?}`), e.g. a warm start."""
        answer = self._transport.request("POST", self._path + "/trials", idempotent_post=True,
                                         json={"trials": [dict(t) for t in trials]})
        return [Trial.from_json(item, self) for item in answer["imported"]]

    def delete(self) -> None:
        self._transport.request("DELETE", self._path)

    def trial(self, client_id: str | None = None) -> TrialContext:
        """Ask for one trial and run it in a `with` block (see TrialContext)."""
        return TrialContext(self, client_id)

    def optimize(self, objective: Objective, n_trials: int, n_workers: int = 1, *, processes: bool = False,
                 catch: tuple[type[BaseException], ...] = (Exception,), client_id: str | None = None) -> list[Trial]:
        """Run the ask → objective → tell loop for `n_trials` trials on `n_workers` workers.

        `objective(trial)` returns the value; raising TrialPruned prunes the trial; an exception of a
        type in `catch` fails it and the loop goes on, any other fails it and stops the loop. Workers
        are threads, or processes with `processes=True` (the objective must then be picklable).
        Ctrl-C stops every worker, tells their running trials failed, and raises KeyboardInterrupt.
        A grid study that runs out of points ends the loop early. Returns the trials it finished.
        """
        from suggest_client.optimize import optimize

        return optimize(self, objective, n_trials, n_workers, processes=processes, catch=catch,
                        client_id=client_id)

    def _iter_trials(self, state: str | None) -> Iterator[Trial]:
        query = {} if state is None else {"state": state}
        for item in every_page(self._transport, self._path + "/trials", "trials", query):
            yield Trial.from_json(item, self)

    @property
    def transport(self) -> Transport:
        return self._transport


class TrialContext:
    """`with study.trial() as t:` — ask one trial, keep it alive, tell how it ended.

    While the body runs, a background thread sends heartbeats every third of the study's
    heartbeat timeout. Leaving the block tells the service: `t.value` as completed; `pruned` if the
    body raised TrialPruned (swallowed); `failed` if it raised anything else (re-raised).
    """

    def __init__(self, study: Study, client_id: str | None = None,
                 on_start: Callable[[Trial], None] | None = None) -> None:
        self._study = study
        self._client_id = client_id
        self._on_start = on_start
        self._stop = threading.Event()
        self._beats: threading.Thread | None = None
        self.trial: Trial | None = None

    def __enter__(self) -> Trial:
        self.trial = self._study.ask(1, self._client_id)[0]
        if self._on_start is not None:
            self._on_start(self.trial)
        self._beats = threading.Thread(target=self._beat, args=(self.trial,), daemon=True,
                                       name=f"suggest-heartbeat-{self.trial.number}")
        self._beats.start()
        return self.trial

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        self._stop.set()
        if self._beats is not None:
            self._beats.join()
        trial = self.trial
        assert trial is not None
        if kind is None and trial.value is None:
            self._tell(trial, state="failed", why="the block ended without setting the trial's value")
            raise ValueError(f"trial {trial.number}: set `trial.value` before the with block ends "
                             "(or raise TrialPruned to prune it)")
        if kind is None:
            self._tell(trial, value=trial.value)
            return False
        if issubclass(kind, TrialPruned):
            self._tell(trial, state="pruned")
            return True
        self._tell(trial, state="failed", why=f"{kind.__name__}: {error}")
        return False

    def _tell(self, trial: Trial, value: float | None = None, state: str | None = None,
              why: str | None = None) -> None:
        if trial.stopping:
            return  # the interrupted optimize loop has told it failed
        if why is not None:
            trial.metadata.setdefault("error", why[:1000])
        try:
            self._study.tell(trial, value, state=state)
        except Conflict as conflict:
            # Already finished elsewhere: reaped as stale, or failed by an interrupted optimize.
            log.warning("trial %s of %s could not be told: %s", trial.number, self._study.name, conflict)
        except SuggestError as error:
            if state != "failed":
                raise  # a result that was not stored must not pass silently
            # Failing anyway: keep the body's own exception, which is what the caller needs to see.
            log.warning("trial %s of %s could not be told failed: %s", trial.number, self._study.name, error)

    def _beat(self, trial: Trial) -> None:
        interval = max(0.05, self._study.heartbeat_timeout / 3.0)
        try:
            while not self._stop.wait(interval):
                try:
                    trial.heartbeat()
                except Conflict:
                    log.warning("trial %s of %s is no longer running (reaped as stale?); heartbeats stop",
                                trial.number, self._study.name)
                    return
                except (Unauthorized, Forbidden) as error:  # the key was revoked: no later beat can succeed
                    log.warning("heartbeats for trial %s of %s stop: %s", trial.number, self._study.name, error)
                    return
                except Exception as error:  # noqa: BLE001 - a missed beat must not kill the training
                    log.warning("heartbeat for trial %s failed: %s", trial.number, error)
        finally:
            self._study.transport.close_thread()


def every_page(transport: Transport, path: str, key: str, query: Mapping[str, Any] | None = None,
               page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
    """The items under `key` of a list endpoint, following `next_cursor` to the last page."""
    params: dict[str, Any] = {**(query or {}), "limit": page_size}
    while True:
        page = transport.request("GET", path, params=params)
        yield from page[key]
        if not page["next_cursor"]:
            return
        params["cursor"] = page["next_cursor"]


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
