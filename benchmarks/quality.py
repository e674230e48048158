"""Suggestion quality: how close each suggester gets to the optimum of standard test functions, with
Optuna's samplers as baselines.

    .venv/bin/python -m benchmarks.quality [--quick] [--methods M,...] [--problems P,...] [--seeds N]
                                           [--budgets 50,100] [--jobs N] [--markdown PATH] [--plot PATH]

Every (method, problem, seed) is one minimization of the largest budget; a smaller budget is read off the
same run's first trials. Our suggesters run through `workloads.study_loop.run_study` (the service's own
create/ask/tell code on a scratch SQLite file), Optuna's samplers through `study.ask()` / `study.tell()` on
its in-memory storage, both asking one trial at a time. Reported per problem and budget: the median and
quartiles of the final simple regret (best value found minus the known optimum), each method's rank by
median regret (ties averaged), the mean rank over problems, and the mean time spent suggesting per trial.
Progress goes to stderr, the report to stdout; the tables also go to a Markdown file and the curves of
median regret against trials to a PNG. Exit status 0, or 1 when some run failed (listed under FAILED).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import log
from workloads.problems import PROBLEMS, Problem
from workloads.study_loop import run_study, scratch_database

OURS = ("random", "grid", "bayesian", "genetic")
OPTUNA = ("optuna-random", "optuna-tpe", "optuna-gp", "optuna-cmaes")
METHODS = OURS + OPTUNA
QUICK = {"seeds": 2, "budgets": [20], "problems": ["branin", "mixed"]}
RESULTS = Path(__file__).parent / "results"
#: Zero regret (an exact hit) cannot be drawn on a log axis; the plot shows it at this floor.
PLOT_FLOOR = 1e-12
#: Threads the numeric libraries may use inside each worker process: one, so --jobs is the parallelism.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# --- one run --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    method: str
    problem: str
    seed: int
    budget: int


@dataclass
class Outcome:
    task: Task
    values: list[float] = field(default_factory=list)
    suggest_seconds: float = 0.0
    wall_seconds: float = 0.0
    error: str | None = None


def grid_points(problem: Problem, budget: int) -> int:
    """Points per continuous float so the grid has at least `budget` points: ceil(budget ** (1 / floats)).

    Ints, choices and stepped floats keep all their values. A grid is a fixed design, so the seed only
    shuffles the order it is handed out in. The count is rounded up to an even number: an odd one puts a
    point on the centre of the box, which is exactly the optimum of Ackley (and of many textbook
    functions), and would make the grid look good for a reason no real objective offers.
    """
    floats = sum(1 for p in problem.space["params"]
                 if p["type"] == "float" and "step" not in p and "when" not in p)
    points = max(2, math.ceil(math.pow(budget, 1 / max(floats, 1)) - 1e-9))
    return points + points % 2


def our_options(method: str, problem: Problem, budget: int) -> dict[str, Any]:
    if method == "grid":
        return {"shuffle": True, "grid_points": grid_points(problem, budget)}
    return {}


def run_ours(task: Task, problem: Problem) -> tuple[list[float], float]:
    with scratch_database() as sessions:
        run = run_study(sessions, name=f"{task.method}-{task.problem}-{task.seed}", space=problem.space,
                        objective=problem.objective, suggester=task.method,
                        options=our_options(task.method, problem, task.budget), budget=task.budget, seed=task.seed)
    return run.values, run.ask_seconds


def optuna_sampler(method: str, seed: int) -> Any:
    import optuna

    samplers: dict[str, Callable[[], Any]] = {
        "optuna-random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed),
        # Categorical params (the mixed problem's optimizer) and params that are not always present (its
        # momentum) fall back to CmaEs's independent sampler, which is random sampling.
        "optuna-cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
    }
    return samplers[method]()


def suggest_in_optuna(trial: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Our JSON space through Optuna's define-by-run API: a conditional param is asked for only when its
    parents are present and hold one of the values its `when` lists."""
    params: dict[str, Any] = {}
    for p in parents_first(space["params"]):
        if not all(parent in params and params[parent] in allowed for parent, allowed in p.get("when", {}).items()):
            continue
        name, log_scale = p["name"], p.get("log", False)
        if p["type"] == "categorical":
            params[name] = trial.suggest_categorical(name, p["choices"])
        elif p["type"] == "int":
            params[name] = trial.suggest_int(name, p["low"], p["high"], step=p.get("step", 1), log=log_scale)
        else:
            params[name] = trial.suggest_float(name, p["low"], p["high"], step=p.get("step"), log=log_scale)
    return params


def parents_first(params: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Params reordered so each follows the parents its `when` names (declared order otherwise)."""
    ordered: list[Mapping[str, Any]] = []
    placed: set[str] = set()
    while len(ordered) < len(params):
        ready = [p for p in params if p["name"] not in placed and all(q in placed for q in p.get("when", {}))]
        ordered += ready
        placed.update(p["name"] for p in ready)
    return ordered


def run_optuna(task: Task, problem: Problem) -> tuple[list[float], float]:
    import optuna

    study = optuna.create_study(direction="minimize", sampler=optuna_sampler(task.method, task.seed))
    values: list[float] = []
    suggesting = 0.0
    for _ in range(task.budget):
        started = time.perf_counter()
        trial = study.ask()
        params = suggest_in_optuna(trial, problem.space)
        suggesting += time.perf_counter() - started
        value = float(problem.objective(params))
        study.tell(trial, value)
        values.append(value)
    return values, suggesting


def init_worker() -> None:
    """Quiet Optuna and keep every library to one thread (the variables are already set by the parent,
    before this process imported anything)."""
    warnings.filterwarnings("ignore", module="optuna")
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    except ImportError:  # only our methods were asked for
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def run_task(task: Task) -> Outcome:
    """One minimization; an exception (a suggester not implemented yet) becomes the outcome's error."""
    outcome = Outcome(task)
    started = time.perf_counter()
    try:
        problem = PROBLEMS[task.problem]
        runner = run_ours if task.method in OURS else run_optuna
        outcome.values, outcome.suggest_seconds = runner(task, problem)
    except Exception as exc:  # reported under FAILED; the other runs go on
        last = traceback.extract_tb(exc.__traceback__)[-1]
        outcome.error = f"{type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})"[:400]
    outcome.wall_seconds = time.perf_counter() - started
    return outcome


# --- statistics -----------------------------------------------------------------------------------------


def best_regret(problem: Problem, values: Sequence[float], budget: int) -> float:
    return problem.regret(min(values[:budget]))


def average_ranks(scores: Mapping[str, float]) -> dict[str, float]:
    """Rank 1 for the lowest score; tied methods share the mean of the ranks they span."""
    ordered = sorted(scores, key=lambda m: scores[m])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and scores[ordered[j + 1]] == scores[ordered[i]]:
            j += 1
        for m in ordered[i:j + 1]:
            ranks[m] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@dataclass
class Row:
    method: str
    median: float
    q1: float
    q3: float
    rank: float
    ms_per_suggestion: float
    runs: int


def summarize(outcomes: Sequence[Outcome], methods: Sequence[str], problem: str,
              budget: int) -> list[Row]:
    """One row per method that has runs for this problem, best median regret first."""
    rows: dict[str, Row] = {}
    for method in methods:
        runs = [o for o in outcomes if o.task.method == method and o.task.problem == problem and o.error is None]
        if not runs:
            continue
        regrets = [best_regret(PROBLEMS[problem], o.values, budget) for o in runs]
        q1, median, q3 = (float(x) for x in np.percentile(regrets, [25, 50, 75]))
        per_suggestion = sum(o.suggest_seconds for o in runs) / sum(len(o.values) for o in runs)
        rows[method] = Row(method, median, q1, q3, math.nan, 1000.0 * per_suggestion, len(runs))
    for method, rank in average_ranks({m: r.median for m, r in rows.items()}).items():
        rows[method].rank = rank
    return sorted(rows.values(), key=lambda r: (r.rank, r.method))


def mean_ranks(tables: Mapping[tuple[str, int], list[Row]], problems: Sequence[str],
               budget: int) -> dict[str, float]:
    """Each method's rank averaged over the problems; only methods with results on every problem."""
    per_method: dict[str, list[float]] = {}
    for problem in problems:
        for row in tables[(problem, budget)]:
            per_method.setdefault(row.method, []).append(row.rank)
    return {m: sum(r) / len(r) for m, r in sorted(per_method.items(), key=lambda kv: sum(kv[1]))
            if len(r) == len(problems)}


# --- report ---------------------------------------------------------------------------------------------


def fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.3g}"


def table_lines(rows: Sequence[Row], markdown: bool) -> list[str]:
    header = ["method", "median regret", "q1", "q3", "rank", "ms/suggestion", "runs"]
    cells = [[r.method, fmt(r.median), fmt(r.q1), fmt(r.q3), f"{r.rank:g}", f"{r.ms_per_suggestion:.2f}",
              str(r.runs)] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        return lines + ["| " + " | ".join(c) + " |" for c in cells]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths,
                                                                                           strict=True)))]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cell, widths,
                                                                                           strict=True)))
              for cell in cells]
    return lines


def environment() -> list[str]:
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    for module in ("scipy", "sklearn", "optuna", "torch", "cmaes"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            versions.append(f"{module} (not installed)")
    return [f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"{platform.system()} {platform.release()}", "versions: " + ", ".join(versions)]


def report(outcomes: Sequence[Outcome], args: argparse.Namespace, elapsed: float,
           markdown: bool) -> list[str]:
    h1, h2 = ("# ", "### ") if markdown else ("", "")
    lines = [f"{h1}Suggestion quality (simple regret: best value found - known optimum; lower is better)", ""]
    lines += [f"- {line}" if markdown else line for line in environment()]
    lines += [f"{'- ' if markdown else ''}methods: {', '.join(args.methods)}; seeds 0..{args.seeds - 1}; "
              f"budgets {', '.join(map(str, args.budgets))} (each smaller budget = the first trials of the "
              f"{max(args.budgets)}-trial run); wall time {elapsed:.0f} s with {args.jobs} processes",
              f"{'- ' if markdown else ''}ms/suggestion: mean time in ask over the whole {max(args.budgets)}-trial "
              "run (ours: the service's ask transaction on SQLite; Optuna: study.ask() and the suggest calls, "
              "in memory)", ""]
    tables = {(p, b): summarize(outcomes, args.methods, p, b) for p in args.problems for b in args.budgets}
    for budget in args.budgets:
        for problem in args.problems:
            lines += [f"{h2}{problem}, {budget} trials", ""]
            rows = tables[(problem, budget)]
            lines += table_lines(rows, markdown) if rows else ["(no successful runs)"]
            lines.append("")
        ranks = mean_ranks(tables, args.problems, budget)
        lines += [f"{h2}Mean rank over {len(args.problems)} problems, {budget} trials", ""]
        if markdown:
            lines += ["| method | mean rank |", "|---|---:|"] + [f"| {m} | {r:.2f} |" for m, r in ranks.items()]
        else:
            lines += [f"{m:<16}{r:6.2f}" for m, r in ranks.items()]
        lines.append("")
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        lines += [f"{h2}FAILED ({len(failed)} runs)", ""]
        lines += [f"- {o.task.method} / {o.task.problem} / seed {o.task.seed}: {o.error}" for o in failed]
        lines.append("")
    return lines


def plot(outcomes: Sequence[Outcome], args: argparse.Namespace, path: Path) -> None:
    """Median best-so-far regret against trials, one panel per problem, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budget = max(args.budgets)
    columns = min(3, len(args.problems))
    rows = math.ceil(len(args.problems) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 4 * rows), squeeze=False)
    trials = np.arange(1, budget + 1)
    for ax, problem in zip(axes.flat, args.problems, strict=False):
        for method in args.methods:
            runs = [o for o in outcomes if o.task.method == method and o.task.problem == problem and o.error is None]
            if not runs:
                continue
            curves = np.array([[best_regret(PROBLEMS[problem], o.values, t) for t in trials] for o in runs])
            ax.plot(trials, np.maximum(np.median(curves, axis=0), PLOT_FLOOR), label=method,
                    linestyle="-" if method in OURS else "--")
        ax.set_yscale("log")
        ax.set_title(problem)
        ax.set_xlabel("trials")
        ax.set_ylabel("median simple regret")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(args.problems):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8) or 1)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- command line ---------------------------------------------------------------------------------------


def comma_list(known: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if item not in known]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown) or 'empty list'}; "
                                             f"choose from {', '.join(known)}")
        return items
    return parse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--methods", type=comma_list(METHODS), default=list(METHODS),
                        help=f"comma list of {', '.join(METHODS)} (default: all)")
    parser.add_argument("--problems", type=comma_list(list(PROBLEMS)), default=None,
                        help=f"comma list of {', '.join(PROBLEMS)} (default: all)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 per method and problem (default 10)")
    parser.add_argument("--budgets", type=lambda t: sorted({int(x) for x in t.split(",")}), default=None,
                        help="comma list of trial budgets (default 50,100); smaller ones are prefixes of the largest")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 seeds, budget 20, problems branin and mixed (unless given)")
    parser.add_argument("--markdown", type=Path, default=RESULTS / "quality.md", help="Markdown report path")
    parser.add_argument("--plot", type=Path, default=RESULTS / "quality.png", help="PNG plot path")
    args = parser.parse_args()
    args.problems = args.problems or (QUICK["problems"] if args.quick else list(PROBLEMS))
    args.seeds = args.seeds or (QUICK["seeds"] if args.quick else 10)
    args.budgets = args.budgets or (QUICK["budgets"] if args.quick else [50, 100])
    if args.seeds < 1 or args.jobs < 1 or min(args.budgets) < 1:
        parser.error("--seeds, --jobs and every budget must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    budget = max(args.budgets)
    # Slow methods first, so the last runs to finish are short ones and no process idles at the end.
    cost = {"bayesian": 0, "optuna-gp": 1, "optuna-tpe": 2, "optuna-cmaes": 3}
    tasks = sorted((Task(m, p, s, budget) for m in args.methods for p in args.problems for s in range(args.seeds)),
                   key=lambda t: (cost.get(t.method, 9), t.method, t.problem, t.seed))
    for variable in THREAD_VARIABLES:  # inherited by the spawned workers before they import numpy or torch
        os.environ[variable] = "1"
    log(f"{len(tasks)} runs of {budget} trials: {len(args.methods)} methods x {len(args.problems)} problems x "
        f"{args.seeds} seeds, {args.jobs} processes")
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.jobs, initializer=init_worker) as pool:
        for done, outcome in enumerate(pool.imap_unordered(run_task, tasks), start=1):
            outcomes.append(outcome)
            t = outcome.task
            result = (f"FAILED {outcome.error}" if outcome.error is not None else
                      f"regret {fmt(best_regret(PROBLEMS[t.problem], outcome.values, budget))}")
            log(f"[{done}/{len(tasks)}] {t.method} {t.problem} seed {t.seed}: {result} ({outcome.wall_seconds:.1f} s)")
    elapsed = time.perf_counter() - started
    print("\n".join(report(outcomes, args, elapsed, markdown=False)))
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text("\n".join(report(outcomes, args, elapsed, markdown=True)))
    plot(outcomes, args, args.plot)
    log(f"wrote {args.markdown} and {args.plot} ({elapsed:.0f} s)")
    return 1 if any(o.error is not None for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
