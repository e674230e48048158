"""Param importance: ours (suggest_api.importance: forest functional ANOVA + grey relational analysis) against
`optuna.importance` (FanovaImportanceEvaluator and PedAnovaImportanceEvaluator) on the same trials.

    .venv/bin/python -m benchmarks.importance [--trials 200,1000,5000] [--repeats 3] [--peer-repeats 1] [--quick]
                                              [--fanova-max-trials 1000] [--functions additive,categorical,bowl]
                                              [--json PATH] [--markdown PATH]

Three functions of a 10-param space (floats, a log float, a log int, a categorical, and a param `momentum`
active only when `optimizer` is sgd) whose important params are known by construction:

- additive: 5 x1 + 3 x2^2 (monotone; x1 and x2 matter, x1 most);
- categorical: a cost per optimizer choice + the log learning rate (optimizer and lr matter);
- bowl: 8 (x1 - 0.5)^2 + 4 (x2 - 0.3)^2 (not monotone: x1 and x2 matter, but grey relational analysis, which
  sees monotone relations only, is expected to miss them).

For each function and each trial count, the same trials (params drawn uniformly from the space, a little
Gaussian noise on the value) go to our `assess` (both methods in one call, as the endpoint runs them) and, as
an in-memory Optuna study of the same params and values, to `optuna.importance.get_param_importances` with
each evaluator (Fanova seed 0, as ours). Reported per method: the median wall time over `--repeats` runs
(`--peer-repeats` for Optuna's; its fANOVA takes about 20 s at 1,000 trials here and minutes beyond, so it runs
only up to `--fanova-max-trials`), the
ratio of our time over its (below 1: ours is faster), its two highest-ranked params and whether they are the
two that matter. Optuna evaluates only the params every trial has (its intersection search space), so it
never ranks `momentum`; ours ranks every param of the space.

Then the endpoint itself: the largest trial count imported into a SQLite study, GET /v1/studies/s/importance
once (computed) and again (the worker's remembered answer).

The report goes to stdout and to benchmarks/results/importance.md and .json (importance-quick.* for --quick).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import log, table
from suggest_api.importance.analysis import assess
from suggest_api.space import CategoricalParam, FloatParam, IntParam, SearchSpace, Value, sample_uniform

RESULTS = Path(__file__).parent / "results"
Params = dict[str, Value]

SPACE = SearchSpace.from_json({"params": [
    {"name": "x1", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "x2", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "lr", "type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    {"name": "width", "type": "int", "low": 8, "high": 512, "log": True},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
    {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},
    {"name": "layers", "type": "int", "low": 1, "high": 8},
    {"name": "decay", "type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    {"name": "warmup", "type": "float", "low": 0.0, "high": 1.0},
]})
COSTS = {"sgd": 0.0, "adam": 3.0, "rmsprop": 1.2}


@dataclass(frozen=True)
class Function:
    name: str
    important: frozenset[str]
    value: Callable[[Params], float]


FUNCTIONS = [
    Function("additive", frozenset({"x1", "x2"}), lambda p: 5 * float(p["x1"]) + 3 * float(p["x2"]) ** 2),
    Function("categorical", frozenset({"optimizer", "lr"}),
             lambda p: COSTS[str(p["optimizer"])] - math.log10(float(p["lr"])) / 2),
    Function("bowl", frozenset({"x1", "x2"}),
             lambda p: 8 * (float(p["x1"]) - 0.5) ** 2 + 4 * (float(p["x2"]) - 0.3) ** 2),
]
METHODS = ("ours: forest", "ours: grey relational", "optuna: fanova", "optuna: ped-anova")


@dataclass
class Row:
    function: str
    trials: int
    method: str
    seconds: float
    top: list[str]
    correct: bool
    #: Our time (both methods) over this method's; None for our own rows.
    ratio: float | None = None


def trials_for(function: Function, count: int, seed: int) -> tuple[list[Params], list[float]]:
    rng = np.random.default_rng(seed)
    params = [sample_uniform(SPACE, rng) for _ in range(count)]
    return params, [function.value(p) + 0.01 * float(rng.standard_normal()) for p in params]


def optuna_study(params: Sequence[Params], values: Sequence[float]) -> Any:
    """An in-memory Optuna study holding the same trials (each with the distributions of the params it has)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {p.name: _distribution(p) for p in SPACE.params}
    study = optuna.create_study(direction="minimize")
    study.add_trials([optuna.trial.create_trial(params=dict(p), distributions={n: distributions[n] for n in p},
                                                value=v) for p, v in zip(params, values, strict=True)])
    return study


def _distribution(param: FloatParam | IntParam | CategoricalParam) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(param, CategoricalParam):
        return CategoricalDistribution(list(param.choices))
    if isinstance(param, IntParam):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    return FloatDistribution(param.low, param.high, log=param.log)


def optuna_evaluators() -> dict[str, Any]:
    from optuna import importance

    found: dict[str, Any] = {"optuna: fanova": importance.FanovaImportanceEvaluator(seed=0)}
    ped_anova = getattr(importance, "PedAnovaImportanceEvaluator", None)
    if ped_anova is not None:
        found["optuna: ped-anova"] = ped_anova()
    return found


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median wall time of `repeats` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def top_two(scores: dict[str, float]) -> list[str]:
    return [name for name, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:2]]


def measure(function: Function, count: int, repeats: int, peer_repeats: int, fanova_max: int) -> list[Row]:
    import optuna

    params, values = trials_for(function, count, seed=count)
    ours_s, ours = timed(lambda: assess(SPACE, params, values), repeats)
    rows = []
    for method, key in (("ours: forest", "forest"), ("ours: grey relational", "grey_relational")):
        top = top_two({p.name: getattr(p, key) for p in ours.params})
        rows.append(Row(function.name, count, method, ours_s, top, set(top) == function.important))
    study = optuna_study(params, values)
    for method, evaluator in optuna_evaluators().items():
        if method == "optuna: fanova" and count > fanova_max:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            seconds, scores = timed(functools.partial(optuna.importance.get_param_importances, study,
                                                      evaluator=evaluator), peer_repeats)
        top = top_two(scores)
        rows.append(Row(function.name, count, method, seconds, top, set(top) == function.important,
                        ours_s / seconds))
    return rows


def measure_endpoint(count: int) -> dict[str, float]:
    """GET /importance on a SQLite study of `count` imported trials: computed, then remembered."""
    from suggest_api.app import create_app
    from suggest_api.config import Settings
    from suggest_api.storage.database import make_engine
    from suggest_api.storage.migrate import upgrade

    params, values = trials_for(FUNCTIONS[0], count, seed=count)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/importance.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        app = create_app(Settings(database_url=url, log_level="WARNING"))
        try:
            client = app.test_client()
            created = client.post("/v1/studies", json={"name": "s", "space": SPACE.to_json(),
                                                       "objective": {"name": "loss", "goal": "minimize"}})
            assert created.status_code == 201, created.json
            for start in range(0, count, 1000):
                batch = [{"params": p, "value": v} for p, v in zip(params[start:start + 1000],
                                                                   values[start:start + 1000], strict=True)]
                assert client.post("/v1/studies/s/trials", json={"trials": batch}).status_code == 201
            figures = {}
            for label in ("computed_s", "remembered_s"):
                started = time.perf_counter()
                answer = client.get("/v1/studies/s/importance")
                figures[label] = time.perf_counter() - started
                assert answer.status_code == 200, answer.json
            return figures
        finally:
            app.extensions["suggest_api"].engine.dispose()


def cells(rows: Sequence[Row]) -> list[list[str]]:
    return [[r.function, f"{r.trials:,}", r.method, f"{r.seconds * 1000:,.0f}",
             "-" if r.ratio is None else f"{r.ratio:.2f}", ", ".join(r.top), "yes" if r.correct else "no"]
            for r in rows]


HEADERS = ["function", "trials", "method", "ms", "ours / it", "top two", "right two"]


def environment() -> str:
    import optuna
    import sklearn

    return (f"{platform.system()} {platform.release()}, Python {platform.python_version()}, numpy {np.__version__}, "
            f"scikit-learn {sklearn.__version__}, optuna {optuna.__version__}")


def report(rows: Sequence[Row], endpoint: dict[str, float], endpoint_trials: int, args: argparse.Namespace,
           markdown: bool) -> list[str]:
    title = "Param importance: ours against optuna.importance" + (" (quick)" if args.quick else "")
    notes = [f"{environment()}; median of {args.repeats} run(s) of ours, {args.peer_repeats} of Optuna's; `ms` for "
             "ours is both methods together (one `assess` call); `ours / it`: our time over the method's",
             f"endpoint, {endpoint_trials:,} trials on SQLite: GET /importance computed "
             f"{endpoint['computed_s'] * 1000:,.0f} ms, remembered {endpoint['remembered_s'] * 1000:,.0f} ms"]
    if markdown:
        lines = [f"# {title}", "", *(f"- {n}" for n in notes), "",
                 "| " + " | ".join(HEADERS) + " |", "|---|---:|---|---:|---:|---|---|",
                 *("| " + " | ".join(c) + " |" for c in cells(rows))]
        return lines
    return [title, *(f"  {n}" for n in notes), "", *table(HEADERS, cells(rows), left=3)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.importance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", help="comma-separated trial counts (default 200,1000,5000; --quick 200,1000)")
    parser.add_argument("--repeats", type=int, help="runs of each measurement (default 3; --quick 1)")
    parser.add_argument("--peer-repeats", type=int, default=1, help="runs of each Optuna evaluator (default 1)")
    parser.add_argument("--fanova-max-trials", type=int, default=1000,
                        help="run Optuna's fANOVA only up to this many trials (default 1,000)")
    parser.add_argument("--functions", help="comma-separated functions (default: " +
                        ",".join(f.name for f in FUNCTIONS) + ")")
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 trials, one run each")
    parser.add_argument("--json", type=Path, help="results JSON (default benchmarks/results/importance.json, "
                                                  "importance-quick.json for --quick)")
    parser.add_argument("--markdown", type=Path, help="report in Markdown (default: beside the JSON, .md)")
    args = parser.parse_args(argv)
    args.counts = [int(c) for c in (args.trials or ("200,1000" if args.quick else "200,1000,5000")).split(",")]
    args.repeats = args.repeats or (1 if args.quick else 3)
    known = {f.name: f for f in FUNCTIONS}
    chosen = args.functions.split(",") if args.functions else list(known)
    if not set(chosen) <= set(known):
        parser.error(f"--functions: unknown {sorted(set(chosen) - set(known))}; known: {', '.join(known)}")
    args.chosen = [known[name] for name in chosen]
    if min(args.counts) < 2 or min(args.repeats, args.peer_repeats) < 1:
        parser.error("--trials must be at least 2 each, --repeats and --peer-repeats at least 1")
    args.json = args.json or RESULTS / ("importance-quick.json" if args.quick else "importance.json")
    args.markdown = args.markdown or args.json.with_suffix(".md")
    return args


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    assess(SPACE, *trials_for(FUNCTIONS[0], 20, seed=0))  # load scikit-learn before anything is timed
    rows: list[Row] = []
    for function in args.chosen:
        for count in args.counts:
            log(f"{function.name}: {count:,} trials")
            rows.extend(measure(function, count, args.repeats, args.peer_repeats, args.fanova_max_trials))
    log(f"endpoint: {max(args.counts):,} trials")
    endpoint = measure_endpoint(max(args.counts))
    print("\n".join(report(rows, endpoint, max(args.counts), args, markdown=False)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text("\n".join(report(rows, endpoint, max(args.counts), args, markdown=True)) + "\n",
                             encoding="utf-8")
    document = {"benchmark": "importance", "quick": args.quick, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "environment": environment(), "repeats": args.repeats, "peer_repeats": args.peer_repeats,
                "trials": args.counts,
                "elapsed_seconds": time.monotonic() - started, "rows": [asdict(r) for r in rows],
                "endpoint": {"trials": max(args.counts), **endpoint}}
    args.json.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    log(f"wrote {args.json} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
