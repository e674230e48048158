"""Integrations against Optuna: moving studies in and out (export + import through our service functions against
`optuna.copy_study`, and `suggest-api import-optuna`), and an unchanged Optuna program run with our ServiceSampler
against Optuna's own samplers.

    .venv/bin/python -m benchmarks.integrations [--trials 1000] [--reports 20] [--repeats 3] [--peer-repeats 1]
                                                [--sampler-trials 40] [--sampler-seeds 5]
                                                [--sampler-only | --no-sampler] [--quick]
                                                [--postgres-url URL | --no-postgres]
                                                [--json PATH] [--markdown PATH]

For each backend (a SQLite file; scratch PostgreSQL databases) an Optuna study gets `--trials` finished trials
(one in a hundred failed), each with `--reports` intermediate values and a few user attributes, in Optuna's RDB
storage (one bulk transaction through its models: benchmarks.costly_reads.fill_optuna). Then, in this process:

(b) import-optuna: `read_optuna_study` (Optuna's load_study and get_trials, then our conversion to the export
    document), `import_study` of that document into our database (one transaction), the same import again (it
    finds the identical study and writes nothing), and the whole `suggest-api import-optuna` command as a new
    process into a migrated database.
(a) copy: our `export_study` from that database plus `import_study` of the document into a second database of
    the same kind, against `optuna.copy_study` of the Optuna study into a second storage of the same kind.
    "json" is what a file in between adds (json.dumps + json.loads of the document), outside "ours". The ratio
    is ours / Optuna's: below 1, we are faster.
(c) the Optuna sampler: one Optuna objective per problem (`optuna_objective`: trial.suggest_float/int/categorical
    calls, a param asked only in one branch) minimized by `optuna.create_study(sampler=...).optimize` with
    ServiceSampler(suggester="bayesian") and ServiceSampler(suggester="random") against TPESampler, GPSampler
    and RandomSampler, `--sampler-trials` trials for each of `--sampler-seeds` seeds, the same seed for all.
    Problems: branin (smooth, 2 floats) and mixed (training-like: an optimizer with momentum only for sgd, a
    log lr, a log int width, ...) from workloads.problems, and `discrete` (ints and categoricals; in
    benchmarks.sampler_runs, with one seed's run of each sampler). Our
    sampler talks over HTTP to one `suggest-api serve` per backend (a SQLite file; a scratch PostgreSQL
    database), each run in a service study of its own; Optuna's samplers run once, on Optuna's in-memory
    storage, since their suggestions do not depend on our backend. Reported: median and quartiles of the final
    simple regret over seeds, our bayesian's median regret over TPE's and over GPSampler's, and the mean wall
    time per trial of `study.optimize` (the objectives are instant, so it is the sampler's overhead; ours
    includes an HTTP ask and tell per trial, the service's suggester, and the study's creation from the first
    trials). GPSampler runs on one torch thread, its faster setting here. (c) at 40 trials x 5 seeds takes
    about 4-5 minutes on 2 cores (per seed: Optuna's samplers ~21 s, GPSampler nearly all of it; ours ~12 s on
    SQLite, ~17 s on PostgreSQL); --quick, about 20 s.

Medians over `--repeats` runs (ours) and `--peer-repeats` runs (copy_study commits every trial on its own, about
a minute for 1,000 trials x 20 reports on SQLite here). Everything it creates (files, servers, scratch databases
`bench_<pid>_<random>_*`) is removed at the end. The report goes to stdout and to benchmarks/results/
integrations.md and .json (integrations-quick.* for --quick).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.costly_reads import STUDY, fill_optuna
from benchmarks.harness import (
    BenchmarkError,
    BenchmarkRun,
    Server,
    add_postgres_arguments,
    log,
    run_benchmark,
    table,
)
from benchmarks.sampler_runs import (
    OPTUNA_BACKEND,
    OPTUNA_SAMPLERS,
    OUR_SAMPLERS,
    SAMPLER_PROBLEMS,
    SamplerRow,
    SamplerRun,
    figure,
    one_torch_thread,
    ratio,
    run_optuna_sampler,
    run_service_sampler,
    sampler_row,
    seconds,
    times,
)
from suggest_api.config import Limits, Settings
from suggest_api.importers.optuna_study import read_optuna_study
from suggest_api.service import transfer
from suggest_api.service.accounts import team_principal
from suggest_api.service.transactions import Transactions
from suggest_api.storage.database import make_engine, make_sessions
from suggest_api.storage.migrate import upgrade
from suggest_api.storage.studies import SpaceCache

RESULTS = Path(__file__).parent / "results"
SUGGEST_API = Path(sys.executable).parent / "suggest-api"
CLI_TIMEOUT_S = 300.0
SAMPLER_SERVER_WORKERS = 1  # (c): one Optuna program asks one trial at a time


@dataclass
class CopyRow:
    """(a) one backend: medians in seconds."""

    backend: str
    export_s: float
    import_s: float
    json_s: float
    copy_study_s: float

    @property
    def ours_s(self) -> float:
        return self.export_s + self.import_s


@dataclass
class ImportRow:
    """(b) one backend: medians in seconds (the command: one run)."""

    backend: str
    read_s: float
    import_s: float
    again_s: float
    command_s: float


class Ours:
    """One database of ours, migrated, with the team "default" as the command line acts on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.transactions = Transactions(make_sessions(self.engine))
        self.who = team_principal(self.transactions, Settings(database_url=url))

    def import_(self, document: dict[str, Any], name: str | None = None) -> bool:
        return self.transactions.write(lambda session: transfer.import_study(
            session, self.who, document, limits=Limits(), spaces=SpaceCache(), name=name).created)

    def export(self, name: str) -> dict[str, Any]:
        return self.transactions.read(lambda session: transfer.export_study(session, self.who, name))

    def close(self) -> None:
        self.engine.dispose()


def json_round_trip(document: dict[str, Any]) -> Any:
    """What a file between export and import adds: the text written, then read."""
    return json.loads(json.dumps(document))


class Integrations(BenchmarkRun):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.trials: int = args.trials or (200 if args.quick else 1000)
        self.reports: int = args.reports or (5 if args.quick else 20)
        self.repeats: int = args.repeats or (1 if args.quick else 3)
        self.peer_repeats: int = args.peer_repeats
        self.transfer: bool = not args.sampler_only  # (a) and (b)
        self.sampler: bool = not args.no_sampler  # (c)
        self.sampler_trials: int = args.sampler_trials or (12 if args.quick else 40)
        self.sampler_seeds: int = args.sampler_seeds or (2 if args.quick else 5)
        self.json_path: Path = args.json
        self.markdown_path: Path = args.markdown
        self.copies: list[CopyRow] = []
        self.imports: list[ImportRow] = []
        self.samplers: list[SamplerRow] = []
        self.sampler_s: dict[str, float] = {}  # (c)'s wall time by backend (the first includes Optuna's samplers)

    def run(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        backends: list[tuple[str, Callable[[str], str]]] = [
            ("sqlite", lambda purpose: f"sqlite:///{self.workdir / purpose}.db")]
        if self.postgres is not None:
            backends.append(("postgres", self.postgres.create))
        for backend, make_url in backends:
            if self.transfer:
                self.section(backend, functools.partial(self.measure, backend, make_url))
            if self.sampler:
                self.section(f"{backend} (c)", functools.partial(self.measure_sampler, backend, make_url))
        self.write_results()

    def measure(self, backend: str, make_url: Callable[[str], str]) -> None:
        """(a) and (b) on this backend: (a) copies the study that (b) imported."""
        optuna_src, optuna_dst = make_url("optuna_src"), make_url("optuna_dst")
        started = time.perf_counter()
        fill_optuna(optuna_src, self.trials, self.reports, random.Random(1)).storage.engine.dispose()
        log(f"{backend}: the Optuna study filled in {time.perf_counter() - started:.1f} s")
        source, target = Ours(make_url("ours_src")), Ours(make_url("ours_dst"))
        command_url = make_url("ours_cli")
        Ours(command_url).close()  # migrated, so the command's time is the import's, not the schema's
        try:
            self.imports.append(self.measure_import(backend, optuna_src, source, command_url))
            self.copies.append(self.measure_copy(backend, optuna_src, optuna_dst, source, target))
        finally:
            source.close()
            target.close()

    def measure_import(self, backend: str, optuna_url: str, source: Ours, command_url: str) -> ImportRow:
        """(b): read + convert, import, the same import again, and the whole command."""
        reads, imports, agains = [], [], []
        document: dict[str, Any] = {}
        for repeat in range(self.repeats):
            elapsed, document = seconds(lambda: read_optuna_study(optuna_url, STUDY))
            reads.append(elapsed)
            name = STUDY if repeat == 0 else f"{STUDY}-{repeat}"
            elapsed, created = seconds(functools.partial(source.import_, document, name))
            imports.append(elapsed)
            elapsed, again = seconds(functools.partial(source.import_, document, name))
            agains.append(elapsed)
            if not created or again or len(document["trials"]) != self.trials:
                raise BenchmarkError(f"import-optuna: created={created}, again={again}, "
                                     f"{len(document['trials'])} trials of {self.trials}")
        command = [str(SUGGEST_API), "import-optuna", "--storage", optuna_url, "--study", STUDY,
                   "--database-url", command_url]
        elapsed, done = seconds(lambda: subprocess.run(command, capture_output=True, text=True, check=False,
                                                       timeout=CLI_TIMEOUT_S))
        if done.returncode != 0:
            raise BenchmarkError(f"suggest-api import-optuna exited {done.returncode}: {done.stderr[-500:]}")
        row = ImportRow(backend, statistics.median(reads), statistics.median(imports), statistics.median(agains),
                        elapsed)
        log(f"{backend} (b): read {row.read_s:.2f} s, import {row.import_s:.2f} s, again {row.again_s:.2f} s, "
            f"command {row.command_s:.2f} s")
        return row

    def measure_copy(self, backend: str, optuna_src: str, optuna_dst: str, source: Ours, target: Ours) -> CopyRow:
        """(a): our export + import between two databases, against optuna.copy_study between two storages."""
        import optuna

        exports, imports, texts, copies = [], [], [], []
        for repeat in range(self.repeats):
            elapsed, document = seconds(functools.partial(source.export, STUDY))
            exports.append(elapsed)
            elapsed, created = seconds(functools.partial(target.import_, document, f"copy-{repeat}"))
            imports.append(elapsed)
            if not created or len(document["trials"]) != self.trials:
                raise BenchmarkError(f"copy: created={created}, {len(document['trials'])} trials of {self.trials}")
            texts.append(seconds(functools.partial(json_round_trip, document))[0])
        for repeat in range(self.peer_repeats):
            from_storage, to_storage = optuna.storages.RDBStorage(optuna_src), optuna.storages.RDBStorage(optuna_dst)
            try:
                elapsed, _ = seconds(functools.partial(optuna.copy_study, from_study_name=STUDY,
                                                       from_storage=from_storage, to_storage=to_storage,
                                                       to_study_name=f"copy-{repeat}"))
                copies.append(elapsed)
                copied = len(optuna.load_study(study_name=f"copy-{repeat}", storage=to_storage).trials)
            finally:
                from_storage.engine.dispose()
                to_storage.engine.dispose()
            if copied != self.trials:
                raise BenchmarkError(f"copy_study copied {copied} trials of {self.trials}")
        row = CopyRow(backend, statistics.median(exports), statistics.median(imports), statistics.median(texts),
                      statistics.median(copies))
        log(f"{backend} (a): ours {row.ours_s:.2f} s (export {row.export_s:.2f} + import {row.import_s:.2f}), "
            f"copy_study {row.copy_study_s:.2f} s")
        return row

    def measure_sampler(self, backend: str, make_url: Callable[[str], str]) -> None:
        """(c) on this backend: Optuna's samplers the first time (their rows do not depend on our backend), then
        ServiceSampler against one `suggest-api serve` on a fresh database (`make_url(purpose)`)."""
        started = time.perf_counter()
        if not any(row.backend == OPTUNA_BACKEND for row in self.samplers):
            one_torch_thread()
            for problem in SAMPLER_PROBLEMS:
                for sampler in OPTUNA_SAMPLERS:
                    self.sampler_rows(problem, sampler, OPTUNA_BACKEND,
                                      functools.partial(run_optuna_sampler, sampler, problem, self.sampler_trials))
        server = Server(make_url("sampler"), SAMPLER_SERVER_WORKERS, self.workdir / f"server-{backend}.log",
                        self.workdir)
        self.cleanup.callback(server.stop)  # on Ctrl-C as well
        log(f"{backend} (c): starting suggest-api serve")
        server.start()
        try:
            for problem in SAMPLER_PROBLEMS:
                for sampler, suggester in OUR_SAMPLERS.items():
                    self.sampler_rows(problem, sampler, backend, functools.partial(
                        run_service_sampler, server.base_url, suggester, problem, self.sampler_trials))
        finally:
            server.stop()
        if "Traceback" in server.log_tail(400):
            self.failed(f"{backend} (c): the server logged a traceback; its log ends:\n{server.log_tail()}")
        self.sampler_s[backend] = time.perf_counter() - started
        log(f"{backend} (c): {self.sampler_s[backend]:.0f} s")

    def sampler_rows(self, problem: str, sampler: str, backend: str, run: Callable[[int], SamplerRun]) -> None:
        """Every seed's run of one sampler on one problem; a failed run is reported and the others go on."""
        runs = []
        for seed in range(self.sampler_seeds):
            label = f"{backend} (c) {problem} {sampler} seed {seed}"
            try:
                done = run(seed)
            except Exception as exc:  # listed under FAILED with what went wrong; the other runs go on
                self.failed(f"{label}: {type(exc).__name__}: {exc}"[:600])
                continue
            runs.append(done)
            log(f"{label}: regret {figure(SAMPLER_PROBLEMS[problem].regret(min(done.values)))}, "
                f"{1000 * done.seconds / self.sampler_trials:.1f} ms/trial")
        if runs:
            self.samplers.append(sampler_row(problem, sampler, backend, self.sampler_trials, runs))

    def vs(self, row: SamplerRow, peer: str) -> float | None:
        """Our bayesian's median regret over an Optuna sampler's on the same problem (None for other rows)."""
        if row.sampler != "ServiceSampler(bayesian)":
            return None
        theirs = [r for r in self.samplers if r.problem == row.problem and r.sampler == peer]
        return ratio(row.median, theirs[0].median) if theirs else None

    # --- the report ------------------------------------------------------------------------------------

    def tables(self) -> list[tuple[str, list[str], list[list[str]], int]]:
        copy = [[r.backend, f"{r.export_s:.2f}", f"{r.import_s:.2f}", f"{r.ours_s:.2f}", f"{r.json_s:.2f}",
                 f"{r.copy_study_s:.2f}", f"{r.ours_s / r.copy_study_s:.3f}x"] for r in self.copies]
        imports = [[r.backend, f"{r.read_s:.2f}", f"{r.import_s:.2f}", f"{r.read_s + r.import_s:.2f}",
                    f"{r.again_s:.2f}", f"{r.command_s:.2f}", f"{self.trials / (r.read_s + r.import_s):,.0f}"]
                   for r in self.imports]
        transfer = [
            ("(a) copy a study between two databases of the same kind, seconds",
             ["backend", "export", "import", "ours", "json", "copy_study", "ours/Optuna"], copy, 1),
            ("(b) import-optuna of the Optuna study, seconds",
             ["backend", "read+convert", "import", "total", "again (no-op)", "command", "trials/s"], imports, 1)]
        sampler = ("(c) an unchanged Optuna program: ServiceSampler against Optuna's samplers, final simple regret",
                   ["problem", "sampler", "backend", "runs", "median regret", "q1 - q3", "ms/trial", "/TPE", "/GP",
                    "discovery", "random params"], self.sampler_cells(), 3)
        return (transfer if self.transfer else []) + ([sampler] if self.sampler else [])

    def sampler_cells(self) -> list[list[str]]:
        """(c)'s rows by problem, then sampler (Optuna's first), then backend."""
        problems, samplers = list(SAMPLER_PROBLEMS), [*OPTUNA_SAMPLERS, *OUR_SAMPLERS]
        backends = [OPTUNA_BACKEND, "sqlite", "postgres"]
        cells = []
        for r in sorted(self.samplers, key=lambda r: (problems.index(r.problem), samplers.index(r.sampler),
                                                       backends.index(r.backend))):
            q1, q3 = r.quartiles
            ours = r.backend != OPTUNA_BACKEND
            cells.append([r.problem, r.sampler, r.backend, str(len(r.regrets)), figure(r.median),
                          f"{figure(q1)} - {figure(q3)}", f"{r.ms_per_trial:.1f}", times(self.vs(r, "TPESampler")),
                          times(self.vs(r, "GPSampler")), f"{r.discovery:g}" if r.discovery is not None else "-",
                          str(r.independent) if ours else "-"])
        return cells

    def sampler_notes(self) -> list[str]:
        spent = ", ".join(f"{backend} {elapsed:.0f} s" for backend, elapsed in self.sampler_s.items())
        return [f"{self.sampler_trials} trials per run, seeds 0..{self.sampler_seeds - 1}, the same for every sampler; "
                "one Optuna objective per problem (optuna_objective), run unchanged by "
                "optuna.create_study(sampler=...).optimize",
                "regret: best value found minus the problem's known minimum (lower is better); median and quartiles "
                "over the seeds",
                "/TPE, /GP: ServiceSampler(bayesian)'s median regret over TPESampler's and GPSampler's (below 1: "
                "ours got closer); inf: theirs hit the optimum and ours did not",
                "ms/trial: wall time of study.optimize per trial; the objectives are instant, so it is the "
                "sampler's cost. ServiceSampler's includes HTTP: an ask and a tell per trial to a local "
                f"suggest-api serve ({SAMPLER_SERVER_WORKERS} worker) on that backend, the service's suggester "
                "there, and defining the service study from the first trials; Optuna's samplers run in this "
                f"process on the {OPTUNA_BACKEND} storage",
                "discovery: trials ServiceSampler sampled itself (random values, categorical choices in turn) before "
                "the service study existed, median; random params: params sampled at random because the service did "
                "not give them (0 expected)",
                f"(c) wall time: {spent or '-'} (the first includes Optuna's samplers)"]

    def report_lines(self, markdown: bool) -> list[str]:
        h1, h2, bullet = ("# ", "### ", "- ") if markdown else ("", "", "")
        lines = [f"{h1}Integrations: moving a study in and out, and the Optuna sampler"
                 f"{' (quick run)' if self.quick else ''}", ""]
        lines += [bullet + line for line in self.environment_lines()]
        if self.transfer:
            lines.append(f"{bullet}(a), (b): a study of {self.trials:,} trials x {self.reports} reports; medians of "
                         f"{self.repeats} runs (ours) and {self.peer_repeats} (copy_study); one run of the command")
        lines += [f"{bullet}wall time {time.monotonic() - self.started:.0f} s", ""]
        for title, headers, rows, left in self.tables():
            lines += [f"{h2}{title}", ""]
            lines += markdown_table(headers, rows, left) if markdown else table(headers, rows, left=left)
            lines.append("")
        if self.sampler:
            lines += [*(bullet + note for note in self.sampler_notes()), ""]
        if self.failures:
            lines += [f"{h2}FAILED", "", *(bullet + failure for failure in self.failures)]
        return lines

    def environment_lines(self) -> list[str]:
        import optuna
        import sqlalchemy

        return [f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
                f"{platform.system()} {platform.release()}",
                f"versions: Python {platform.python_version()}, optuna {optuna.__version__}, "
                f"SQLAlchemy {sqlalchemy.__version__}{self.torch_note()}; PostgreSQL {self.postgres_note}"]

    def torch_note(self) -> str:
        """torch's version, which GPSampler runs on; only for (c)."""
        if not self.sampler:
            return ""
        try:
            import torch
        except ImportError:
            return ", torch not installed"
        threads = torch.get_num_threads()
        return f", torch {torch.__version__} ({threads} thread{'' if threads == 1 else 's'})"

    def report(self) -> str:
        return "\n".join(self.report_lines(markdown=False))

    def write_results(self) -> None:
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        self.markdown_path.write_text("\n".join(self.report_lines(markdown=True)) + "\n", encoding="utf-8")
        document = {"benchmark": "integrations", "quick": self.quick, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "environment": self.environment_lines(), "elapsed_seconds": time.monotonic() - self.started,
                    "config": {"trials": self.trials, "reports": self.reports, "repeats": self.repeats,
                               "peer_repeats": self.peer_repeats, "transfer": self.transfer, "sampler": self.sampler,
                               "sampler_trials": self.sampler_trials, "sampler_seeds": self.sampler_seeds},
                    "copy": [asdict(r) | {"ours_s": r.ours_s, "ratio": r.ours_s / r.copy_study_s} for r in self.copies],
                    "import_optuna": [asdict(r) for r in self.imports],
                    "sampler": [self.sampler_json(r) for r in self.samplers], "sampler_seconds": self.sampler_s,
                    "failures": self.failures}
        self.json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        log(f"wrote {self.json_path} and {self.markdown_path}")

    def sampler_json(self, row: SamplerRow) -> dict[str, Any]:
        """A (c) row with its summary; an infinite ratio is null, as JSON has no infinity."""
        q1, q3 = row.quartiles
        ratios = {"vs_tpe": self.vs(row, "TPESampler"), "vs_gp": self.vs(row, "GPSampler")}
        return asdict(row) | {"median": row.median, "q1": q1, "q3": q3} | {
            k: None if v is None or math.isinf(v) else v for k, v in ratios.items()}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """The first `left` columns left-aligned, the figures right-aligned."""
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * left + "---:|" * (len(headers) - left),
            *("| " + " | ".join(row) + " |" for row in rows)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.integrations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, help="finished trials in the study (default 1,000; --quick 200)")
    parser.add_argument("--reports", type=int, help="intermediate values per trial (default 20; --quick 5)")
    parser.add_argument("--repeats", type=int, help="runs of each of our measurements (default 3; --quick 1)")
    parser.add_argument("--peer-repeats", type=int, default=1, help="runs of optuna.copy_study (default 1)")
    parser.add_argument("--sampler-trials", type=int, help="(c): trials per optimization (default 40; --quick 12)")
    parser.add_argument("--sampler-seeds", type=int, help="(c): seeds per problem and sampler (default 5; --quick 2)")
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument("--sampler-only", action="store_true", help="only (c), the Optuna sampler")
    parts.add_argument("--no-sampler", action="store_true", help="only (a) and (b), without the Optuna sampler")
    parser.add_argument("--quick", action="store_true", help="200 trials x 5 reports, one run of each; (c): 12 trials "
                                                              "x 2 seeds")
    parser.add_argument("--json", type=Path, help="results JSON (default benchmarks/results/integrations.json, "
                                                  "integrations-quick.json for --quick)")
    parser.add_argument("--markdown", type=Path, help="report in Markdown (default: beside the JSON, .md)")
    add_postgres_arguments(parser)
    args = parser.parse_args(argv)
    args.duration = None
    args.json = args.json or RESULTS / ("integrations-quick.json" if args.quick else "integrations.json")
    args.markdown = args.markdown or args.json.with_suffix(".md")
    if min(args.trials or 1, args.reports or 1, args.repeats or 1, args.peer_repeats, args.sampler_trials or 1,
           args.sampler_seeds or 1) < 1:
        parser.error("--trials, --reports, --repeats, --peer-repeats, --sampler-trials and --sampler-seeds must be "
                     "at least 1")
    return args


def main() -> int:
    return run_benchmark(Integrations, parse_args())


if __name__ == "__main__":
    sys.exit(main())
