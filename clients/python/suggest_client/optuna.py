"""`ServiceSampler`: an unchanged Optuna program gets its suggestions from suggest_api and tells it the results.

    import optuna
    from suggest_client.optuna import ServiceSampler

    study = optuna.create_study(sampler=ServiceSampler(study="demo"), direction="minimize")
    study.optimize(objective, n_trials=50)

Each Optuna trial is one service trial, asked in `before_trial` (its number kept in the Optuna trial's
system attr `suggest_client:trial`, so a later `study.tell` from another process still finds it) and told
in `after_trial`: completed, pruned or failed, several objectives by name. The service chooses every param of
a trial at once, so to Optuna it is a relative sampler: once a param's call has been checked against the
service study's definition, it is served through `sample_relative`. A param the service study lacks, or one
it left inactive in this trial, is sampled at random and logged (as Optuna's samplers do,
`warn_independent_sampling`); a call that defines a param differently from the service study is a
SpaceMismatch naming it.

While the service study does not exist, trials are sampled here as define-by-run's discovery samples them
(seeded random values, categorical choices in turn); once their calls settle the space (or after
MAX_DISCOVERY_TRIALS of them), it is inferred, the service study is created and they are imported.
Needs the `optuna` extra: `pip install 'suggest-client[optuna]'`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study as OptunaStudy
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from suggest_client.client import Client, Plugin
from suggest_client.define_by_run import DISCOVERY, MAX_DISCOVERY_TRIALS, DiscoverySampler, define
from suggest_client.errors import Conflict, NotFound, SuggestError, ValidationError
from suggest_client.space_inference import (
    Choice,
    Observation,
    ParamJSON,
    as_asked,
    categorical_param,
    definition_of,
    fits,
    float_param,
    inactive_reason,
    infer,
    int_param,
    key,
)
from suggest_client.study import Study
from suggest_client.trial import Trial

log = logging.getLogger("suggest_client")

#: The Optuna trial's system attr that holds its service trial's number.
TRIAL_ATTR = "suggest_client:trial"
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def param_json(name: str, distribution: BaseDistribution) -> ParamJSON:
    """The service's definition of an Optuna distribution; ValueError naming the param when it has none."""
    if isinstance(distribution, FloatDistribution):
        return float_param(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)
    if isinstance(distribution, IntDistribution):
        return int_param(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)
    if isinstance(distribution, CategoricalDistribution):
        if any(choice is None for choice in distribution.choices):
            raise ValueError(f"param {name!r}: choice None cannot be sent to the service, whose categorical choices "
                             "are strings, numbers or booleans; use a string such as 'none' in "
                             "suggest_categorical and turn it back into None in the objective")
        return categorical_param(name, [choice for choice in distribution.choices if choice is not None])
    raise ValueError(f"param {name!r}: {type(distribution).__name__} has no counterpart in the service's search "
                     "space (float, int, categorical)")


def distribution(param: Mapping[str, Any]) -> BaseDistribution:
    """The Optuna distribution of a service param (its `when` aside)."""
    kind = param["type"]
    if kind == "categorical":
        return CategoricalDistribution(list(param["choices"]))
    if kind == "float":
        return FloatDistribution(param["low"], param["high"], log=bool(param.get("log")), step=param.get("step"))
    return IntDistribution(param["low"], param["high"], log=bool(param.get("log")), step=param.get("step") or 1)


def observation(trial: FrozenTrial) -> Observation:
    """An Optuna trial's calls, in order; a param with one value is a constant, not part of the space."""
    seen = Observation(f"Optuna trial {trial.number}")
    for name, dist in trial.distributions.items():
        if not dist.single():
            param = param_json(name, dist)
            seen.add(param, as_asked(param, trial.params[name]))
    return seen


class _Running:
    """A service trial behind a running Optuna trial, kept alive with heartbeats until it is told."""

    def __init__(self, service: Study, trial: Trial) -> None:
        self.trial = trial
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(service,), daemon=True,
                                        name=f"suggest-heartbeat-{trial.number}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self, service: Study) -> None:
        try:
            while not self._stop.wait(max(0.05, service.heartbeat_timeout / 3.0)):
                try:
                    self.trial.heartbeat()
                except Conflict:
                    log.warning("trial %s of %s is no longer running (reaped as stale?); heartbeats stop",
                                self.trial.number, service.name)
                    return
                except SuggestError as error:
                    log.warning("heartbeat for trial %s of %s failed: %s", self.trial.number, service.name, error)
        finally:
            service.transport.close_thread()


class ServiceSampler(BaseSampler):
    """An Optuna sampler whose suggestions come from the suggest_api study named `study` (see the module).

    `url` and `token` default as for Client ($SUGGEST_URL, $SUGGEST_TOKEN); `suggester` and `seed` are used
    when the sampler creates the service study (they are not checked against an existing one).
    """

    def __init__(self, study: str, url: str | None = None, token: str | None = None, suggester: Plugin = "bayesian",
                 seed: int | None = None, *, warn_independent_sampling: bool = True) -> None:
        self.study_name = study
        self.client = Client(url, token)
        self._suggester = suggester
        self._seed = seed
        self._warn_independent_sampling = warn_independent_sampling
        self._lock = threading.RLock()
        self._service: Study | None = None
        self._running: dict[int, _Running] = {}  # by Optuna trial id
        self._discovery: dict[int, bool] = {}  # Optuna trial ids sampled here before the study existed: imported?
        self._discoverer = DiscoverySampler(seed)
        self._fallback = RandomSampler(seed)

    def __repr__(self) -> str:
        return f"ServiceSampler({self.study_name!r}, url={self.client.url!r})"

    @property
    def service_study(self) -> Study | None:
        """The service study, once it exists (None while this sampler's first trials are to define it)."""
        return self._service

    def reseed_rng(self) -> None:
        self._fallback.reseed_rng()
        with self._lock:
            self._discoverer = DiscoverySampler(None)

    # --- Optuna's hooks ---

    def before_trial(self, study: OptunaStudy, trial: FrozenTrial) -> None:
        """Ask the service for this trial's params (or, while the service study does not exist, sample here)."""
        service = self._open(study)
        if service is None:
            with self._lock:
                self._discovery[trial._trial_id] = False
            return
        number = trial.system_attrs.get(TRIAL_ATTR)
        if isinstance(number, int):
            asked = service.trial_at(number)  # the same Optuna trial set up again
        else:
            asked = service.ask(1)[0]
            study._storage.set_trial_system_attr(trial._trial_id, TRIAL_ATTR, asked.number)
        with self._lock:
            self._running[trial._trial_id] = _Running(service, asked)

    def infer_relative_search_space(self, study: OptunaStudy, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """Nothing: the service chose the whole trial already, and `sample_independent` hands out its values.

        A relative param would skip the check of its call against the service's definition (Optuna only
        checks that the value fits the call), so a program that changed a param's bounds later would go on
        with the study's old ones, silently; each call goes through `sample_independent` instead.
        """
        return {}

    def sample_relative(self, study: OptunaStudy, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: OptunaStudy, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        """The service's value, once the call is checked; a discovery value; or, outside the service's space, random."""
        asked = param_json(param_name, param_distribution)
        running = self._running.get(trial._trial_id)
        if running is None:
            if trial._trial_id not in self._discovery:
                return self._independent(study, trial, param_name, param_distribution,
                                         "the trial has no service trial (it was set up before this sampler)")
            with self._lock:
                return as_asked(asked, self._discoverer.value(asked))
        service = self._service
        assert service is not None
        space = service.space
        if not any(p["name"] == param_name for p in space["params"]):
            return self._independent(study, trial, param_name, param_distribution,
                                     f"the service study {service.name!r} has no param {param_name!r}")
        definition_of(space, asked, service.name, f"Optuna trial {trial.number}")  # SpaceMismatch when it differs
        if param_name not in running.trial.params:
            reason = inactive_reason(space, running.trial.params, param_name)
            return self._independent(study, trial, param_name, param_distribution,
                                     f"the service study {service.name!r} leaves it inactive here ({reason})")
        return as_asked(asked, running.trial.params[param_name])

    def after_trial(self, study: OptunaStudy, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Tell the service how the trial ended; after the first trials, define the service study from them."""
        with self._lock:
            running = self._running.pop(trial._trial_id, None)
        if running is not None:
            running.stop()
            self._tell(running.trial, trial, state, values)
            return
        number = trial.system_attrs.get(TRIAL_ATTR)
        service = self._service or self._open(study)
        if isinstance(number, int) and service is not None:
            self._tell(service.trial_at(number), trial, state, values)  # asked by another sampler
        elif trial._trial_id in self._discovery:
            self._after_discovery(study, trial, state, values)

    # --- the service study ---

    def _open(self, study: OptunaStudy) -> Study | None:
        """The service study, if it exists; its objectives checked against the Optuna study's directions."""
        if self._service is not None:
            return self._service
        try:
            service = self.client.study(self.study_name)
        except NotFound:
            return None
        goals = _goals(study)
        if [o["goal"] for o in service.objectives] != goals or service.constraints:
            raise ValueError(f"service study {self.study_name!r} has objectives {service.objectives!r}"
                             f"{' and constraints' if service.constraints else ''}, but this Optuna study's "
                             f"directions are {goals!r}; use matching directions, or another study name")
        with self._lock:
            self._service = self._service or service
        return self._service

    def _objectives(self, study: OptunaStudy) -> dict[str, Any]:
        """create_study's objective arguments for this Optuna study: named from `metric_names` when set."""
        goals = _goals(study)
        names = study.metric_names
        if len(goals) == 1:
            return {"objective": {"name": names[0], "goal": goals[0]} if names else goals[0]}
        names = names or [f"objective_{i}" for i in range(len(goals))]
        return {"objectives": list(zip(names, goals))}

    def _after_discovery(self, study: OptunaStudy, trial: FrozenTrial, state: TrialState,
                         values: Sequence[float] | None) -> None:
        with self._lock:
            finished = [t for t in study.get_trials(deepcopy=False, states=_FINISHED) if t._trial_id != trial._trial_id]
            own = [(t, t.state, t.values) for t in finished if t._trial_id in self._discovery]
            if self._service is not None:  # defined while this trial ran: by another thread, or another program
                self._import(self._service, [*own, (trial, state, values)])
                return
            completed = [observation(t) for t in finished if t.state == TrialState.COMPLETE]
            if state == TrialState.COMPLETE:
                completed.append(observation(trial))
            ran = sum(1 for t in finished if t._trial_id in self._discovery) + 1
            if not completed or not (infer(completed).settled or ran >= MAX_DISCOVERY_TRIALS):
                return
            space = infer(completed).result()  # SpaceMismatch naming a param whose calls cannot be a space
            arguments = self._objectives(study)

            def create(found: Mapping[str, Any]) -> Study:
                return self.client.create_study(self.study_name, found, suggester=self._suggester, seed=self._seed,
                                                **arguments)

            service = define(create, lambda: self.client.study(self.study_name), space, completed, self.study_name)
            self._service = service
            self._import(service, [*own, (trial, state, values)])
            log.info("service study %r created from %d Optuna trials", self.study_name, ran)

    def _import(self, service: Study, trials: Sequence[tuple[FrozenTrial, TrialState, Sequence[float] | None]]) -> None:
        """Add this sampler's discovery trials to the service study (those that asked every param it needs)."""
        items = []
        for trial, state, values in trials:
            if self._discovery.get(trial._trial_id, True):
                continue  # imported already, or not sampled here
            self._discovery[trial._trial_id] = True
            params = observation(trial).params
            if not fits(service.space, params):
                log.info("Optuna trial %s (%s) is not imported: it did not ask every param", trial.number, state.name)
                continue
            items.append({"params": params, "metadata": {"optuna_trial": trial.number, **DISCOVERY},
                          **self._result(service, state, values)})
        try:
            if items:
                service.add_trials(items)
        except ValidationError as error:  # a study defined elsewhere, whose definitions differ from these calls
            log.warning("the first Optuna trials are not imported into %s: %s", service.name, error)

    # --- telling ---

    def _tell(self, asked: Trial, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        service = self._service
        assert service is not None
        used = observation(trial).params
        other = sorted(name for name, value in asked.params.items() if name in used and key(used[name]) != key(value))
        _forward_reports(service, asked.number, trial)
        try:
            if other:  # e.g. values fixed by enqueue_trial: the service's own suggestion was not what ran
                service.tell(asked.number, state="failed", metadata={
                    "optuna_trial": trial.number, "error": f"the Optuna trial ran other values for {other!r} "
                    "(fixed by enqueue_trial?); its result is imported as a trial of its own"})
                self._import_other(service, trial, used, state, values)
                return
            service.tell(asked.number, metadata={"optuna_trial": trial.number}, **self._result(service, state, values))
        except Conflict as conflict:  # finished already: reaped as stale, or told by another process
            log.warning("trial %s of %s could not be told: %s", asked.number, service.name, conflict)

    def _import_other(self, service: Study, trial: FrozenTrial, used: Mapping[str, Choice], state: TrialState,
                      values: Sequence[float] | None) -> None:
        names = {p["name"] for p in service.space["params"]}
        params = {name: value for name, value in used.items() if name in names}
        if not fits(service.space, params):
            log.warning("Optuna trial %s is not imported into %s: its params %r do not fit the service's space",
                        trial.number, service.name, params)
            return
        try:
            service.add_trials([{"params": params, "metadata": {"optuna_trial": trial.number},
                                 **self._result(service, state, values)}])
        except SuggestError as error:
            log.warning("Optuna trial %s could not be imported into %s: %s", trial.number, service.name, error)

    @staticmethod
    def _result(service: Study, state: TrialState, values: Sequence[float] | None) -> dict[str, Any]:
        """A tell's (or an import's) result fields for an Optuna trial's end."""
        if state == TrialState.FAIL:
            return {"state": "failed"}
        result: dict[str, Any] = {} if state == TrialState.COMPLETE else {"state": "pruned"}
        if values is not None and all(math.isfinite(v) for v in values):
            names = [o["name"] for o in service.objectives]
            if len(names) > 1:
                result["values"] = dict(zip(names, values))
            else:
                result["value"] = float(values[0])
        return result

    def _independent(self, study: OptunaStudy, trial: FrozenTrial, name: str, dist: BaseDistribution,
                     reason: str) -> Any:
        if self._warn_independent_sampling:
            log.warning("The parameter %r in Optuna trial %s is sampled independently (at random) instead of by "
                        "the service, because %s. Pass warn_independent_sampling=False to ServiceSampler if this "
                        "is intended.", name, trial.number, reason)
        return self._fallback.sample_independent(study, trial, name, dist)


def _goals(study: OptunaStudy) -> list[str]:
    return ["maximize" if d == StudyDirection.MAXIMIZE else "minimize" for d in study.directions]


def _forward_reports(service: Study, number: int, trial: FrozenTrial) -> None:
    """Store the trial's intermediate values on the service too (the pruning was Optuna's, on its side)."""
    for step, value in sorted(trial.intermediate_values.items()):
        if step < 0 or not math.isfinite(value):
            continue
        try:
            service.report(number, step, value)
        except SuggestError as error:
            log.info("intermediate values of trial %s of %s not all stored: %s", number, service.name, error)
            return
