"""A study, as a trainer sees it: ask, train, report, tell (its trials are in `trial.py`)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from suggest_client.errors import NotFound
from suggest_client.optimize import Objective, optimize
from suggest_client.paging import every_page
from suggest_client.transport import Transport
from suggest_client.trial import PruneDecision

# Re-exported (the `as` form tells type checkers so): they lived here before `trial.py` existed.
from suggest_client.trial import Trial as Trial
from suggest_client.trial import TrialContext as TrialContext
from suggest_client.trial import TrialRef as TrialRef

NO_COMPLETED_TRIAL = "urn:suggest-api:problem:no-completed-trial"
FINISHED_STATES = ("completed", "failed", "pruned")


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
        return self.report_decision(number, step, value).prune

    def report_decision(self, number: int, step: int, value: float) -> PruneDecision:
        """`report`, answering the pruner's whole decision: whether to stop, and its reason for it."""
        if not math.isfinite(value):
            raise ValueError(f"trial {number}: reported value {value!r} is not finite")
        answer = self._transport.request("POST", f"{self._path}/trials/{number}/report",
                                         json={"step": step, "value": float(value)})
        return PruneDecision.from_json(answer)

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
        return optimize(self, objective, n_trials, n_workers, processes=processes, catch=catch,
                        client_id=client_id, reopen=StudyAddress.of(self))

    def _iter_trials(self, state: str | None) -> Iterator[Trial]:
        query = {} if state is None else {"state": state}
        for item in every_page(self._transport, self._path + "/trials", "trials", query):
            yield Trial.from_json(item, self)

    @property
    def transport(self) -> Transport:
        return self._transport


@dataclass(frozen=True)
class StudyAddress:
    """How to open a study again in a worker process: picklable, unlike a Study and its connections."""

    url: str
    token: str | None = field(repr=False)  # the repr may reach a log
    timeout: float
    retries: int
    name: str

    @classmethod
    def of(cls, study: Study) -> StudyAddress:
        transport = study.transport
        return cls(transport.url, transport.token, transport.timeout, transport.retries, study.name)

    def open(self) -> Study:
        """A Study on a connection of its own; the caller closes `study.transport` when done."""
        return open_study(Transport(self.url, self.token, self.timeout, self.retries), self.name)


def open_study(transport: Transport, name: str) -> Study:
    """An existing study; raises NotFound if there is none of that name."""
    return Study(transport, transport.request("GET", "/v1/studies/" + quote(name, safe="")))
