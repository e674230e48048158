"""A trial and the `with study.trial()` context, written against `StudyLike` rather than `Study`.

They only need a few of a study's methods; naming those in a Protocol lets `study.py` and `optimize.py`
both import this module without importing each other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar, Union

from suggest_client.errors import Conflict, Forbidden, SuggestError, TrialPruned, Unauthorized, ValidationError
from suggest_client.space_inference import Choice, categorical_param, float_param, int_param
from suggest_client.transport import Transport

log = logging.getLogger("suggest_client")


class StudyLike(Protocol):
    """What a trial and a TrialContext call on their study; `suggest_client.Study` is the real one."""

    @property
    def name(self) -> str: ...

    @property
    def heartbeat_timeout(self) -> float: ...

    @property
    def transport(self) -> Transport: ...

    def ask(self, count: int = 1, client_id: str | None = None) -> list[Trial]: ...

    def tell(self, trial: TrialRef, value: float | None = None, *, values: Mapping[str, float] | None = None,
             state: str | None = None, metadata: Mapping[str, Any] | None = None) -> Trial: ...

    def report(self, number: int, step: int, value: float) -> bool: ...

    def report_decision(self, number: int, step: int, value: float) -> PruneDecision: ...

    def heartbeat(self, number: int) -> None: ...

    def suggest_value(self, trial: Trial, param: dict[str, Any]) -> Choice: ...


#: What `suggest_categorical` answers: one of the choices it was given, with their type.
ChoiceT = TypeVar("ChoiceT", bound=Choice)

#: The reason `report` gives, without asking the service, once an interrupted optimize wants the trial to end.
INTERRUPTED_REASON = "the optimize loop was interrupted (Ctrl-C)"


@dataclass(frozen=True)
class PruneDecision:
    """The service's answer to a report: stop (`prune`) or go on, and why (`reason`).

    `reason` is the pruner's own sentence (e.g. "value 0.41 at step 3 is worse than the median 0.22 of
    9 completed trials"); None when the study has no pruner. Kept apart from the bool that `report`
    answers, so `if trial.report(...)` keeps working and a trainer can still say why it stopped.
    """

    prune: bool
    reason: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PruneDecision:
        reason = data.get("reason")
        return cls(prune=bool(data["prune"]), reason=reason if isinstance(reason, str) else None)


@dataclass
class Trial:
    """One parameter set handed out by the service, and what became of it.

    `metadata` is yours to fill while the trial runs (a test metric, a checkpoint path): it is sent
    with the tell and stored with the trial.

    `values` holds every objective and constraint metric by name, for a study with several objectives
    or with constraints (None otherwise; a multi-objective trial's `value` stays None); `feasible`
    says whether a completed trial met the constraints (None when the study has none).
    """

    number: int
    params: dict[str, Any]
    state: str = "running"
    value: float | None = None
    values: dict[str, float] | None = None
    feasible: bool | None = None
    intermediate: list[dict[str, Any]] = field(default_factory=list, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = field(default=None, repr=False)
    finished_at: datetime | None = field(default=None, repr=False)
    heartbeat_at: datetime | None = field(default=None, repr=False)
    fail_reason: str | None = None
    client_id: str | None = field(default=None, repr=False)
    #: The answer to the latest `report`: True once the service says to stop this trial.
    should_prune: bool = field(default=False, repr=False)
    #: Why the service said to stop (the pruner's sentence), once it has; None before, or without a pruner.
    prune_reason: str | None = field(default=None, repr=False)
    study: StudyLike | None = field(default=None, repr=False, compare=False)
    #: Set by `Study.optimize` when it is interrupted: the trial has been told failed already.
    interrupted: threading.Event | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], study: StudyLike | None = None) -> Trial:
        """A trial as the service answers it; a report that said prune sets `should_prune` and `prune_reason`."""
        intermediate = [dict(entry) for entry in data.get("intermediate") or []]
        said_prune = _first_prune(intermediate)
        values = data.get("values")
        feasible = data.get("feasible")
        return cls(number=data["number"], params=dict(data["params"]), state=data["state"],
                   value=data.get("value"), values=dict(values) if isinstance(values, Mapping) else None,
                   feasible=feasible if isinstance(feasible, bool) else None, intermediate=intermediate,
                   metadata=dict(data.get("metadata") or {}), created_at=_time(data.get("created_at")),
                   finished_at=_time(data.get("finished_at")), heartbeat_at=_time(data.get("heartbeat_at")),
                   fail_reason=data.get("fail_reason"), client_id=data.get("client_id"),
                   should_prune=said_prune is not None,
                   prune_reason=_reason(said_prune) if said_prune is not None else None, study=study)

    def update(self, other: Trial) -> None:
        """Take the service's newer view of this trial (after a tell).

        `should_prune` and `prune_reason` stay: they are the answers this process was given, which the
        service's view only repeats (and an interrupted loop's local "stop" is not in it at all).
        """
        for name in ("state", "value", "values", "feasible", "intermediate", "metadata", "finished_at",
                     "heartbeat_at", "fail_reason"):
            setattr(self, name, getattr(other, name))

    @property
    def pruned_step(self) -> int | None:
        """The step of the first report the service answered with prune, or None if none did."""
        said_prune = _first_prune(self.intermediate)
        step = said_prune.get("step") if said_prune is not None else None
        return step if isinstance(step, int) else None

    @property
    def last_step(self) -> int | None:
        """The step of the latest report (where training stopped, for a pruned trial), or None."""
        step = self.intermediate[-1].get("step") if self.intermediate else None
        return step if isinstance(step, int) else None

    @property
    def stopping(self) -> bool:
        """True once the optimize loop running this trial was interrupted (Ctrl-C): stop training.

        `report` then answers True without sending anything, so an objective that reports stops at
        its next report; one that does not can check this between steps.
        """
        return self.interrupted is not None and self.interrupted.is_set()

    def report(self, step: int, value: float) -> bool:
        """Store an intermediate value (it also counts as a heartbeat); True means stop now (prune).

        The service's reason is then in `prune_reason`: `raise TrialPruned(trial.prune_reason)`.
        """
        return self.report_decision(step, value).prune

    def report_decision(self, step: int, value: float) -> PruneDecision:
        """`report`, answering the whole decision (prune and reason), for code that passes it on."""
        if self.stopping:
            decision = PruneDecision(prune=True, reason=INTERRUPTED_REASON)
        else:
            decision = self._study().report_decision(self.number, step, value)
        self.should_prune = decision.prune
        if decision.prune:
            self.prune_reason = decision.reason
        return decision

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        """The value of float param `name`, as in Optuna: the service's suggestion, once the call is checked
        against the study's space (SpaceMismatch, naming what differs, when it does not match)."""
        return float(self._suggest(float_param(name, low, high, step=step, log=log)))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        """The value of int param `name` (see `suggest_float`)."""
        return int(self._suggest(int_param(name, low, high, step=step, log=log)))

    def suggest_categorical(self, name: str, choices: Sequence[ChoiceT]) -> ChoiceT:
        """The value of categorical param `name`, one of `choices` (see `suggest_float`)."""
        value: ChoiceT = self._suggest(categorical_param(name, choices))  # type: ignore[assignment]
        return value

    def _suggest(self, param: dict[str, Any]) -> Choice:
        return self._study().suggest_value(self, param)

    def heartbeat(self) -> None:
        """Tell the service this trial is still running, so it is not reaped as stale."""
        self._study().heartbeat(self.number)

    def tell(self, value: float | None = None, *, values: Mapping[str, float] | None = None,
             state: str | None = None) -> Trial:
        """Finish this trial (see `Study.tell`), sending its `metadata` along: `values` for a study
        with several objectives or with constraints."""
        return self._study().tell(self, value, values=values, state=state)

    def _study(self) -> StudyLike:
        if self.study is None:
            raise RuntimeError(f"trial {self.number} is not attached to a study")
        return self.study


#: A trial, or just its number, wherever a study method names one.
TrialRef = Union[Trial, int]


class TrialContext:
    """`with study.trial() as t:` — ask one trial, keep it alive, tell how it ended.

    While the body runs, a background thread sends heartbeats every third of the study's
    heartbeat timeout. Leaving the block tells the service: `t.value` (or, for a study with several
    objectives or with constraints, `t.values`) as completed; `pruned` if the body raised
    TrialPruned (swallowed); `failed` if it raised anything else (re-raised). A result the service
    refuses (ValidationError, e.g. a metric missing from `t.values`) fails the trial and is re-raised.
    """

    def __init__(self, study: StudyLike, client_id: str | None = None,
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
        if kind is None and trial.value is None and trial.values is None:
            self._tell(trial, state="failed", why="the block ended without setting the trial's value")
            raise ValueError(f"trial {trial.number}: set `trial.value` (or `trial.values`) before the with "
                             "block ends (or raise TrialPruned to prune it)")
        if kind is None and trial.value is not None and trial.values is not None:
            self._tell(trial, state="failed", why="the block set both the trial's value and its values")
            raise ValueError(f"trial {trial.number}: set `trial.value` (one objective) or `trial.values` (several "
                             "objectives, or constraints), not both")
        if kind is None:
            try:
                self._tell(trial, value=trial.value, values=trial.values)
            except ValidationError as refused:
                # Not stored: fail it now rather than leave it running until the reaper finds it.
                self._tell(trial, state="failed", why=f"the service refused the result: {refused}")
                raise
            return False
        if issubclass(kind, TrialPruned):
            self._tell(trial, state="pruned")
            return True
        self._tell(trial, state="failed", why=f"{kind.__name__}: {error}")
        return False

    def _tell(self, trial: Trial, value: float | None = None, state: str | None = None,
              why: str | None = None, values: Mapping[str, float] | None = None) -> None:
        if trial.stopping:
            return  # the interrupted optimize loop has told it failed
        if why is not None:
            trial.metadata.setdefault("error", why[:1000])
        try:
            self._study.tell(trial, value, values=values, state=state)
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


def _first_prune(intermediate: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The first report the service answered with prune (every later one repeats it), or None."""
    return next((entry for entry in intermediate if entry.get("prune") is True), None)


def _reason(entry: Mapping[str, Any]) -> str | None:
    reason = entry.get("reason")
    return reason if isinstance(reason, str) else None


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
