"""A study, as a trainer sees it: ask, train, report, tell (its trials are in `trial.py`)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from suggest_client.csv_import import Source as CsvSource
from suggest_client.csv_import import import_csv
from suggest_client.errors import NotFound
from suggest_client.optimize import Objective, optimize
from suggest_client.paging import every_page, pages
from suggest_client.space_inference import Choice, check_call
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
        """"minimize" or "maximize" (of the first objective, in a multi-objective study)."""
        goal: str = self.info["objective"]["goal"]
        return goal

    @property
    def objectives(self) -> list[dict[str, Any]]:
        """Every objective, `{"name", "goal"}`, in the study's order (one for a single-objective study)."""
        objectives = self.info.get("objectives") or [self.info["objective"]]
        return [dict(objective) for objective in objectives]

    @property
    def constraints(self) -> list[dict[str, Any]]:
        """The constraints, `{"name", "op", "bound"}`; empty when the study has none."""
        return [dict(constraint) for constraint in self.info.get("constraints") or []]

    @property
    def multi_objective(self) -> bool:
        """True with 2 or more objectives: trials are told `values`, and `pareto()` replaces `best()`."""
        return len(self.objectives) > 1

    @property
    def metric_names(self) -> list[str]:
        """The names a tell's `values` must hold: the objectives', then the constraints'."""
        return [item["name"] for item in [*self.objectives, *self.constraints]]

    @property
    def space(self) -> dict[str, Any]:
        """The search space, `{"params": [...]}`, as the service stores it: what `trial.suggest_*` is checked
        against."""
        space: dict[str, Any] = self.info["space"]
        return space

    def suggest_value(self, trial: Trial, param: dict[str, Any]) -> Choice:
        """What `trial.suggest_*(...)` answers: the service's value for `param`, once the call is checked against
        the space (SpaceMismatch, naming the param and what differs, when it does not match)."""
        return check_call(self.space, trial.params, param, study=self.name, number=trial.number)

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

    def tell(self, trial: TrialRef, value: float | None = None, *, values: Mapping[str, float] | None = None,
             state: str | None = None, metadata: Mapping[str, Any] | None = None) -> Trial:
        """Finish a trial: a value (completed), or `state="failed"` / `"pruned"`.

        A study with several objectives or with constraints is told `values` instead: every
        objective and constraint metric by name (`metric_names`), no others. Telling the same result
        again is harmless; a different one raises Conflict. A Trial's own `metadata` is sent unless
        `metadata` is given.
        """
        number = trial.number if isinstance(trial, Trial) else trial
        if value is not None and values is not None:
            raise ValueError(f"trial {number}: tell `value` or `values`, not both")
        if value is not None and not math.isfinite(value):
            raise ValueError(f"trial {number}: value {value!r} is not finite; tell state='failed' for a "
                             "run that diverged")
        for metric, reading in (values or {}).items():
            if not math.isfinite(reading):
                raise ValueError(f"trial {number}: values[{metric!r}] = {reading!r} is not finite; tell "
                                 "state='failed' for a run that diverged")
        if state is not None and state not in FINISHED_STATES:
            raise ValueError(f"state must be one of {', '.join(FINISHED_STATES)}, not {state!r}")
        if metadata is None and isinstance(trial, Trial) and trial.metadata:
            metadata = trial.metadata
        body: dict[str, Any] = {"number": number}
        if value is not None:
            body["value"] = float(value)
        if values is not None:
            body["values"] = {str(metric): float(metric_value) for metric, metric_value in values.items()}
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
        """The best completed trial, or None while no trial has completed.

        A multi-objective study has no single best: it raises MultiObjectiveStudy (a Conflict) with
        the service's detail; read `pareto()` instead.
        """
        try:
            return Trial.from_json(self._transport.request("GET", self._path + "/best"), self)
        except NotFound as error:
            if error.type == NO_COMPLETED_TRIAL:
                return None
            raise

    def pareto(self) -> ParetoFront:
        """The Pareto front: the non-dominated feasible completed trials by number (every page followed),
        with the front's `size`, `hypervolume` and `reference_point` (see ParetoFront)."""
        trials: list[Trial] = []
        last: dict[str, Any] = {}
        for page in pages(self._transport, self._path + "/pareto"):
            trials += [Trial.from_json(item, self) for item in page["trials"]]
            last = page
        reference = last.get("reference_point")
        hypervolume = last.get("hypervolume")
        return ParetoFront(trials, size=int(last.get("size", len(trials))),
                           hypervolume=None if hypervolume is None else float(hypervolume),
                           reference_point=None if reference is None else [float(x) for x in reference],
                           reference_point_derived=bool(last.get("reference_point_derived", False)))

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
        """Import finished trials (`{"params", "value", "values" or "state", "metadata"?}`), e.g. a warm start."""
        answer = self._transport.request("POST", self._path + "/trials", idempotent_post=True,
                                         json={"trials": [dict(t) for t in trials]})
        return [Trial.from_json(item, self) for item in answer["imported"]]

    def import_csv(self, source: CsvSource) -> list[Trial]:
        """Import the finished trials of a CSV file (a path or an open file) in the format `suggest trials
        --format csv` writes; answers the trials it added.

        Every row is checked first: a bad cell raises BadCsv naming its row and column, and nothing is
        imported. Importing the same file again adds nothing; running rows are skipped. See csv_import.py.
        """
        return import_csv(self, source).imported

    def delete(self) -> None:
        self._transport.request("DELETE", self._path)

    def trial(self, client_id: str | None = None) -> TrialContext:
        """Ask for one trial and run it in a `with` block (see TrialContext)."""
        return TrialContext(self, client_id)

    def optimize(self, objective: Objective, n_trials: int, n_workers: int = 1, *, processes: bool = False,
                 catch: tuple[type[BaseException], ...] = (Exception,), client_id: str | None = None) -> list[Trial]:
        """Run the ask → objective → tell loop for `n_trials` trials on `n_workers` workers.

        `objective(trial)` returns the value (for a study with several objectives or with constraints:
        a dict of every metric by name, told as `values`); raising TrialPruned prunes the trial; an
        exception of a type in `catch` fails it and the loop goes on, any other fails it and stops the loop. Workers
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


class ParetoFront(list[Trial]):
    """A study's Pareto front: a list of its trials, with what the service says of the front as a whole.

    `size` is the number of trials on the front; `hypervolume` the volume it dominates up to
    `reference_point` (None with 4 objectives or an empty front); `reference_point_derived` is True
    when the study gave no reference point and the service derived one from the front.
    """

    def __init__(self, trials: Sequence[Trial], *, size: int, hypervolume: float | None,
                 reference_point: list[float] | None, reference_point_derived: bool) -> None:
        super().__init__(trials)
        self.size = size
        self.hypervolume = hypervolume
        self.reference_point = reference_point
        self.reference_point_derived = reference_point_derived

    def __repr__(self) -> str:
        return f"ParetoFront(size={self.size}, hypervolume={self.hypervolume!r}, trials={[t.number for t in self]})"


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
