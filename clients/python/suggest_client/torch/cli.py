"""`suggest-train`: tune the reference network's hyperparameters with a suggest_api study.

    suggest-train                                 # digits, the default space, 20 trials, bayesian, hyperband
    suggest-train --data my.csv --trials 50 --workers 4 --space my_space.json --pruner median
    suggest-train --objectives val_accuracy,n_params,latency_ms   # a multi-objective study, no pruner

Each trial trains on this machine (CUDA, else Apple MPS, else the CPU; `--device` chooses) and
reports its validation accuracy after every epoch; the study's pruner (`--pruner`) may stop it
early, and the trial is then told pruned. A trial that runs to the end is told its final
validation accuracy; the test accuracy is stored as trial metadata only. Ends with a table of the
best trials and the epochs trained against the epochs asked for. Ctrl-C fails the running trials,
prints the table so far and exits 130.

With `--objectives` naming more metrics than val_accuracy (n_params, latency_ms, train_seconds),
the study is multi-objective: each trial is told every metric, nothing is pruned, and the summary is
the Pareto front.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from suggest_client.client import Client
from suggest_client.errors import Conflict, SuggestError, TrialPruned
from suggest_client.study import ParetoFront, Study
from suggest_client.torch import objectives as metrics
from suggest_client.torch.data import Splits, load_data, load_digits_splits
from suggest_client.torch.device import pick_device, threads_per_worker
from suggest_client.torch.space import DEFAULT_PARAMS, SpaceError, load_space, resolve_params, without_params
from suggest_client.torch.training import train
from suggest_client.trial import Trial

OBJECTIVE = {"name": "val_accuracy", "goal": "maximize"}
TOP = 5  # trials in the summary
#: `--pruner` when none is given; one place to change it once benchmarks say which pays best.
DEFAULT_PRUNER = "hyperband"
PRUNER_CHOICES = ("median", "asha", "hyperband", "none")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:  # before any trial started (loading data, creating the study)
        print("\nsuggest-train: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    names: list[str] = args.objectives
    multi = len(names) > 1
    if multi and args.pruner_given and args.pruner != "none":
        print(f"suggest-train: --pruner {args.pruner} cannot be used with several objectives ({', '.join(names)}): "
              "pruners compare one value per epoch, and the service refuses them for a multi-objective study; "
              "leave --pruner out (or give --pruner none)", file=sys.stderr)
        return 2
    choice = "none" if multi else args.pruner
    try:
        space = load_space(args.space)
        fixed = {"epochs": args.epochs} if args.epochs is not None else {}
        if fixed:
            space = without_params(space, fixed)
        pruner = pruner_spec(choice, max_epochs(space, fixed))
        device = pick_device(args.device)
        data = load_data(args.data, label_column=args.label_column, seed=args.seed) if args.data \
            else load_digits_splits(args.seed)
    except (SpaceError, ValueError) as error:
        print(f"suggest-train: {error}", file=sys.stderr)
        return 2
    _seed_globals(args.seed, device, args.workers)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # the client's warnings: a failed trial's error
    print(f"suggest-train: {data.source}: {len(data.y_train)} train, {len(data.y_val)} validation, "
          f"{len(data.y_test)} test rows, {data.n_features} features, {data.n_classes} classes; "
          f"device {device}, {args.workers} worker(s), {torch.get_num_threads()} thread(s) each", flush=True)
    with Client(args.url, args.token) as client:
        try:
            if multi:
                study = client.create_study(args.study, space, objectives=metrics.study_objectives(names),
                                            suggester=args.suggester, seed=args.seed, pruner=pruner)
            else:
                study = client.create_study(args.study, space, objective=OBJECTIVE, suggester=args.suggester,
                                            seed=args.seed, pruner=pruner)
        except Conflict as error:
            print(f"suggest-train: {error}\nA study named {args.study!r} exists with another definition "
                  "(space, objectives, suggester, pruner or seed; --epochs removes epochs from the space): pick "
                  "another --study.", file=sys.stderr)
            return 2
        except SuggestError as error:
            print(f"suggest-train: {error}", file=sys.stderr)
            return 1
        print(f"suggest-train: study {study.name}: suggester {args.suggester}, pruner {describe_pruner(pruner)}"
              + (f", objectives {metrics.describe(names)}" if multi else ""), flush=True)
        runner = Runner(study, data, fixed, device, args.seed, progress=not args.no_progress and sys.stderr.isatty(),
                        objectives=names)
        interrupted = False
        try:
            finished = study.optimize(runner.objective, args.trials, n_workers=args.workers)
        except KeyboardInterrupt:
            interrupted, finished = True, []
            print("\nsuggest-train: interrupted; the running trials were told failed", file=sys.stderr)
        except SuggestError as error:
            print(f"suggest-train: {error}", file=sys.stderr)
            return 1
        try:
            trials = study.trials()
            front = study.pareto() if multi else None
        except SuggestError as error:
            print(f"suggest-train: could not read the trials for the summary: {error}", file=sys.stderr)
            return 130 if interrupted else 1
    if front is not None:
        print(metrics.pareto_table(study.name, front, names, _counts(trials)))
    else:
        print(summary_table(study.name, trials))
    print(epochs_line(trials, fixed))
    if args.json_summary:
        summary = summary_json(study, trials, interrupted, fixed=fixed, pruner=pruner, front=front, objectives=names)
        Path(args.json_summary).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if interrupted:
        return 130
    if finished and all(t.state == "failed" for t in finished):
        print("suggest-train: every trial failed (see the errors above)", file=sys.stderr)
        return 1
    return 0


class Runner:
    """The objective the study optimizes, with what every trial shares: data, device, progress bars."""

    def __init__(self, study: Study, data: Splits, fixed: Mapping[str, Any], device: torch.device, seed: int,
                 *, progress: bool, objectives: Sequence[str] = (metrics.ACCURACY,)) -> None:
        self.study = study
        self.objectives = list(objectives)
        self.data = data
        self.fixed = dict(fixed)
        self.device = device
        self.seed = seed
        self.progress = progress
        self._lock = threading.Lock()
        self._free_rows: list[int] = []
        self._rows = 0

    def objective(self, trial: Trial) -> float | dict[str, float]:
        params = resolve_params(trial.params, self.fixed)
        seed = self.seed + trial.number
        try:
            with self._bar(trial, params["epochs"]) as bar:
                def on_epoch(epoch: int, loss: float, val_accuracy: float) -> None:
                    bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{val_accuracy:.3f}", refresh=False)
                    bar.update(1)

                # After Ctrl-C the client sets `trial.interrupted` and waits for this thread: stop
                # between batches, since exiting while a thread is inside torch can abort the process.
                # report_decision: TrialPruned then says why the study stopped the trial.
                result = train(params, self.data, device=self.device, seed=seed, report=trial.report_decision,
                               on_epoch=on_epoch, cancel=trial.interrupted)
        except TrialPruned as pruned:
            self._say(f"trial {trial.number} {pruned}")  # the context manager tells it pruned
            raise
        trial.metadata.update(test_accuracy=result.test_accuracy, seed=seed, device=str(self.device),
                              train_seconds=round(result.seconds, 3))
        measured = None
        if len(self.objectives) > 1:
            x_val = torch.as_tensor(self.data.x_val, device=self.device)
            measured = metrics.trial_metrics(self.objectives, result, x_val)
        others = "".join(f", {metrics.COLUMNS[n][0]} {metrics.COLUMNS[n][1].format(v)}"
                         for n, v in (measured or {}).items() if n != metrics.ACCURACY)
        self._say(f"trial {trial.number} completed: val_acc {result.val_accuracy:.4f}, "
                  f"test_acc {result.test_accuracy:.4f}{others} ({len(result.history)} epochs, {result.seconds:.1f} s)")
        return result.val_accuracy if measured is None else measured

    @contextmanager
    def _bar(self, trial: Trial, epochs: int | None) -> Iterator[tqdm[Any]]:
        """A progress bar on a row of its own: one row per worker, reused by its next trial."""
        with self._lock:
            row = self._free_rows.pop(0) if self._free_rows else self._rows
            self._rows = max(self._rows, row + 1)
        try:
            with tqdm(total=epochs, desc=f"trial {trial.number}", unit="epoch", position=row, leave=False,
                      disable=not self.progress, dynamic_ncols=True) as bar:
                yield bar
        finally:
            with self._lock:
                self._free_rows.append(row)
                self._free_rows.sort()

    def _say(self, line: str) -> None:
        tqdm.write(line, file=sys.stdout)
        sys.stdout.flush()


def summary_table(name: str, trials: Sequence[Trial]) -> str:
    """The best completed trials as a plain-text table, with the study's counts above it."""
    counts = _counts(trials)
    lines = [f"study {name}: {counts['total']} trials: {counts['completed']} completed, {counts['pruned']} pruned, "
             f"{counts['failed']} failed, {counts['running']} running"]
    best = best_trials(trials)
    if not best:
        return "\n".join([*lines, "no completed trial yet"])
    lines.append(f"{'trial':>5}  {'val_acc':>7}  {'test_acc':>8}  params")
    for trial in best:
        test = trial.metadata.get("test_accuracy")
        test_text = f"{test:8.4f}" if isinstance(test, (int, float)) else f"{'-':>8}"
        params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        lines.append(f"{trial.number:>5}  {trial.value or 0.0:7.4f}  {test_text}  {params}")
    return "\n".join(lines)


def summary_json(study: Study, trials: Sequence[Trial], interrupted: bool, *, fixed: Mapping[str, Any] | None = None,
                 pruner: Mapping[str, Any] | None = None, front: ParetoFront | None = None,
                 objectives: Sequence[str] = (metrics.ACCURACY,)) -> dict[str, Any]:
    """The counts, pruner and epochs, and the best trials (one objective) or the Pareto front (several)."""
    if front is not None:
        return {"study": study.name, "objectives": metrics.study_objectives(objectives), "interrupted": interrupted,
                "counts": _counts(trials), "pruner": None if pruner is None else dict(pruner),
                "epochs": epoch_counts(trials, fixed), "pareto": metrics.pareto_json(front)}
    return {
        "study": study.name, "objective": OBJECTIVE, "interrupted": interrupted, "counts": _counts(trials),
        "pruner": None if pruner is None else dict(pruner), "epochs": epoch_counts(trials, fixed),
        "best": [{"number": t.number, "value": t.value, "test_accuracy": t.metadata.get("test_accuracy"),
                  "params": t.params} for t in best_trials(trials)],
    }


def pruner_spec(choice: str, epochs: int) -> dict[str, Any] | None:
    """The study's pruner for a `--pruner` choice, for trials of at most `epochs` epochs (one report each).

    asha: successive halving from the first epoch, keeping the best third at epochs 1, 3, 9, ...
    hyperband: brackets of it up to `epochs` (the trainer knows where its trials end, so not "auto").
    median: stop a trial whose best so far is below the median of 5 or more finished trials, from epoch 2.
    """
    if choice == "asha":
        return {"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 3}}
    if choice == "hyperband":
        return {"name": "hyperband", "options": {"min_resource": 1, "max_resource": epochs, "reduction_factor": 3}}
    if choice == "median":
        return {"name": "median", "options": {"min_trials": 5, "warmup_steps": 2}}
    if choice == "none":
        return None
    raise ValueError(f"--pruner must be one of {', '.join(PRUNER_CHOICES)}, not {choice!r}")


def max_epochs(space: Mapping[str, Any], fixed: Mapping[str, Any]) -> int:
    """The most epochs a trial of this sweep trains: `--epochs`, else the space's highest, else the default."""
    if "epochs" in fixed:
        return int(fixed["epochs"])
    for param in space["params"]:
        if param.get("name") != "epochs":
            continue
        values = param.get("choices") if param.get("type") == "categorical" else [param.get("high")]
        numbers = [v for v in values or [] if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            return max(1, int(max(numbers)))
    return int(DEFAULT_PARAMS["epochs"])


def describe_pruner(pruner: Mapping[str, Any] | None) -> str:
    if pruner is None:
        return "none"
    options = " ".join(f"{k}={v}" for k, v in pruner.get("options", {}).items())
    return f"{pruner['name']} ({options})" if options else str(pruner["name"])


def epoch_counts(trials: Sequence[Trial], fixed: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Epochs the finished trials trained (one report each) against the epochs their params asked for.

    `saved_by_pruning` is what the pruned ones did not train: the compute pruning saved.
    """
    trained = planned = saved = 0
    for trial, wanted in _budgets(trials, fixed):
        ran = min(len(trial.intermediate), wanted)
        trained += ran
        planned += wanted
        if trial.state == "pruned":
            saved += wanted - ran
    return {"trained": trained, "planned": planned, "saved_by_pruning": saved}


def epochs_line(trials: Sequence[Trial], fixed: Mapping[str, Any] | None = None) -> str:
    """E.g. "epochs: 14 of 24 trained (8 trials × 3 epochs), 10 saved by pruning (42%)"."""
    budgets = _budgets(trials, fixed)
    if not budgets:
        return "epochs: no trial finished"
    counts = epoch_counts(trials, fixed)
    low, high = min(w for _, w in budgets), max(w for _, w in budgets)
    each = f"× {low} epochs" if low == high else f"of {low} to {high} epochs"
    line = f"epochs: {counts['trained']} of {counts['planned']} trained ({len(budgets)} trials {each})"
    if counts["saved_by_pruning"]:
        share = counts["saved_by_pruning"] / counts["planned"]
        line += f", {counts['saved_by_pruning']} saved by pruning ({share:.0%})"
    return line


def _budgets(trials: Sequence[Trial], fixed: Mapping[str, Any] | None) -> list[tuple[Trial, int]]:
    """The finished trials with the epochs their params asked for (an imported trial the trainer cannot
    read is left out: it is not this sweep's budget)."""
    budgets = []
    for trial in trials:
        if trial.state == "running":
            continue
        try:
            budgets.append((trial, int(resolve_params(trial.params, fixed)["epochs"])))
        except SpaceError:
            continue
    return budgets


def best_trials(trials: Sequence[Trial], top: int = TOP) -> list[Trial]:
    completed = [t for t in trials if t.state == "completed" and t.value is not None]
    return sorted(completed, key=lambda t: (-(t.value or 0.0), t.number))[:top]


def _counts(trials: Sequence[Trial]) -> dict[str, int]:
    counts = {state: 0 for state in ("completed", "pruned", "failed", "running")}
    for trial in trials:
        counts[trial.state] = counts.get(trial.state, 0) + 1
    return {"total": len(trials), **counts}


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _seed_globals(seed: int, device: torch.device, workers: int) -> None:
    """Global state, set once: seeds for anything outside the trainer's own generators, the CPU's
    deterministic kernels, and threads per worker so N workers share the cores instead of each
    taking all of them."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads_per_worker(workers))


class _Given(argparse.Action):
    """Stores the value and notes that it was given: several objectives default to no pruner, and refuse
    only a pruner that was asked for."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def _objectives(text: str) -> list[str]:
    try:
        return metrics.parse_objectives(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    return _at_least(text, 1)


def _count(text: str) -> int:
    return _at_least(text, 0)


def _at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {low} or more, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="suggest-train", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.set_defaults(pruner_given=False)
    service = parser.add_argument_group("service")
    service.add_argument("--url", help="the service (default: $SUGGEST_URL, else http://127.0.0.1:8000)")
    service.add_argument("--token", help="API token (default: $SUGGEST_TOKEN)")
    service.add_argument("--study", default="suggest-train-digits", help="study name (default: %(default)s)")
    service.add_argument("--suggester", default="bayesian",
                         help="random, grid, bayesian or genetic (default: %(default)s)")
    service.add_argument("--pruner", choices=PRUNER_CHOICES, default=DEFAULT_PRUNER, action=_Given,
                         help="stop unpromising trials early: asha (successive halving), hyperband (up to the "
                              "most epochs a trial trains), median, or none (default: %(default)s; none with "
                              "several --objectives, which refuse the others)")
    service.add_argument("--objectives", type=_objectives, default=[metrics.ACCURACY], metavar="METRICS",
                         help="comma-separated metrics to optimize, val_accuracy among them: val_accuracy "
                              "(maximized), n_params, latency_ms (mean inference time of a 256-row batch on "
                              "the training device), train_seconds (minimized); two or more make a "
                              "multi-objective study (default: val_accuracy)")
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--trials", type=_count, default=20, help="trials to run (default: %(default)s)")
    sweep.add_argument("--workers", type=_positive, default=1, help="trials trained at once, in threads (default: 1)")
    sweep.add_argument("--epochs", type=_positive, help="train every trial this many epochs (removes epochs "
                                                        "from the space)")
    sweep.add_argument("--space", help="search space JSON (default: the shipped default_space.json); params it "
                                       "leaves out train at their defaults")
    sweep.add_argument("--seed", type=int, default=0, help="the study's seed and the data split's; trial N trains "
                                                            "with seed + N (default: 0)")
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="a CSV (label in the last column, header row allowed) or an .npz (arrays x, y); "
                                     "default: scikit-learn's digits")
    data.add_argument("--label-column", help="the CSV column (by header name) holding the labels")
    data.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: CUDA, else MPS, else the CPU)")
    output = parser.add_argument_group("output")
    output.add_argument("--no-progress", action="store_true", help="no progress bars (off anyway when not a TTY)")
    output.add_argument("--json-summary", metavar="FILE", help="also write the counts and best trials as JSON")
    return parser
