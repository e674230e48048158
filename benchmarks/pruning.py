"""Early-stopping pruners on the reference trainer: epochs saved against accuracy kept, ours beside Optuna's.

    .venv/bin/python -m benchmarks.pruning [--quick] [--datasets digits,classification] [--seeds 5]
                                           [--trials 40] [--epochs 20] [--methods M,...] [--no-replay]
                                           [--jobs 2] [--json PATH] [--markdown PATH] [--trial-details]
    .venv/bin/python -m benchmarks.pruning --report benchmarks/results/pruning.json   # report again, no training

The objective is the `suggest-train` trainer's: `suggest_client.torch.train` on the shipped default space
(epochs fixed at `--epochs`, removed from the space), reporting validation accuracy after every epoch
(maximized); trial N of a seed trains with seed + N, on the data split of that seed, as suggest-train does.

Two comparisons. "Own samplers" is the issue's: our `bayesian` suggester with each pruner, through the
service's own create/ask/report/tell code on a scratch SQLite file (`workloads.pruned_study`), beside an
Optuna study (TPESampler(seed), in memory) with MedianPruner, SuccessiveHalvingPruner, HyperbandPruner or
NopPruner; each side's savings are counted against its own no-pruning run, but the two sides train
different trials, so their gap includes the samplers. "Replay" hands both sides the same fixed sequence
of random trials (our random suggester's, enqueued on both), so only the pruner differs.

Reported per (dataset, method), over seeds: epochs trained, wall and CPU time, the best validation
accuracy of a completed trial and the test accuracy of that trial, the ratios to the no-pruning run,
each of our pruners against its Optuna counterpart, and the issue's targets, pass or fail. Progress goes
to stderr, the report to stdout and Markdown, the figures and every trial to JSON (one line per run).
Exit status 0, or 1 when a run raised.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import log, table
from benchmarks.machine import cpu_model, version
from benchmarks.quality import comma_list, suggest_in_optuna
from workloads.pruned_study import Evaluated, ReportFn, run_pruned_study
from workloads.study_loop import scratch_database

RESULTS = Path(__file__).parent / "results"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
QUICK = {"seeds": 2, "trials": 20, "epochs": 10, "datasets": ["digits"]}
FULL = {"seeds": 5, "trials": 40, "epochs": 20, "datasets": ["digits", "classification"]}
SUGGESTER = "bayesian"
OPTUNA_SAMPLER = "TPESampler(seed=seed)"
#: The accuracy a pruner may lose against no pruning, in points (target 1), and the epochs it may keep.
ACCURACY_TOLERANCE_POINTS = 0.5
EPOCHS_TARGET = 0.40


# --- data -----------------------------------------------------------------------------------------------

#: The second data set: harder than digits (the best val accuracy is ~0.88, a typical trial's ~0.8, so there is
#: room between good and bad configurations), with 1.7 times its training rows; an epoch of a random trial
#: of the default space costs ~75 ms on one core (digits: ~50 ms).
CLASSIFICATION = {"n_samples": 3000, "n_features": 20, "n_informative": 10, "n_redundant": 4, "n_classes": 4,
                  "class_sep": 1.0, "flip_y": 0.03, "random_state": 0}
DATASETS = ("digits", "classification")
_DATA_CACHE: dict[tuple[str, int], Any] = {}


def load_dataset(name: str, seed: int) -> Any:
    """The Splits of `name` for `seed` (the split changes with the seed, the rows do not), cached per process."""
    key = (name, seed)
    if key not in _DATA_CACHE:
        from suggest_client.torch import load_digits_splits, split

        if name == "digits":
            _DATA_CACHE[key] = load_digits_splits(seed)
        else:
            from sklearn.datasets import make_classification

            x, y = make_classification(**CLASSIFICATION)
            _DATA_CACHE[key] = split(x, y, seed=seed, source="make_classification")
    return _DATA_CACHE[key]


def describe_dataset(name: str) -> str:
    if name == "digits":
        return "sklearn load_digits (1,797 rows, 64 features, 10 classes)"
    options = ", ".join(f"{k}={v}" for k, v in CLASSIFICATION.items())
    return f"sklearn make_classification({options})"


# --- methods --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    name: str
    side: str  # "ours" or "optuna"
    #: What it prunes with, in words (and, for ours, the create body's pruner).
    description: str
    #: Our method this Optuna one is the counterpart of (None: no counterpart, or ours).
    counterpart_of: str | None = None


def median_options() -> dict[str, Any]:
    return {"min_trials": 5, "warmup_steps": 2}


def threshold_lower(n_classes: int) -> float:
    """1.5 times chance accuracy (balanced classes): a trial still there after the warmup is not learning at
    all (a dead sigmoid net, a far too small or too large lr). Higher bars prune slow starters: on the
    classification set the median random trial is below 0.5 after 2 epochs and still ends near 0.8."""
    return round(1.5 / n_classes, 4)


def our_pruner(method: str, epochs: int, n_classes: int) -> dict[str, Any] | None:
    """The create body's pruner for our method; options as suggest-train's --pruner mapping where it has one."""
    if method == "none":
        return None
    if method == "median":
        return {"name": "median", "options": median_options()}
    if method == "percentile25":
        return {"name": "percentile", "options": {"percentile": 25.0, **median_options()}}
    if method == "successive_halving":
        return {"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 3}}
    if method == "successive_halving_rate1":
        return {"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 3,
                                                          "min_early_stopping_rate": 1}}
    if method == "hyperband":
        return {"name": "hyperband", "options": {"min_resource": 1, "max_resource": epochs, "reduction_factor": 3}}
    if method == "threshold":
        return {"name": "threshold", "options": {"lower": threshold_lower(n_classes), "warmup_steps": 3}}
    if method == "patient_median":
        return {"name": "patient", "options": {"patience": 2, "pruner": {"name": "median",
                                                                            "options": median_options()}}}
    raise ValueError(f"unknown method {method!r}")


def optuna_pruner(method: str, epochs: int) -> Any:
    import optuna

    if method == "optuna-none":
        return optuna.pruners.NopPruner()
    if method == "optuna-median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if method == "optuna-successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if method == "optuna-hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    raise ValueError(f"unknown method {method!r}")


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("none", "ours", "no pruner"),
    Method("median", "ours", "median {min_trials: 5, warmup_steps: 2}"),
    Method("percentile25", "ours", "percentile {percentile: 25, min_trials: 5, warmup_steps: 2}"),
    Method("successive_halving", "ours", "successive_halving {min_resource: 1, reduction_factor: 3}"),
    Method("successive_halving_rate1", "ours", "successive_halving {min_resource: 1, reduction_factor: 3, "
           "min_early_stopping_rate: 1} (first rung at epoch 3; not run unless --methods names it)"),
    Method("hyperband", "ours", "hyperband {min_resource: 1, max_resource: <epochs>, reduction_factor: 3}"),
    Method("threshold", "ours", "threshold {lower: 1.5/classes (0.15 digits, 0.375 classification), warmup_steps: 3}"),
    Method("patient_median", "ours", "patient {patience: 2, pruner: median {min_trials: 5, warmup_steps: 2}}"),
    Method("optuna-none", "optuna", "NopPruner()", "none"),
    Method("optuna-median", "optuna", "MedianPruner(n_startup_trials=5, n_warmup_steps=2)", "median"),
    Method("optuna-successive_halving", "optuna", "SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)",
           "successive_halving"),
    Method("optuna-hyperband", "optuna", "HyperbandPruner(min_resource=1, max_resource=<epochs>, "
           "reduction_factor=3)", "hyperband"),
)}
#: Variants of the issue's methods, run only when --methods names them.
VARIANTS = ("successive_halving_rate1",)
DEFAULT_METHODS = [m for m in METHODS if m not in VARIANTS]
BASELINE = {"ours": "none", "optuna": "optuna-none"}
#: What replay runs: the counterpart pairs and one no-pruning run (the same trials for both sides).
REPLAY_METHODS = ("none", "median", "successive_halving", "hyperband", "optuna-median", "optuna-successive_halving",
                  "optuna-hyperband", *VARIANTS)
REPLAY_SAMPLER = "random (suggest_api), seed = the run's seed; the same params enqueued on both sides"
#: Relative cost, to start the long runs first (so no process idles at the end).
COST = {"none": 1.0, "optuna-none": 1.0, "threshold": 0.95, "patient_median": 0.9, "median": 0.6,
        "optuna-median": 0.6, "percentile25": 0.5, "hyperband": 0.45, "optuna-hyperband": 0.45,
        "successive_halving": 0.35, "optuna-successive_halving": 0.35, "successive_halving_rate1": 0.45}


# --- one run: a study of `trials` trials for one (dataset, method, seed) --------------------------------


@dataclass(frozen=True)
class Task:
    dataset: str
    method: str
    seed: int
    trials: int
    epochs: int
    #: "own": each side suggests with its own sampler (the issue's comparison, samplers included); "replay":
    #: both sides train the same fixed sequence of random trials, so only the pruner differs.
    mode: str = "own"


@dataclass
class Trained:
    """One trial as the benchmark counts it."""

    number: int
    state: str  # completed | pruned | failed
    epochs: int  # epochs trained (= reports made)
    val_accuracy: float | None  # completed: the final validation accuracy; pruned: the last reported one
    test_accuracy: float | None  # completed trials only (the trainer measures it at the end)
    params: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # why it was pruned, when the pruner said
    curve: list[float] = field(default_factory=list)  # the validation accuracy reported after each epoch


@dataclass
class Outcome:
    task: Task
    trials: list[Trained] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: This process's CPU time for the run (one thread): what the wall time is, less other load on the machine.
    cpu_seconds: float = 0.0
    #: Seconds in the suggester (ask, and Optuna's tell) and in the pruner (report and should_prune).
    ask_seconds: float = 0.0
    report_seconds: float = 0.0
    pruner: Any = None  # ours: the create body's pruner; Optuna: its class name
    error: str | None = None

    @property
    def epochs(self) -> int:
        return sum(t.epochs for t in self.trials)

    def best(self) -> Trained | None:
        """The completed trial with the highest validation accuracy (the lowest number among ties)."""
        done = [t for t in self.trials if t.state == "completed" and t.val_accuracy is not None]
        return max(done, key=lambda t: (t.val_accuracy, -t.number)) if done else None


def train_trial(params: Mapping[str, Any], data: Any, *, epochs: int, seed: int,
                report: Callable[[int, float], bool]) -> Trained:
    """The objective of both sides: train `epochs` epochs, asking `report` after each whether to stop.

    Counts the epochs through its own report hook, so it needs only train()'s documented contract (report
    after each epoch, TrialPruned when told to stop, Diverged when the loss is no longer finite).
    """
    from suggest_client.errors import TrialPruned
    from suggest_client.torch import Diverged, resolve_params, train

    seen: list[float] = []

    def hook(epoch: int, val_accuracy: float) -> bool:
        seen.append(val_accuracy)
        return report(epoch, val_accuracy)

    full = resolve_params(params, {"epochs": epochs})
    try:
        result = train(full, data, device="cpu", seed=seed, report=hook)
    except TrialPruned as pruned:
        return Trained(-1, "pruned", len(seen), seen[-1] if seen else None, None, dict(params), str(pruned), seen)
    except Diverged:
        return Trained(-1, "failed", len(seen), None, None, dict(params), None, seen)
    return Trained(-1, "completed", len(seen), float(result.val_accuracy), float(result.test_accuracy),
                   dict(params), None, seen)


def tuned_space() -> dict[str, Any]:
    """The trainer's default space without `epochs`, which the benchmark fixes (as `suggest-train --epochs`)."""
    from suggest_client.torch import load_space, without_params

    return without_params(load_space(), ["epochs"])


_REPLAY_CACHE: dict[tuple[int, int], list[dict[str, Any]]] = {}


def replay_params(seed: int, trials: int) -> list[dict[str, Any]]:
    """The fixed trials of a replay run: our random suggester's first `trials` points for `seed`."""
    from workloads.pruned_study import suggested_params

    if (seed, trials) not in _REPLAY_CACHE:
        with scratch_database() as sessions:
            _REPLAY_CACHE[(seed, trials)] = suggested_params(sessions, name=f"replay-{seed}", space=tuned_space(),
                                                             suggester="random", count=trials, seed=seed)
    return _REPLAY_CACHE[(seed, trials)]


def run_ours(task: Task, outcome: Outcome) -> None:
    from suggest_api.domain import TrialState

    data = load_dataset(task.dataset, task.seed)
    pruner = our_pruner(task.method, task.epochs, data.n_classes)
    outcome.pruner = pruner
    states = {"completed": TrialState.COMPLETED, "pruned": TrialState.PRUNED, "failed": TrialState.FAILED}
    ended: dict[int, Trained] = {}

    def evaluate(number: int, params: Mapping[str, Any], report: ReportFn) -> Evaluated:
        trained = train_trial(params, data, epochs=task.epochs, seed=task.seed + number,
                              report=lambda step, value: report(step, value).prune)
        trained.number = number
        ended[number] = trained
        value = None if trained.state == "failed" else trained.val_accuracy
        return Evaluated(states[trained.state], value)

    replay = task.mode == "replay"
    queued = replay_params(task.seed, task.trials) if replay else []
    started = time.perf_counter()
    with scratch_database() as sessions:
        run = run_pruned_study(sessions, name=f"{task.method}-{task.dataset}-{task.seed}", space=tuned_space(),
                               evaluate=evaluate, suggester="random" if replay else SUGGESTER, pruner=pruner,
                               budget=task.trials, seed=task.seed, queued=queued)
    outcome.wall_seconds = time.perf_counter() - started
    outcome.ask_seconds, outcome.report_seconds = run.ask_seconds, run.report_seconds
    for record in run.trials:
        trained = ended[record.number]
        trained.reason = record.prune_reason or trained.reason
        outcome.trials.append(trained)


def run_optuna(task: Task, outcome: Outcome) -> None:
    import optuna

    data = load_dataset(task.dataset, task.seed)
    space = tuned_space()
    pruner = optuna_pruner(task.method, task.epochs)
    outcome.pruner = type(pruner).__name__
    states = {"completed": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED,
              "failed": optuna.trial.TrialState.FAIL}
    replay = task.mode == "replay"
    queued = replay_params(task.seed, task.trials) if replay else []
    started = time.perf_counter()
    sampler = optuna.samplers.RandomSampler(seed=task.seed) if replay else optuna.samplers.TPESampler(seed=task.seed)
    # A fixed study name: HyperbandPruner derives a trial's bracket from it, so the run repeats exactly.
    study = optuna.create_study(study_name=f"{task.method}-{task.dataset}-{task.seed}", direction="maximize",
                                sampler=sampler, pruner=pruner)
    for params in queued:
        study.enqueue_trial(params)
    for _ in range(task.trials):
        began = time.perf_counter()
        trial = study.ask()
        params = suggest_in_optuna(trial, space)
        outcome.ask_seconds += time.perf_counter() - began

        def report(step: int, value: float, trial: Any = trial) -> bool:
            began = time.perf_counter()
            trial.report(value, step)
            prune = bool(trial.should_prune())
            outcome.report_seconds += time.perf_counter() - began
            return prune

        trained = train_trial(params, data, epochs=task.epochs, seed=task.seed + trial.number, report=report)
        trained.number = trial.number
        began = time.perf_counter()
        study.tell(trial, trained.val_accuracy if trained.state == "completed" else None,
                   state=states[trained.state])
        outcome.ask_seconds += time.perf_counter() - began
        outcome.trials.append(trained)
    outcome.wall_seconds = time.perf_counter() - started


def init_worker() -> None:
    """One thread per process for torch and BLAS (the variables are set by the parent before this process
    imported anything), CPU kernels deterministic, Optuna quiet."""
    warnings.filterwarnings("ignore", module="optuna")
    import optuna
    import torch

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    warm_up()


def warm_up() -> None:
    """Pay the one-time costs (lazy imports, torch's first kernels, the suggester's modules) before any run
    is timed, so a process's first run is not slower than its others."""
    import suggest_api.suggesters.registry  # noqa: F401  (the bayesian suggester and its scipy)

    data = load_dataset("digits", 0)
    train_trial({"batch_size": 128}, data, epochs=1, seed=0, report=lambda step, value: False)
    _DATA_CACHE.clear()


def run_task(task: Task) -> Outcome:
    """One study; an exception becomes the outcome's error, and the other runs go on."""
    import torch

    outcome = Outcome(task)
    torch.manual_seed(task.seed)
    np.random.seed(task.seed)
    cpu = time.process_time()
    try:
        (run_ours if METHODS[task.method].side == "ours" else run_optuna)(task, outcome)
    except Exception as exc:  # listed under FAILED
        last = traceback.extract_tb(exc.__traceback__)[-1]
        outcome.error = f"{type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})"[:400]
    outcome.cpu_seconds = time.process_time() - cpu
    return outcome


# --- statistics -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """Mean over seeds, sample standard deviation (0 for one seed), min and max."""

    mean: float
    sd: float
    low: float
    high: float

    @staticmethod
    def of(values: Sequence[float]) -> Stat:
        if not values:
            return Stat(math.nan, math.nan, math.nan, math.nan)
        array = np.asarray(values, dtype=float)
        sd = float(array.std(ddof=1)) if len(array) > 1 else 0.0
        return Stat(float(array.mean()), sd, float(array.min()), float(array.max()))


@dataclass
class Row:
    mode: str
    dataset: str
    method: str
    side: str
    seeds: int
    epochs: Stat
    wall_seconds: Stat
    cpu_seconds: Stat
    best_val: Stat
    test_of_best: Stat
    pruned: Stat  # trials pruned per run
    failed: Stat
    overhead_ms_per_trial: float  # suggesting plus pruning decisions, per trial
    #: Against the side's own no-pruning run (NaN for the baseline itself or without one).
    epochs_ratio: float = math.nan
    wall_ratio: float = math.nan
    cpu_ratio: float = math.nan
    #: Paired by seed: this method's best val minus the baseline's, in points.
    val_delta_points: Stat = field(default_factory=lambda: Stat.of([]))


def best_val(outcome: Outcome) -> float:
    """The run's best validation accuracy of a completed trial (NaN: none completed)."""
    best = outcome.best()
    return math.nan if best is None or best.val_accuracy is None else best.val_accuracy


def baseline_of(method: str, mode: str) -> str:
    """The no-pruning run a method's savings are counted against: its side's own, or in replay the shared one."""
    return "none" if mode == "replay" else BASELINE[METHODS[method].side]


def best_number(outcome: Outcome) -> int | None:
    best = outcome.best()
    return None if best is None else best.number


def summarize(outcomes: Sequence[Outcome], dataset: str, methods: Sequence[str], mode: str) -> dict[str, Row]:
    runs = {m: sorted((o for o in outcomes if o.task.dataset == dataset and o.task.method == m
                       and o.task.mode == mode and o.error is None), key=lambda o: o.task.seed) for m in methods}
    rows: dict[str, Row] = {}
    for method, done in runs.items():
        if not done:
            continue
        best = [o.best() for o in done]
        trials = sum(len(o.trials) for o in done)
        rows[method] = Row(
            mode, dataset, method, METHODS[method].side, len(done),
            epochs=Stat.of([o.epochs for o in done]), wall_seconds=Stat.of([o.wall_seconds for o in done]),
            cpu_seconds=Stat.of([o.cpu_seconds for o in done]),
            best_val=Stat.of([b.val_accuracy or 0.0 for b in best if b is not None]),
            test_of_best=Stat.of([b.test_accuracy or 0.0 for b in best if b is not None]),
            pruned=Stat.of([sum(t.state == "pruned" for t in o.trials) for o in done]),
            failed=Stat.of([sum(t.state == "failed" for t in o.trials) for o in done]),
            overhead_ms_per_trial=1000.0 * sum(o.ask_seconds + o.report_seconds for o in done) / max(trials, 1))
    for method, row in rows.items():
        baseline = rows.get(baseline_of(method, mode))
        if baseline is None:
            continue
        row.epochs_ratio = row.epochs.mean / baseline.epochs.mean
        row.wall_ratio = row.wall_seconds.mean / baseline.wall_seconds.mean
        row.cpu_ratio = row.cpu_seconds.mean / baseline.cpu_seconds.mean
        mine = {o.task.seed: best_val(o) for o in runs[method]}
        theirs = {o.task.seed: best_val(o) for o in runs[baseline_of(method, mode)]}
        row.val_delta_points = Stat.of([100.0 * (mine[s] - theirs[s]) for s in sorted(mine.keys() & theirs.keys())
                                        if not (math.isnan(mine[s]) or math.isnan(theirs[s]))])
    return rows


@dataclass(frozen=True)
class Comparison:
    """One of our pruners against its Optuna counterpart, each relative to its own no-pruning run."""

    mode: str
    dataset: str
    ours: str
    optuna: str
    ours_epochs_ratio: float
    optuna_epochs_ratio: float
    #: Our fraction of epochs over Optuna's: below 1 means ours saved more (relative to each baseline).
    relative_epochs: float
    #: Our mean best val minus Optuna's, in points (absolute: the samplers differ, so it includes them).
    best_val_gap_points: float
    #: Our loss against our baseline minus Optuna's against its own, in points (positive: ours lost less).
    val_delta_gap_points: float
    wall_ratio: float  # our mean wall time over Optuna's
    saves_at_least_as_much: bool
    equal_or_better_accuracy: bool

    @property
    def passed(self) -> bool:
        return self.saves_at_least_as_much and self.equal_or_better_accuracy


def compare(rows: Mapping[str, Row]) -> list[Comparison]:
    found = []
    for method in METHODS.values():
        ours_name = method.counterpart_of
        if ours_name is None or ours_name == "none" or method.name not in rows or ours_name not in rows:
            continue
        ours, theirs = rows[ours_name], rows[method.name]
        if math.isnan(ours.epochs_ratio) or math.isnan(theirs.epochs_ratio):  # a side without its baseline
            continue
        found.append(Comparison(
            ours.mode, ours.dataset, ours_name, method.name, ours.epochs_ratio, theirs.epochs_ratio,
            ours.epochs_ratio / theirs.epochs_ratio, 100.0 * (ours.best_val.mean - theirs.best_val.mean),
            ours.val_delta_points.mean - theirs.val_delta_points.mean,
            ours.wall_seconds.mean / theirs.wall_seconds.mean,
            saves_at_least_as_much=ours.epochs_ratio <= theirs.epochs_ratio,
            equal_or_better_accuracy=ours.best_val.mean >= theirs.best_val.mean))
    return found


@dataclass(frozen=True)
class Target:
    dataset: str
    name: str
    passed: bool
    detail: str


def targets(rows: Mapping[str, Row], comparisons: Sequence[Comparison], dataset: str,
            replayed: Sequence[Comparison]) -> list[Target]:
    """Target 1: ASHA or Hyperband trains <= 40 % of the epochs of no pruning with its best val within 0.5
    points. Target 2: each of our pruners saves at least as much as Optuna's counterpart at equal or better
    accuracy, as the issue states it (each side with its own sampler) and on the same trials (replay). All
    judged on means over seeds."""
    found: list[Target] = []
    baseline = rows.get("none")
    candidates = [rows[m] for m in ("successive_halving", "hyperband") if m in rows]
    if baseline is not None and candidates:
        parts, any_passed = [], False
        for row in candidates:
            loss = 100.0 * (baseline.best_val.mean - row.best_val.mean)
            ok = row.epochs_ratio <= EPOCHS_TARGET and loss <= ACCURACY_TOLERANCE_POINTS
            any_passed |= ok
            parts.append(f"{row.method}: {row.epochs_ratio:.1%} of the epochs, best val "
                         f"{-loss:+.2f} points ({'pass' if ok else 'fail'})")
        found.append(Target(dataset, f"ASHA or Hyperband <= {EPOCHS_TARGET:.0%} of no pruning's epochs, best val "
                                     f"within {ACCURACY_TOLERANCE_POINTS} points", any_passed, "; ".join(parts)))
    for label, group in (("own samplers", comparisons), ("same trials", replayed)):
        for c in group:
            why = (f"epochs {c.ours_epochs_ratio:.1%} vs {c.optuna_epochs_ratio:.1%} of each baseline "
                   f"({'saves at least as much' if c.saves_at_least_as_much else 'saves less'}), best val "
                   f"{c.best_val_gap_points:+.2f} points "
                   f"({'equal or better' if c.equal_or_better_accuracy else 'worse'})")
            found.append(Target(dataset, f"{c.ours} vs {c.optuna} ({label})", c.passed, why))
    return found


# --- report ---------------------------------------------------------------------------------------------


def pm(stat: Stat, scale: float = 1.0, digits: int = 1) -> str:
    if math.isnan(stat.mean):
        return "-"
    return f"{scale * stat.mean:.{digits}f} ± {scale * stat.sd:.{digits}f}"


def ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def markdown_table(headers: Sequence[str], cells: Sequence[Sequence[str]], left: int) -> list[str]:
    align = ["---"] * left + ["---:"] * (len(headers) - left)
    return ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(c) + " |" for c in cells)]


def render(headers: Sequence[str], cells: Sequence[Sequence[str]], left: int, markdown: bool) -> list[str]:
    return markdown_table(headers, cells, left) if markdown else table(headers, cells, left=left)


def environment() -> list[str]:
    import optuna
    import sklearn
    import torch

    return [f"machine: {os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, optuna {optuna.__version__}, "
            f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, suggest-api {version('suggest-api')}"]


def mapping_note(epochs: int) -> str | None:
    """Whether suggest-train's --pruner mapping (being edited elsewhere) still gives the options used here."""
    try:
        from suggest_client.torch.cli import pruner_spec

        theirs = {"asha": pruner_spec("asha", epochs), "hyperband": pruner_spec("hyperband", epochs),
                  "median": pruner_spec("median", epochs)}
    except Exception as exc:  # the trainer's CLI changed shape: say so, the benchmark does not depend on it
        return f"could not read suggest-train's pruner mapping ({type(exc).__name__}: {exc})"
    mine = {"asha": our_pruner("successive_halving", epochs, 10), "hyperband": our_pruner("hyperband", epochs, 10),
            "median": our_pruner("median", epochs, 10)}
    differ = [k for k in mine if theirs[k] != mine[k]]
    if not differ:
        return None
    return "suggest-train's --pruner " + ", ".join(f"{k} is now {theirs[k]}" for k in differ) + \
        " (this run used the options above)"


def rows_table(rows: Mapping[str, Row], markdown: bool) -> list[str]:
    headers = ["method", "side", "epochs", "epochs x", "wall s", "wall x", "cpu x", "best val %", "Δval pts",
               "test of best %", "pruned", "ms/trial"]
    cells = [[r.method, r.side, pm(r.epochs, digits=0), ratio(r.epochs_ratio), pm(r.wall_seconds),
              ratio(r.wall_ratio), ratio(r.cpu_ratio), pm(r.best_val, 100.0, 2), pm(r.val_delta_points, digits=2),
              pm(r.test_of_best, 100.0, 2), pm(r.pruned), f"{r.overhead_ms_per_trial:.0f}"] for r in rows.values()]
    return render(headers, cells, 2, markdown) + [""]


def comparisons_table(comparisons: Sequence[Comparison], markdown: bool) -> list[str]:
    headers = ["ours", "optuna", "our epochs x", "optuna epochs x", "ours / optuna", "best val gap pts",
               "Δval gap pts", "wall ours / optuna"]
    cells = [[c.ours, c.optuna, ratio(c.ours_epochs_ratio), ratio(c.optuna_epochs_ratio), ratio(c.relative_epochs),
              f"{c.best_val_gap_points:+.2f}", f"{c.val_delta_gap_points:+.2f}", ratio(c.wall_ratio)]
             for c in comparisons]
    return render(headers, cells, 2, markdown) + [""]


def report(outcomes: Sequence[Outcome], args: argparse.Namespace, elapsed: float,
           markdown: bool) -> tuple[list[str], dict[str, Any]]:
    h1, h2, bullet = ("# ", "### ", "- ") if markdown else ("", "", "")
    lines = [f"{h1}Pruning: epochs saved against accuracy kept ({'quick run' if args.quick else 'full run'})", ""]
    lines += [bullet + line for line in environment()]
    lines += [f"{bullet}{args.trials} trials x {args.epochs} epochs per study, seeds 0..{args.seeds - 1}, "
              f"{args.jobs} processes, wall time {elapsed:.0f} s",
              f"{bullet}own samplers: ours `{SUGGESTER}` through the service's create/ask/report/tell on scratch "
              f"SQLite, Optuna {OPTUNA_SAMPLER} in an in-memory study; replay (same trials): {REPLAY_SAMPLER}; "
              "trial N trains with seed + N everywhere",
              f"{bullet}objective: suggest_client.torch.train on the default space minus epochs, validation accuracy "
              "after each epoch (maximize); best val = the highest final val accuracy of a completed trial, "
              "test = that trial's test accuracy; mean ± sd over seeds",
              f"{bullet}epochs x, wall x, cpu x: the method's epochs, wall time and CPU time (its process's, one "
              "thread) over its no-pruning run (own samplers: its side's none / optuna-none; replay: the shared "
              "none); Δval: best val paired by seed against that run, in points; ms/trial: time in ask/tell and "
              "report/should_prune per trial; best val gap: ours minus Optuna's, in points; Δval gap: our Δval "
              "minus Optuna's"]
    for dataset in args.datasets:
        lines.append(f"{bullet}{dataset}: {describe_dataset(dataset)}")
    note = mapping_note(args.epochs)
    if note:
        lines.append(f"{bullet}NOTE: {note}")
    lines.append("")
    summary: dict[str, Any] = {"rows": [], "comparisons": [], "targets": []}
    for dataset in args.datasets:
        rows = summarize(outcomes, dataset, args.methods, "own")
        comparisons = compare(rows)
        replay_rows = summarize(outcomes, dataset, args.replay_methods, "replay")
        replayed = compare(replay_rows)
        lines += [f"{h2}{dataset}: each side with its own sampler", ""] + rows_table(rows, markdown)
        if comparisons:
            lines += [f"{h2}{dataset}: ours against Optuna's counterpart, own samplers (each against its own "
                      "no-pruning run)", ""] + comparisons_table(comparisons, markdown)
        if replay_rows:
            lines += [f"{h2}{dataset}: replay, the same random trials on both sides (only the pruner differs)", ""]
            lines += rows_table(replay_rows, markdown)
        if replayed:
            lines += [f"{h2}{dataset}: ours against Optuna's counterpart, same trials", ""]
            lines += comparisons_table(replayed, markdown)
        found = targets(rows, comparisons, dataset, replayed)
        lines += [f"{h2}{dataset}: targets", ""]
        lines += [f"{bullet}{'PASS' if t.passed else 'FAIL'}  {t.name}: {t.detail}" for t in found] + [""]
        summary["rows"] += [asdict(r) for r in [*rows.values(), *replay_rows.values()]]
        summary["comparisons"] += [asdict(c) | {"passed": c.passed} for c in [*comparisons, *replayed]]
        summary["targets"] += [asdict(t) for t in found]
    lines += [f"{h2}Methods", ""]
    lines += [f"{bullet}{m}: {METHODS[m].side}, {METHODS[m].description}" for m in args.methods] + [""]
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        lines += [f"{h2}FAILED ({len(failed)} runs)", ""]
        lines += [f"{bullet}{o.task.mode} / {o.task.method} / {o.task.dataset} / seed {o.task.seed}: {o.error}"
                  for o in failed]
        lines.append("")
    return lines, summary


def results_json(outcomes: Sequence[Outcome], args: argparse.Namespace, elapsed: float,
                 summary: Mapping[str, Any]) -> dict[str, Any]:
    def finite(value: Any) -> Any:
        """JSON has no NaN: null instead; six decimals are plenty (an accuracy moves by 1/359 at least)."""
        if isinstance(value, float):
            return round(value, 6) if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [finite(v) for v in value]
        return value

    document: dict[str, Any] = finite({
        "benchmark": "pruning", "quick": args.quick,
        "created": getattr(args, "created", None) or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": environment(), "elapsed_seconds": elapsed,
        "trial_columns": [*TRIAL_COLUMNS, *(DETAIL_COLUMNS if args.trial_details else ())],
        "config": {"datasets": {d: describe_dataset(d) for d in args.datasets}, "seeds": args.seeds,
                   "trials": args.trials, "epochs": args.epochs, "jobs": args.jobs, "suggester": SUGGESTER,
                   "optuna_sampler": OPTUNA_SAMPLER, "replay_sampler": REPLAY_SAMPLER,
                   "replay_methods": args.replay_methods, "training_seed": "seed + trial number",
                   "methods": {m: asdict(METHODS[m]) for m in args.methods}},
        **summary,
        "runs": [{"mode": o.task.mode, "dataset": o.task.dataset, "method": o.task.method, "seed": o.task.seed,
                  "pruner": o.pruner, "error": o.error, "epochs": o.epochs, "wall_seconds": o.wall_seconds,
                  "cpu_seconds": o.cpu_seconds, "ask_seconds": o.ask_seconds, "report_seconds": o.report_seconds,
                  "best_trial": best_number(o),
                  "trials": [trial_row(t, args.trial_details) for t in o.trials]} for o in outcomes],
    })
    return document


#: A trial in the results JSON: one short row (the report needs no more), plus with --trial-details its
#: params, the pruner's reason and the validation curve (to replay other pruners on it offline).
TRIAL_COLUMNS = ("number", "state", "epochs", "val_accuracy", "test_accuracy")
DETAIL_COLUMNS = ("params", "reason", "curve")


def trial_row(trial: Trained, details: bool) -> list[Any]:
    return [getattr(trial, c) for c in (*TRIAL_COLUMNS, *(DETAIL_COLUMNS if details else ()))]


def json_text(document: Mapping[str, Any]) -> str:
    """Indented, except one line per run: the file stays readable and diffable without a line per number."""
    runs = document.get("runs", [])
    head = json.dumps({k: v for k, v in document.items() if k != "runs"}, indent=1, ensure_ascii=False)
    body = ",\n".join("  " + json.dumps(run, ensure_ascii=False) for run in runs)
    return head[:-2] + ',\n "runs": [\n' + body + "\n ]\n}\n"


# --- command line ---------------------------------------------------------------------------------------




def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 20 trials x 10 epochs, digits "
                                                             "(each unless given)")
    parser.add_argument("--datasets", type=comma_list(DATASETS), help="comma list of digits, classification "
                                                                      "(default: both)")
    parser.add_argument("--methods", type=comma_list(list(METHODS)), default=DEFAULT_METHODS,
                        help=f"comma list of {', '.join(METHODS)} (default: all but {', '.join(VARIANTS)})")
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--trials", type=int, help="trials per study (default 40)")
    parser.add_argument("--epochs", type=int, help="epochs per trial (default 20)")
    parser.add_argument("--no-replay", action="store_true",
                        help="skip the replay runs (the pruner pairs on the same random trials)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes, one torch thread each (default: 2, or 1 on one core)")
    parser.add_argument("--json", type=Path, help="results JSON (default benchmarks/results/pruning.json, "
                                                  "pruning-quick.json for --quick)")
    parser.add_argument("--markdown", type=Path, help="report in Markdown (default: beside the JSON, .md)")
    parser.add_argument("--trial-details", action="store_true",
                        help="also write each trial's params, prune reason and validation curve to the JSON")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="train nothing: report again from the runs of an earlier results JSON (and refresh its "
                             "summary and Markdown)")
    args = parser.parse_args(argv)
    if args.report is not None:
        return args
    defaults = QUICK if args.quick else FULL
    for name in ("seeds", "trials", "epochs", "datasets"):
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
    if min(args.seeds, args.trials, args.epochs, args.jobs) < 1:
        parser.error("--seeds, --trials, --epochs and --jobs must be at least 1")
    args.replay_methods = [] if args.no_replay else [m for m in REPLAY_METHODS if m in args.methods]
    args.json = args.json or RESULTS / ("pruning-quick.json" if args.quick else "pruning.json")
    args.markdown = args.markdown or args.json.with_suffix(".md")
    return args


def load_results(path: Path) -> tuple[argparse.Namespace, list[Outcome], float]:
    """The options and outcomes an earlier run wrote, to report them again without training."""
    document = json.loads(path.read_text(encoding="utf-8"))
    config = document["config"]
    args = argparse.Namespace(
        quick=document["quick"], datasets=list(config["datasets"]), seeds=config["seeds"], trials=config["trials"],
        epochs=config["epochs"], jobs=config["jobs"], methods=list(config["methods"]),
        replay_methods=list(config.get("replay_methods", [])), json=path, markdown=path.with_suffix(".md"),
        trial_details=len(document.get("trial_columns", ())) > len(TRIAL_COLUMNS), created=document.get("created"))
    outcomes = []
    for run in document["runs"]:
        task = Task(run["dataset"], run["method"], run["seed"], args.trials, args.epochs, run.get("mode", "own"))
        columns = document.get("trial_columns", TRIAL_COLUMNS)
        trials = [Trained(**(t if isinstance(t, dict) else dict(zip(columns, t, strict=True)))) for t in run["trials"]]
        outcomes.append(Outcome(task, trials, run["wall_seconds"],
                                run.get("cpu_seconds") or 0.0, run["ask_seconds"], run["report_seconds"],
                                run["pruner"], run["error"]))
    return args, outcomes, float(document["elapsed_seconds"])


def write_results(outcomes: Sequence[Outcome], args: argparse.Namespace, elapsed: float) -> None:
    text, summary = report(outcomes, args, elapsed, markdown=False)
    print("\n".join(text))
    md, _ = report(outcomes, args, elapsed, markdown=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text("\n".join(md) + "\n", encoding="utf-8")
    args.json.write_text(json_text(results_json(outcomes, args, elapsed, summary)), encoding="utf-8")
    log(f"wrote {args.json} and {args.markdown} ({elapsed:.0f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        args, loaded, elapsed = load_results(args.report)
        write_results(loaded, args, elapsed)
        return 1 if any(o.error is not None for o in loaded) else 0
    tasks = [Task(d, m, s, args.trials, args.epochs, mode) for mode, methods in (("own", args.methods),
                                                                                   ("replay", args.replay_methods))
             for d in args.datasets for m in methods for s in range(args.seeds)]
    tasks.sort(key=lambda t: (-COST.get(t.method, 1.0) * (2.0 if t.dataset == "classification" else 1.0),
                              t.mode, t.dataset, t.method, t.seed))
    for variable in THREAD_VARIABLES:  # inherited by the spawned workers before they import numpy or torch
        os.environ[variable] = "1"
    log(f"{len(tasks)} studies of {args.trials} trials x {args.epochs} epochs: {len(args.methods)} methods "
        f"(and {len(args.replay_methods)} replayed) x {len(args.datasets)} datasets x {args.seeds} seeds, "
        f"{args.jobs} processes")
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    with multiprocessing.get_context("spawn").Pool(args.jobs, initializer=init_worker) as pool:
        for done, outcome in enumerate(pool.imap_unordered(run_task, tasks), start=1):
            outcomes.append(outcome)
            t, best = outcome.task, outcome.best()
            what = (f"FAILED {outcome.error}" if outcome.error is not None else
                    f"{outcome.epochs} epochs, best val {best.val_accuracy if best else float('nan'):.4f}, "
                    f"{sum(x.state == 'pruned' for x in outcome.trials)} pruned")
            log(f"[{done}/{len(tasks)}] {t.mode} {t.dataset} {t.method} seed {t.seed}: {what} "
                f"({outcome.wall_seconds:.1f} s)")
    elapsed = time.perf_counter() - started
    write_results(outcomes, args, elapsed)
    return 1 if any(o.error is not None for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
