"""Noisy neighbour: how much a busy Bayesian study slows the asks and tells of another study.

    .venv/bin/python -m benchmarks.noisy_neighbour [--unloaded S] [--loaded S] [--clients N]
        [--imported N] [--workers N] [--postgres-url URL] [--no-postgres]

For each backend (PostgreSQL, then a SQLite file) one `suggest-api serve` (`--workers` gunicorn
workers) holds two studies: a `bayesian` one with `--imported` completed trials imported (so every
ask fits a Gaussian process on a few hundred points) and a `random` one. One client, a thread of
this process, measures the random study's ask and tell latency: first alone (unloaded), then while
`--clients` client processes loop Bayesian asks and tells as fast as they are let (loaded); a
Bayesian ask answered 503 is retried after its `Retry-After`, as the service asks. It prints p50
and p99 of each, the ratio loaded p99 / unloaded p99, and what the Bayesian clients were answered.

The figures depend on the machine and on everything else running on it; they are not asserted
anywhere (tests/reliability/test_noisy_neighbour.py runs the same load, workloads.noisy_neighbour,
shorter, and asserts only that every answer was a correct one). Servers, client processes and
scratch databases are removed on exit.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from benchmarks.harness import DEFAULT_POSTGRES_URL, Postgres, Server, log
from workloads.noisy_neighbour import report, run


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--unloaded", type=float, default=5.0, help="seconds of the unloaded window")
    parser.add_argument("--loaded", type=float, default=15.0, help="seconds of the loaded window")
    parser.add_argument("--clients", type=int, default=8, help="Bayesian client processes")
    parser.add_argument("--imported", type=int, default=500, help="completed trials imported into the Bayesian study")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="a PostgreSQL server whose user may CREATE DATABASE (a scratch one is made)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="suggest-noisy-"))
    postgres = None if args.no_postgres else Postgres(args.postgres_url)
    lines: list[str] = []
    try:
        backends: list[tuple[str, str]] = []
        if postgres is not None:
            backends.append(("PostgreSQL", postgres.create("noisy")))
        backends.append(("SQLite", f"sqlite:///{workdir / 'noisy.db'}"))
        for label, database_url in backends:
            scratch = workdir / label.lower()
            scratch.mkdir()
            server = Server(database_url, args.workers, scratch / "server.log", scratch)
            log(f"{label}: starting a server with {args.workers} workers")
            server.start()
            try:
                log(f"{label}: importing {args.imported} trials, then {args.unloaded:g} s unloaded and "
                    f"{args.loaded:g} s loaded")
                result = run(server.base_url, scratch, unloaded_s=args.unloaded, loaded_s=args.loaded,
                             clients=args.clients, imported=args.imported)
            finally:
                server.stop()
            lines += report(label, result, args.clients)
    finally:
        if postgres is not None:
            postgres.drop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
