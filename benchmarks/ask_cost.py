"""How an ask's cost grows with the study, per suggester, through the service's own code.

    .venv/bin/python -m benchmarks.ask_cost [--sizes 0,100,300,1000] [--repeats 5]

For each suggester and study size n, a study on a scratch SQLite file (the space of workloads.problems'
`mixed` problem, 6 params with a condition) gets n completed trials imported, then asks one trial at a
time `--repeats` times (each told before the next ask, so the study stays at about n trials). It prints
the median and the worst seconds per ask (the whole transaction: lock, history read, suggest, insert),
and each size's median as a ratio of the median at the smallest size. The issue's target: an ask of the
bayesian suggester at 1,000 completed trials in well under a second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial

from suggest_api.config import Limits, Settings
from suggest_api.domain import Goal, TrialState
from suggest_api.service.accounts import implicit_principal
from suggest_api.service.asks import AskRequest, create_trials
from suggest_api.service.studies import StudyDefinition, create_study
from suggest_api.service.transactions import Transactions
from suggest_api.service.trials import NewTrial, add_trials, tell
from suggest_api.space import SearchSpace
from suggest_api.storage.studies import SpaceCache
from suggest_api.suggesters.base import trial_rng
from suggest_api.suggesters.registry import suggesters
from workloads.problems import PROBLEMS
from workloads.study_loop import scratch_database

PROBLEM = PROBLEMS["mixed"]
LIMITS = Limits(max_import=1000, max_grid_size=10**12)


def measure(name: str, size: int, repeats: int) -> list[float]:
    space = SearchSpace.from_json(PROBLEM.space)
    options = {"grid_points": 10} if name == "grid" else {}
    with scratch_database() as sessions:
        transactions, spaces = Transactions(sessions), SpaceCache()
        definition = StudyDefinition(name="s", space=PROBLEM.space, objective_name="value", goal=Goal.MINIMIZE,
                                     suggester_name=name, suggester_options=options, seed=1)
        who = implicit_principal(transactions, Settings(limits=LIMITS))
        transactions.write(lambda s: create_study(s, who, definition, limits=LIMITS, default_heartbeat_timeout=300.0,
                                                  spaces=spaces))
        for start in range(0, size, LIMITS.max_import):
            items = []
            for number in range(start, min(size, start + LIMITS.max_import)):
                params = space.decode(trial_rng(99, number).random(space.dimension))
                items.append(NewTrial(params=params, value=PROBLEM.objective(params)))
            transactions.write(partial(add_trials, who=who, name="s", items=items, limits=LIMITS, spaces=spaces))
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            [trial] = transactions.write(
                lambda s: create_trials(s, who, AskRequest("s"), limits=LIMITS, spaces=spaces)).trials
            seconds.append(time.perf_counter() - started)
            value = PROBLEM.objective(trial.params)
            transactions.write(partial(tell, who=who, name="s", number=trial.number, value=value,
                                       state=TrialState.COMPLETED, metadata=None))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,100,300,1000", help="completed trials before the asks")
    parser.add_argument("--repeats", type=int, default=5, help="asks measured per suggester and size")
    parser.add_argument("--suggesters", default=",".join(sorted(suggesters.specs())))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'suggester':<10} {'trials':>7} {'median s':>9} {'worst s':>8} {'vs smallest':>11}")
    for name in args.suggesters.split(","):
        baseline = None
        for size in sizes:
            print(f"  {name} at {size} trials ...", file=sys.stderr)
            seconds = measure(name, size, args.repeats)
            median = statistics.median(seconds)
            baseline = baseline or median
            print(f"{name:<10} {size:>7} {median:>9.4f} {max(seconds):>8.4f} {median / baseline:>10.2f}x")


if __name__ == "__main__":
    main()
