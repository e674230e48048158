"""Define-by-run: `trial.suggest_float(...)` as in Optuna, on a study whose first trials define its space.

On a study with a space, each `suggest_*` call answers the service's value once it is checked against the
study's definition (`Study.suggest_value`, with space_inference's `check_call`). `Client.create_study`
without a space gives a `DeferredStudy` when none of that name exists: its `optimize` first runs
*discovery* trials here (seeded random values, each categorical's choices in turn so every branch is
taken), until their calls settle the space (space_inference's `infer`) or MAX_DISCOVERY_TRIALS ran; then it
creates the study with the inferred space, imports those trials (metadata `{"define_by_run": "discovery"}`)
and runs the rest of the budget on the service as usual.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from suggest_client.errors import Conflict, NotFound, SpaceMismatch, TrialPruned
from suggest_client.optimize import Objective, checked_result
from suggest_client.space_inference import (
    Choice,
    Observation,
    ParamJSON,
    as_asked,
    call_text,
    check_observation,
    differences,
    fits,
    infer,
    normalize,
)
from suggest_client.study import Study, open_study
from suggest_client.transport import Transport
from suggest_client.trial import PruneDecision, Trial, TrialRef

log = logging.getLogger("suggest_client")

#: At most this many discovery trials, however unsettled the space still is.
MAX_DISCOVERY_TRIALS = 20
DISCOVERY = {"define_by_run": "discovery"}


# --- discovery --------------------------------------------------------------------------------

class DiscoverySampler:
    """Values for the trials that define a space: seeded random numbers, and each categorical's choices in
    turn, a freshly shuffled round at a time, so every branch is taken and two categoricals do not move in step
    (which would leave it unclear which one a conditional param depends on)."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._rounds: dict[str, list[int]] = {}

    def value(self, param: Mapping[str, Any]) -> Choice:
        rng, kind = self._rng, param["type"]
        if kind == "categorical":
            choices = param["choices"]
            turn = self._rounds.setdefault(param["name"], [])
            while not turn or turn[0] >= len(choices):
                turn[:] = rng.sample(range(len(choices)), len(choices))
            choice: Choice = choices[turn.pop(0)]
            return choice
        low, high, step = param["low"], param["high"], param.get("step")
        if kind == "int":
            if step is not None and step != 1:
                return int(low + rng.randint(0, (high - low) // step) * step)
            if param.get("log"):
                drawn = math.exp(rng.uniform(math.log(low - 0.5), math.log(high + 0.5)))
                return int(min(max(round(drawn), low), high))
            return rng.randint(low, high)
        if step is not None:
            n = round((high - low) / step)
            return _on_step(low, high, step, rng.randint(0, n))
        if param.get("log"):
            return float(min(max(math.exp(rng.uniform(math.log(low), math.log(high))), low), high))
        return float(min(max(rng.uniform(low, high), low), high))


def _on_step(low: float, high: float, step: float, k: int) -> float:
    """low + k * step as the service stores it: the shortest decimal within float noise (0.3, not
    0.30000000000000004), so a discovery trial's value is the one its import keeps."""
    x = low + k * step
    if x >= high:
        return float(high)
    slack = 4 * math.ulp(max(abs(low), abs(high)))
    first = -math.floor(math.log10(step))
    for digits in range(first, first + 13):
        rounded = round(x, digits)
        if abs(rounded - x) <= slack:
            return float(min(max(rounded, low), high))
    return float(x)


class LocalStudy:
    """The stand-in study of discovery trials: each call is sampled and recorded here, nothing is sent.

    Reports answer "go on" and are not kept: a discovery trial runs to its end.
    """

    def __init__(self, name: str, transport: Transport, seed: int | None) -> None:
        self.name = name
        self.heartbeat_timeout = math.inf
        self.transport = transport
        self.sampler = DiscoverySampler(seed)
        self.observations: dict[int, Observation] = {}
        self._definitions: dict[str, ParamJSON] = {}

    def suggest_value(self, trial: Trial, param: ParamJSON) -> Choice:
        """A discovery value for the call, recorded; the same one when the trial asks the param again."""
        name = param["name"]
        observation = self.observations.setdefault(trial.number, Observation(f"trial {trial.number}"))
        known = self._definitions.get(name)
        if known is not None and differences(known, param):
            asked_here = name in observation.asked
            raise SpaceMismatch(f"trial {trial.number} calls {call_text(param)}, but "
                                f"{'it' if asked_here else 'an earlier trial'} asked {call_text(known)}; ask "
                                f"{name!r} the same way every time (or give the two uses different names)")
        if name in observation.asked:
            return as_asked(param, observation.asked[name][1])  # asked again: the same value, as in Optuna
        self._definitions.setdefault(name, normalize(param))
        value = self.sampler.value(self._definitions[name])
        observation.add(normalize(param), value)
        trial.params[name] = value
        return as_asked(param, value)

    def ask(self, count: int = 1, client_id: str | None = None) -> list[Trial]:
        raise RuntimeError(f"study {self.name!r} is being defined by its first trials; they are run by optimize")

    def tell(self, trial: TrialRef, value: float | None = None, *, values: Mapping[str, float] | None = None,
             state: str | None = None, metadata: Mapping[str, Any] | None = None) -> Trial:
        raise RuntimeError(f"a discovery trial of study {self.name!r} is told by optimize, once the study exists")

    def report(self, number: int, step: int, value: float) -> bool:
        return False

    def report_decision(self, number: int, step: int, value: float) -> PruneDecision:
        return PruneDecision(prune=False, reason=None)

    def heartbeat(self, number: int) -> None:
        return None


def define(create: Callable[[Mapping[str, Any]], Study], read: Callable[[], Study], space: Mapping[str, Any],
           observations: Sequence[Observation], name: str) -> Study:
    """Create the study with the inferred `space`; when another creator was first (409), take its study instead,
    provided the other fields agree (else its Conflict) and every observation fits its space (else SpaceMismatch)."""
    try:
        return create(space)
    except Conflict:
        existing = read()
    study = create(existing.space)  # a Conflict here names the fields (other than the space) that differ
    log.info("study %r was created meanwhile by another worker; checking these trials against its space", name)
    for observation in observations:
        check_observation(study.space, observation, name)
    return study


def deferred_study(transport: Transport, body: Mapping[str, Any],
                   create: Callable[[Mapping[str, Any]], Study]) -> Study:
    """`create_study` without a space: the existing study of that name (its definition checked by creating it
    again with its own space), or a DeferredStudy whose first trials will define it."""
    try:
        existing = open_study(transport, body["name"])
    except NotFound:
        return DeferredStudy(transport, body, create)
    return create(existing.space)


class DeferredStudy(Study):
    """A study not created yet: `optimize` defines its search space from its first trials' calls, then it is an
    ordinary Study. Until then `info` holds the definition asked for (without a space), `trials()` is empty and
    `best()` None; `ask` and `trial()` need the space, so they say to run `optimize` first."""

    def __init__(self, transport: Transport, body: Mapping[str, Any],
                 create: Callable[[Mapping[str, Any]], Study]) -> None:
        info = dict(body)
        if "objective" in info:
            info["objective"] = {"name": "value", **info["objective"]}
        super().__init__(transport, info)
        self._create = create
        self._seed: int | None = body.get("seed")
        self._lock = threading.Lock()
        self.defined = False

    def __repr__(self) -> str:
        return f"Study({self.name!r})" if self.defined else f"DeferredStudy({self.name!r})"

    @property
    def space(self) -> dict[str, Any]:
        if not self.defined and not self._adopt():
            raise RuntimeError(self._undefined("has no search space yet"))
        return super().space

    def refresh(self) -> dict[str, Any]:
        return super().refresh() if self.defined or self._adopt() else self.info

    def ask(self, count: int = 1, client_id: str | None = None) -> list[Trial]:
        if not self.defined and not self._adopt():
            raise RuntimeError(self._undefined("cannot hand out trials yet"))
        return super().ask(count, client_id)

    def trials(self, state: str | None = None) -> list[Trial]:
        return super().trials(state) if self.defined or self._adopt() else []

    def best(self) -> Trial | None:
        return super().best() if self.defined or self._adopt() else None

    def optimize(self, objective: Objective, n_trials: int, n_workers: int = 1, *, processes: bool = False,
                 catch: tuple[type[BaseException], ...] = (Exception,), client_id: str | None = None) -> list[Trial]:
        """Study.optimize; while the study does not exist, its first trials run here and define it."""
        if n_trials < 0 or n_workers < 1:
            return super().optimize(objective, n_trials, n_workers, processes=processes, catch=catch,
                                    client_id=client_id)  # its own message for bad arguments
        imported: list[Trial] = []
        ran = 0
        with self._lock:  # one discovery, however many threads call optimize
            if not self.defined and not self._adopt() and n_trials > 0:
                ran, imported = self._discover(objective, n_trials, catch)
        rest = super().optimize(objective, n_trials - ran, n_workers, processes=processes, catch=catch,
                                client_id=client_id) if n_trials > ran else []
        return imported + rest

    def _adopt(self) -> bool:
        """Use the study if it exists now (another worker defined it); False while it does not."""
        try:
            existing = open_study(self._transport, self.name)
        except NotFound:
            return False
        self._take(self._create(existing.space))
        return True

    def _take(self, study: Study) -> None:
        self.info = study.info
        self.defined = True

    def _undefined(self, what: str) -> str:
        return (f"study {self.name!r} {what}: create_study was given no space, so its first trials define it; "
                "run them with study.optimize(objective, n_trials=...), or pass `space=` to create_study")

    def _discover(self, objective: Objective, n_trials: int,
                  catch: tuple[type[BaseException], ...]) -> tuple[int, list[Trial]]:
        """Run discovery trials until the space is settled; create the study; import them. (trials run, imported)"""
        local = LocalStudy(self.name, self._transport, self._seed)
        finished: list[Trial] = []
        completed: list[Observation] = []
        last_error = ""
        for number in range(min(n_trials, MAX_DISCOVERY_TRIALS)):
            trial = Trial(number=number, params={}, study=local)
            try:
                told = self._told(trial, objective(trial))
                trial.state = "completed"
                trial.value, trial.values = told.get("value"), told.get("values")
            except TrialPruned:
                trial.state = "pruned"
            except SpaceMismatch:
                raise  # the calls contradict each other: no later trial can fix that
            except BaseException as error:
                if not isinstance(error, catch):
                    raise
                last_error = f"{type(error).__name__}: {error}"
                log.warning("discovery trial %s of %s failed: %s", number, self.name, last_error)
                trial.state = "failed"
                trial.metadata.setdefault("error", last_error[:1000])
            finished.append(trial)
            completed = [local.observations.get(t.number, Observation(f"trial {t.number}"))
                         for t in finished if t.state == "completed"]
            if completed and infer(completed).settled:
                break
        if not completed:
            raise RuntimeError(f"none of the {len(finished)} first trials of study {self.name!r} completed "
                               f"({last_error or 'each was pruned'}), and its search space is learnt from "
                               "completed trials; fix the objective, or pass `space=` to create_study")
        inference = infer(completed)
        space = inference.result()
        if inference.unseen:
            log.warning("study %s is defined from %d trials in which categoricals %s did not take every choice; a "
                        "param asked only under those choices is missing from its space", self.name,
                        len(finished), ", ".join(repr(n) for n in inference.unseen))
        study = define(self._create, lambda: open_study(self._transport, self.name), space, completed, self.name)
        self._take(study)
        return len(finished), self._import(study, finished)

    def _told(self, trial: Trial, answer: Any) -> dict[str, Any]:
        """The objective's answer as an import's `value` or `values`, checked as a tell would be."""
        result = checked_result(trial, answer)
        metrics = self.metric_names
        plain = len(metrics) == 1
        if isinstance(result, dict):
            if sorted(result) != sorted(metrics):
                raise ValueError(f"trial {trial.number} returned metrics {sorted(result)!r}; study {self.name!r} "
                                 f"needs exactly {metrics!r}")
            return {"value": result[metrics[0]]} if plain else {"values": result}
        if not plain:
            raise ValueError(f"trial {trial.number} returned one number; study {self.name!r} has several metrics: "
                             f"return a dict with {metrics!r}")
        return {"value": result}

    def _import(self, study: Study, finished: Sequence[Trial]) -> list[Trial]:
        """Add the discovery trials that fit the space (a failed one may have stopped before asking them all)."""
        items = []
        for trial in finished:
            if not fits(study.space, trial.params):
                log.info("discovery trial %s of %s (%s) is not imported: it did not ask every param", trial.number,
                         self.name, trial.state)
                continue
            item: dict[str, Any] = {"params": dict(trial.params), "metadata": {**trial.metadata, **DISCOVERY}}
            if trial.state == "completed":
                item.update({"values": trial.values} if trial.values is not None else {"value": trial.value})
            else:
                item["state"] = trial.state
            items.append(item)
        return study.add_trials(items) if items else []
