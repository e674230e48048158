"""What the Python client costs per trial over bare HTTP, against a real `suggest-api serve`.

    .venv/bin/python -m benchmarks.client_loop [--trials 300] [--workers 2]

One server on a scratch SQLite file (`--workers` gunicorn workers). Three loops of `--trials` trials
each, in one thread, on studies of their own with the random suggester and an objective that returns
at once, so what is measured is the protocol: the baseline is one `requests.Session` posting ask
then tell; then `study.ask` + `study.tell` (idempotency keys, typed answers); then `study.optimize`
(each trial in the `with study.trial()` context, with its heartbeat thread). It prints trials per
second, milliseconds per trial and each loop's time as a ratio of the baseline's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from benchmarks.harness import Server
from suggest_client import Client

SPACE: dict[str, Any] = {"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}


def bare(base_url: str, trials: int) -> None:
    with requests.Session() as http:
        http.post(f"{base_url}/v1/studies", json={"name": "bare", "space": SPACE,
                                                   "objective": {"goal": "minimize"}}, timeout=30).raise_for_status()
        for _ in range(trials):
            asked = http.post(f"{base_url}/v1/studies/bare/ask", json={}, timeout=30)
            asked.raise_for_status()
            trial = asked.json()["trials"][0]
            http.post(f"{base_url}/v1/studies/bare/tell", timeout=30,
                      json={"number": trial["number"], "value": trial["params"]["x"]}).raise_for_status()


def ask_tell(base_url: str, trials: int) -> None:
    with Client(base_url) as api:
        study = api.create_study("ask-tell", SPACE)
        for _ in range(trials):
            trial = study.ask()[0]
            study.tell(trial, trial.params["x"])


def optimize(base_url: str, trials: int) -> None:
    with Client(base_url) as api:
        api.create_study("optimize", SPACE).optimize(lambda trial: trial.params["x"], trials)


LOOPS: dict[str, Callable[[str, int], None]] = {
    "bare requests (baseline)": bare, "client ask + tell": ask_tell, "client optimize": optimize}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        server = Server(f"sqlite:///{Path(scratch) / 'suggest.db'}", args.workers, Path(scratch) / "server.log",
                        Path(scratch))
        server.start()
        try:
            seconds = {}
            for name, loop in LOOPS.items():
                started = time.perf_counter()
                loop(server.base_url, args.trials)
                seconds[name] = time.perf_counter() - started
        finally:
            server.stop()
    baseline = seconds["bare requests (baseline)"]
    print(f"{args.trials} trials per loop, one thread, SQLite, {args.workers} gunicorn workers")
    print(f"{'loop':<26} {'trials/s':>9} {'ms/trial':>9} {'× baseline':>11}")
    for name, spent in seconds.items():
        print(f"{name:<26} {args.trials / spent:>9.0f} {1000 * spent / args.trials:>9.2f} {spent / baseline:>11.2f}")


if __name__ == "__main__":
    main()
