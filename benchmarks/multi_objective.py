"""Multi-objective quality: the hypervolume each suggester's front reaches on standard test problems and on
the reference trainer's accuracy-against-size trade-off, with Optuna's samplers as baselines; and what an ask
costs in a multi-objective study of 100 and 500 trials.

    .venv/bin/python -m benchmarks.multi_objective [--quick] [--methods M,...] [--problems P,...] [--seeds 5]
                                                   [--trials 100] [--ask-sizes 100,500] [--ask-repeats 5]
                                                   [--no-ask-cost] [--jobs N] [--markdown PATH] [--json PATH]
    .venv/bin/python -m benchmarks.multi_objective --report benchmarks/results/multi_objective.json

Problems and their fixed reference points: workloads/multi_objective_problems.py. Every (method, problem,
seed) is one study of `--trials` trials, asking one trial at a time: ours through `workloads.study_loop.run_study`
(the service's own create/ask/tell code on a scratch SQLite file, results told as `values`), Optuna's through
`study.ask()` / `study.tell()` on its in-memory storage, constraints given to its samplers that take them
through `constraints_func`. A run's score is the hypervolume of its feasible completed trials against the
problem's reference point (minimization orientation, maximized objectives negated). Reported per problem: the
median and quartiles of the hypervolume, each method's rank by mean hypervolume (ties averaged), the mean rank
over problems, and each of ours against the best Optuna sampler.

The ask cost is a separate measurement: per method and problem (ZDT1, DTLZ2), a study gets `size` uniformly
random finished trials imported (the same ones for every method; Optuna's NSGA-II trials carry the generation
it would have given them), then asks `--ask-repeats` + 1 times, each told before the next; the first ask is
not timed (Optuna's NSGA-II selects the parents of every imported generation there, a cost a real study spreads
over its generations). Progress goes to stderr, the report to stdout and Markdown, every run to JSON. Exit status
0, or 1 when some run failed (listed under FAILED).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import log
from benchmarks.quality import average_ranks, comma_list, environment, init_worker, suggest_in_optuna
from suggest_api.domain import ConstraintOp
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import trial_rng
from workloads.multi_objective_problems import PROBLEMS, MultiProblem
from workloads.study_loop import run_study, scratch_database

OURS = ("bayesian", "genetic", "random")
OPTUNA = ("optuna-nsga2", "optuna-tpe", "optuna-gp", "optuna-random")
METHODS = OURS + OPTUNA
OPTUNA_SAMPLERS = {"optuna-nsga2": "NSGAIISampler(seed)", "optuna-tpe": "TPESampler(seed, multivariate=True)",
                   "optuna-gp": "GPSampler(seed)", "optuna-random": "RandomSampler(seed)"}
ASK_PROBLEMS = ("zdt1", "dtlz2")
RESULTS = Path(__file__).parent / "results"
FULL = {"seeds": 5, "trials": 100, "problems": list(PROBLEMS), "ask_sizes": [100, 500], "ask_repeats": 5}
QUICK = {"seeds": 2, "trials": 30, "problems": ["zdt1", "c2dtlz2"], "ask_sizes": [30, 100], "ask_repeats": 2}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: The imported trials of the ask-cost measurement are drawn with this seed, the same for every method.
HISTORY_SEED = 99
CONSTRAINTS_ATTR = "constraints"
#: Slow methods and problems first, so the last runs to finish are short ones and no process idles at the end.
COST = {"bayesian": 0, "optuna-gp": 1, "optuna-tpe": 2, "genetic": 3, "optuna-nsga2": 4}


# --- one run --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    method: str
    problem: str
    seed: int
    #: Asks made, one trial each.
    trials: int
    #: Random finished trials imported before the first ask (0: a quality run; else an ask-cost one).
    history: int = 0


@dataclass
class Outcome:
    task: Task
    #: Every metric told for each asked trial, in order (None: the trial failed).
    results: list[dict[str, float] | None] = field(default_factory=list)
    ask_times: list[float] = field(default_factory=list)
    hypervolume: float = math.nan
    feasible: int = 0
    wall_seconds: float = 0.0
    error: str | None = None


def history_points(problem: MultiProblem, size: int) -> list[tuple[dict[str, Any], dict[str, float] | None]]:
    """`size` uniformly random params (decoded as the service's random suggester decodes) and their results."""
    space = SearchSpace.from_json(problem.space)
    points = []
    for number in range(size):
        params = dict(space.decode(trial_rng(HISTORY_SEED, number).random(space.dimension)))
        points.append((params, problem.evaluate(params)))
    return points


def run_ours(task: Task, problem: MultiProblem) -> tuple[list[dict[str, float] | None], list[float]]:
    with scratch_database() as sessions:
        run = run_study(sessions, name=f"{task.method}-{task.problem}-{task.seed}", space=problem.space,
                        objective=problem.evaluate, suggester=task.method, budget=task.trials, seed=task.seed,
                        objectives=problem.objectives, constraints=problem.constraints,
                        reference_point=problem.reference_point, history=history_points(problem, task.history))
    return run.results, run.ask_times


def optuna_constraints(trial: Any) -> Sequence[float]:
    """Optuna's convention: each value <= 0 when satisfied. The run stores them on the trial before its tell."""
    return list(trial.user_attrs[CONSTRAINTS_ATTR])


def optuna_sampler(method: str, seed: int, constrained: bool) -> Any:
    import optuna

    constraints = optuna_constraints if constrained else None
    samplers: dict[str, Callable[[], Any]] = {
        "optuna-nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints),
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True, constraints_func=constraints),
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed, constraints_func=constraints),
        "optuna-random": lambda: optuna.samplers.RandomSampler(seed=seed),  # takes no constraints
    }
    return samplers[method]()


def optuna_distributions(space: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna's distribution of each param present in `params`, from our JSON space."""
    import optuna.distributions as d

    found: dict[str, Any] = {}
    for p in space["params"]:
        if p["name"] not in params:
            continue
        if p["type"] == "categorical":
            found[p["name"]] = d.CategoricalDistribution(p["choices"])
        elif p["type"] == "int":
            found[p["name"]] = d.IntDistribution(p["low"], p["high"], step=p.get("step", 1), log=p.get("log", False))
        else:
            found[p["name"]] = d.FloatDistribution(p["low"], p["high"], step=p.get("step"), log=p.get("log", False))
    return found


def constraint_values(problem: MultiProblem, result: Mapping[str, float] | None) -> list[float]:
    if result is None:
        return [math.inf] * len(problem.constraints)
    return [result[c.name] - c.bound if c.op is ConstraintOp.AT_MOST else c.bound - result[c.name]
            for c in problem.constraints]


def run_optuna(task: Task, problem: MultiProblem) -> tuple[list[dict[str, float] | None], list[float]]:
    import optuna

    constrained = bool(problem.constraints)
    sampler = optuna_sampler(task.method, task.seed, constrained)
    study = optuna.create_study(directions=[o.goal.value for o in problem.objectives], sampler=sampler)
    generation_key = optuna.samplers.NSGAIISampler._get_generation_key()
    population = getattr(sampler, "_population_size", 50)
    for number, (params, result) in enumerate(history_points(problem, task.history)):
        state = optuna.trial.TrialState.FAIL if result is None else optuna.trial.TrialState.COMPLETE
        study.add_trial(optuna.trial.create_trial(
            state=state, params=params, distributions=optuna_distributions(problem.space, params),
            values=None if result is None else [result[o.name] for o in problem.objectives],
            user_attrs={CONSTRAINTS_ATTR: constraint_values(problem, result)} if constrained else None,
            system_attrs={generation_key: number // population} if task.method == "optuna-nsga2" else None))
    results: list[dict[str, float] | None] = []
    ask_times: list[float] = []
    for _ in range(task.trials):
        started = time.perf_counter()
        trial = study.ask()
        params = suggest_in_optuna(trial, problem.space)
        ask_times.append(time.perf_counter() - started)
        result = problem.evaluate(params)
        if constrained:
            trial.set_user_attr(CONSTRAINTS_ATTR, constraint_values(problem, result))
        if result is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, [result[o.name] for o in problem.objectives])
        results.append(None if result is None else dict(result))
    return results, ask_times


def run_task(task: Task) -> Outcome:
    """One study; an exception (a suggester without multi-objective support yet) becomes the outcome's error."""
    outcome = Outcome(task)
    started = time.perf_counter()
    try:
        problem = PROBLEMS[task.problem]
        runner = run_ours if task.method in OURS else run_optuna
        outcome.results, outcome.ask_times = runner(task, problem)
        outcome.hypervolume = problem.front_hypervolume(outcome.results)
        outcome.feasible = sum(1 for r in outcome.results if r is not None and problem.feasible(r))
    except Exception as exc:  # reported under FAILED; the other runs go on
        last = traceback.extract_tb(exc.__traceback__)[-1]
        outcome.error = f"{type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})"[:400]
    outcome.wall_seconds = time.perf_counter() - started
    return outcome


def gp_unsupported() -> str | None:
    """Why this Optuna's GPSampler cannot take part (None: it handles several objectives with constraints),
    from a 5-trial study in this process."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sampler = optuna.samplers.GPSampler(seed=0, n_startup_trials=2, constraints_func=lambda t: [-1.0])
            study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
            for _ in range(5):
                trial = study.ask()
                x, y = trial.suggest_float("x", 0.0, 1.0), trial.suggest_float("y", 0.0, 1.0)
                study.tell(trial, [x, 1.0 - x + y])
        except Exception as exc:  # an Optuna whose GPSampler refuses several objectives
            return f"GPSampler of optuna {optuna.__version__} failed a 2-objective study: {exc}"[:300]
    fallback = [w for w in caught if "independent" in str(w.message).lower()]
    if fallback:
        return f"GPSampler of optuna {optuna.__version__} falls back to independent sampling: {fallback[0].message}"
    return None


# --- statistics -----------------------------------------------------------------------------------------


@dataclass
class Row:
    method: str
    median: float
    q1: float
    q3: float
    mean: float
    rank: float
    feasible: float  # fraction of the trials that completed feasible
    ms_per_ask: float
    runs: int


def quality_runs(outcomes: Sequence[Outcome], method: str, problem: str) -> list[Outcome]:
    return [o for o in outcomes if o.task.method == method and o.task.problem == problem and o.task.history == 0
            and o.error is None]


def summarize(outcomes: Sequence[Outcome], methods: Sequence[str], problem: str) -> list[Row]:
    """One row per method with runs on this problem, best mean hypervolume first."""
    rows: dict[str, Row] = {}
    for method in methods:
        runs = quality_runs(outcomes, method, problem)
        if not runs:
            continue
        volumes = [o.hypervolume for o in runs]
        q1, median, q3 = (float(x) for x in np.percentile(volumes, [25, 50, 75]))
        asks = [t for o in runs for t in o.ask_times]
        rows[method] = Row(method, median, q1, q3, float(np.mean(volumes)), math.nan,
                           sum(o.feasible for o in runs) / max(1, sum(len(o.results) for o in runs)),
                           1000.0 * float(np.mean(asks)) if asks else math.nan, len(runs))
    for method, rank in average_ranks({m: -r.mean for m, r in rows.items()}).items():
        rows[method].rank = rank
    return sorted(rows.values(), key=lambda r: (r.rank, r.method))


def mean_ranks(tables: Mapping[str, list[Row]]) -> dict[str, float]:
    """Each method's rank averaged over the problems; only methods with results on every problem."""
    per_method: dict[str, list[float]] = {}
    for rows in tables.values():
        for row in rows:
            per_method.setdefault(row.method, []).append(row.rank)
    return {m: sum(r) / len(r) for m, r in sorted(per_method.items(), key=lambda kv: sum(kv[1]))
            if len(r) == len(tables)}


def ask_ms(outcomes: Sequence[Outcome], method: str, problem: str, size: int) -> float | None:
    """Mean ms per ask at `size` imported trials, the first (untimed warm-up) ask left out."""
    times = [t for o in outcomes if o.task.method == method and o.task.problem == problem
             and o.task.history == size and o.error is None for t in o.ask_times[1:]]
    return 1000.0 * float(np.mean(times)) if times else None


def targets(tables: Mapping[str, list[Row]], ranks: Mapping[str, float]) -> list[tuple[str, bool | None, str]]:
    """The issue's targets: (target, met (None: not measured), the figures behind it)."""
    found: list[tuple[str, bool | None, str]] = []
    text = "our bayesian has the best mean hypervolume rank"
    if "bayesian" in ranks and len(ranks) > 1:
        others = {m: r for m, r in ranks.items() if m != "bayesian"}
        best_other = min(others, key=lambda m: others[m])
        found.append((text, ranks["bayesian"] <= others[best_other],
                      f"bayesian {ranks['bayesian']:.2f}, best other {best_other} {others[best_other]:.2f}"))
    else:
        found.append((text, None, "bayesian (or every other method) has no result on some problem"))
    text = "genetic beats random on every problem"
    pairs = {p: {r.method: r.mean for r in rows} for p, rows in tables.items()}
    if tables and all("genetic" in v and "random" in v for v in pairs.values()):
        lost = [p for p, v in pairs.items() if v["genetic"] <= v["random"]]
        found.append((text, not lost, "; ".join(f"{p}: {v['genetic']:.4g} vs {v['random']:.4g}"
                                                for p, v in pairs.items())))
    else:
        found.append((text, None, "genetic or random has no result on some problem"))
    return found


# --- report ---------------------------------------------------------------------------------------------


def fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.4g}"


def table(header: Sequence[str], cells: Sequence[Sequence[str]], markdown: bool) -> list[str]:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        return lines + ["| " + " | ".join(c) + " |" for c in cells]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
    return [line(header)] + [line(c) for c in cells]


def problem_lines(problem: MultiProblem, rows: Sequence[Row], markdown: bool) -> list[str]:
    optimum = problem.optimal_hypervolume
    lines = [f"{problem.description}; reference point {problem.reference_point} "
             f"({', '.join(o.name for o in problem.objectives)}); true front's hypervolume "
             f"{'unknown' if optimum is None else fmt(optimum)}", ""]
    if not rows:
        return lines + ["(no successful runs)", ""]
    header = ["method", "median HV", "q1", "q3", "mean HV", "rank"] + (["median/optimum"] if optimum else []) + [
        "feasible", "ms/ask", "runs"]
    cells = [[r.method, fmt(r.median), fmt(r.q1), fmt(r.q3), fmt(r.mean), f"{r.rank:g}"]
             + ([f"{r.median / optimum:.1%}"] if optimum else [])
             + [f"{r.feasible:.0%}", f"{r.ms_per_ask:.1f}", str(r.runs)] for r in rows]
    lines += table(header, cells, markdown)
    optuna_rows = [r for r in rows if r.method in OPTUNA]
    if optuna_rows:
        best = max(optuna_rows, key=lambda r: r.mean)
        ratios = [f"{r.method} {r.mean / best.mean:.3f}" for r in rows if r.method in OURS and best.mean > 0]
        if ratios:
            lines += ["", f"mean HV of ours / best Optuna sampler ({best.method}): {', '.join(ratios)}"]
    return lines + [""]


def report(outcomes: Sequence[Outcome], config: Mapping[str, Any], elapsed: float, markdown: bool) -> list[str]:
    h1, h2 = ("# ", "### ") if markdown else ("", "")
    bullet = "- " if markdown else ""
    lines = [f"{h1}Multi-objective quality (hypervolume of each run's feasible completed trials; higher is better)",
             ""]
    lines += [bullet + line for line in environment()]
    lines += [f"{bullet}methods: {', '.join(config['methods'])}; seeds 0..{config['seeds'] - 1}; "
              f"{config['trials']} trials a run, one ask at a time; wall time {elapsed:.0f} s with {config['jobs']} "
              "processes",
              f"{bullet}Optuna samplers: " + ", ".join(f"{m} = {OPTUNA_SAMPLERS[m]}" for m in config["methods"]
                                                      if m in OPTUNA) + "; constraints via constraints_func",
              f"{bullet}ranks by mean hypervolume (1 = best, ties averaged); ms/ask: mean time in ask over the run "
              "(ours: the service's ask transaction on SQLite; Optuna: study.ask() and the suggest calls, in memory)"]
    lines += [f"{bullet}NOTE: {note}" for note in config.get("notes", [])] + [""]
    tables = {p: summarize(outcomes, config["methods"], p) for p in config["problems"]}
    for name in config["problems"]:
        lines += [f"{h2}{name}, {config['trials']} trials", ""] + problem_lines(PROBLEMS[name], tables[name], markdown)
    ranks = mean_ranks(tables)
    lines += [f"{h2}Mean rank over {len(tables)} problems", ""]
    lines += table(["method", "mean rank"], [[m, f"{r:.2f}"] for m, r in ranks.items()], markdown) + [""]
    if config["ask_sizes"]:
        columns = [(p, s) for p in config["ask_problems"] for s in config["ask_sizes"]]
        lines += [f"{h2}Ask cost: mean ms per ask with n finished trials", "",
                  f"Uniformly random trials imported first; {config['ask_repeats']} timed asks each (after one "
                  "untimed), each told before the next; one seed.", ""]
        cells = []
        for method in config["methods"]:
            figures = [ask_ms(outcomes, method, p, s) for p, s in columns]
            cells.append([method] + ["-" if f is None else f"{f:.1f}" for f in figures])
        lines += table(["method"] + [f"{p} n={s}" for p, s in columns], cells, markdown) + [""]
    lines += [f"{h2}Targets", ""]
    for text, met, detail in targets(tables, ranks):
        verdict = "not measured" if met is None else "met" if met else "NOT met"
        lines.append(f"{bullet}{text}: {verdict} ({detail})")
    lines.append("")
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        lines += [f"{h2}FAILED ({len(failed)} runs)", ""]
        lines += [f"- {o.task.method} / {o.task.problem} / seed {o.task.seed}"
                  + (f" / ask cost at {o.task.history}" if o.task.history else "") + f": {o.error}" for o in failed]
        lines.append("")
    return lines


def write_json(path: Path, config: Mapping[str, Any], outcomes: Sequence[Outcome], elapsed: float) -> None:
    """The options and every run (one line each, with every trial's told metrics), to report again or reanalyse."""
    head = json.dumps({"config": config, "elapsed_s": elapsed}, indent=1)
    body = ",\n".join("  " + json.dumps(asdict(o)) for o in outcomes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head[:-2] + ',\n "runs": [\n' + body + "\n ]\n}\n", encoding="utf-8")


def load_json(path: Path) -> tuple[dict[str, Any], list[Outcome], float]:
    document = json.loads(path.read_text(encoding="utf-8"))
    outcomes = [Outcome(**{**run, "task": Task(**run["task"])}) for run in document["runs"]]
    return document["config"], outcomes, float(document["elapsed_s"])


# --- command line ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--methods", type=comma_list(METHODS), default=list(METHODS),
                        help=f"comma list of {', '.join(METHODS)} (default: all)")
    parser.add_argument("--problems", type=comma_list(list(PROBLEMS)), default=None,
                        help=f"comma list of {', '.join(PROBLEMS)} (default: all)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 per method and problem (default 5)")
    parser.add_argument("--trials", type=int, default=None, help="trials a run (default 100)")
    parser.add_argument("--ask-sizes", type=lambda t: sorted({int(x) for x in t.split(",")}), default=None,
                        help="finished trials before the timed asks (default 100,500)")
    parser.add_argument("--ask-repeats", type=int, default=None, help="timed asks per method and size (default 5)")
    parser.add_argument("--ask-problems", type=comma_list(list(PROBLEMS)), default=list(ASK_PROBLEMS),
                        help=f"problems of the ask-cost measurement (default {','.join(ASK_PROBLEMS)})")
    parser.add_argument("--no-ask-cost", action="store_true", help="skip the ask-cost measurement")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 30 trials, zdt1 and c2dtlz2, "
                                                             "asks at 30 and 100 trials (unless given)")
    parser.add_argument("--markdown", type=Path, default=None, help="Markdown report (default under results/)")
    parser.add_argument("--json", type=Path, default=None, help="every run as JSON (default under results/)")
    parser.add_argument("--report", type=Path, metavar="JSON", help="run nothing: report again from a results JSON")
    args = parser.parse_args(argv)
    defaults: dict[str, Any] = QUICK if args.quick else FULL
    for key in ("problems", "seeds", "trials", "ask_sizes", "ask_repeats"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if args.no_ask_cost:
        args.ask_sizes = []
    stem = "multi_objective-quick" if args.quick else "multi_objective"
    args.markdown = args.markdown or RESULTS / f"{stem}.md"
    args.json = args.json or (args.report if args.report is not None else RESULTS / f"{stem}.json")
    if min(args.seeds, args.jobs, args.trials, args.ask_repeats, *args.ask_sizes) < 1:
        parser.error("--seeds, --jobs, --trials, --ask-repeats and every ask size must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        config, outcomes, elapsed = load_json(args.report)
    else:
        config = {k: getattr(args, k) for k in ("methods", "problems", "seeds", "trials", "ask_sizes", "ask_repeats",
                                                "ask_problems", "jobs", "quick")}
        config["notes"] = []
        if "optuna-gp" in args.methods:
            skipped = gp_unsupported()
            if skipped is not None:
                log(f"skipping optuna-gp: {skipped}")
                config["notes"].append(f"optuna-gp skipped: {skipped}")
                config["methods"] = [m for m in args.methods if m != "optuna-gp"]
        outcomes, elapsed = run_all(config)
        write_json(args.json, config, outcomes, elapsed)
    print("\n".join(report(outcomes, config, elapsed, markdown=False)))
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text("\n".join(report(outcomes, config, elapsed, markdown=True)), encoding="utf-8")
    log(f"wrote {args.markdown}" + ("" if args.report is not None else f" and {args.json} ({elapsed:.0f} s)"))
    return 1 if any(o.error is not None for o in outcomes) else 0


def run_all(config: Mapping[str, Any]) -> tuple[list[Outcome], float]:
    methods = config["methods"]
    tasks = [Task(m, p, s, config["trials"]) for m in methods for p in config["problems"]
             for s in range(config["seeds"])]
    tasks += [Task(m, p, 0, config["ask_repeats"] + 1, size) for m in methods for p in config["ask_problems"]
              for size in config["ask_sizes"]]
    tasks.sort(key=lambda t: (COST.get(t.method, 9), -t.history, t.problem != "trainer", t.method, t.problem, t.seed))
    for variable in THREAD_VARIABLES:  # inherited by the spawned workers before they import numpy or torch
        os.environ[variable] = "1"
    log(f"{len(tasks)} runs: {len(methods)} methods x {len(config['problems'])} problems x {config['seeds']} seeds of "
        f"{config['trials']} trials, plus ask costs at {config['ask_sizes']}; {config['jobs']} processes")
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    with multiprocessing.get_context("spawn").Pool(config["jobs"], initializer=init_worker) as pool:
        for done, outcome in enumerate(pool.imap_unordered(run_task, tasks), start=1):
            outcomes.append(outcome)
            t = outcome.task
            what = f"asks at {t.history} trials" if t.history else f"seed {t.seed}"
            if outcome.error is not None:
                result = f"FAILED {outcome.error}"
            elif t.history:
                result = f"{1000 * float(np.mean(outcome.ask_times[1:] or outcome.ask_times)):.1f} ms per ask"
            else:
                result = f"hypervolume {fmt(outcome.hypervolume)}, {outcome.feasible} feasible"
            log(f"[{done}/{len(tasks)}] {t.method} {t.problem} {what}: {result} ({outcome.wall_seconds:.1f} s)")
    return outcomes, time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
