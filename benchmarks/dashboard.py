"""The dashboard's load time at 10,000 trials, against optuna-dashboard on the same trials, in one browser.

    .venv/bin/python -m benchmarks.dashboard [--trials 10000] [--reports 10] [--loads 5] [--quick]
                                             [--postgres-url URL | --no-postgres] [--json PATH] [--markdown PATH]
    .venv/bin/python -m benchmarks.dashboard --screenshots docs/images

A study of `--trials` trials (the DESIGN.md space with its conditional momentum; 1 in 50 failed, 1 in 5 pruned
after a third of its `--reports` reports, the others completed with all of them) is imported as one
suggest-api.study document (`POST /v1/studies:import`) into a `suggest-api serve` (2 workers) on SQLite, and on
a scratch PostgreSQL database unless --no-postgres. Headless Chromium (Debian's, through Playwright) loads the
study page `--loads` times, each in a fresh context (no cache), until `body[data-state=ready]` (every trial
fetched, every chart drawn), and the list page likewise. The same trials, as an Optuna RDB study on SQLite, are
served by `optuna-dashboard` (its own process), whose study page is timed in the same browser until its history
plot has drawn a point per completed trial (`#plot-history .scatterlayer .point`), its list until the study's
name shows. Medians, from `page.goto` to the condition (polled every frame); ratio: ours / optuna-dashboard's
(below 1: ours is faster). A study page median above 2 s at 10,000 trials is a FAILED line (exit status 1).
--quick: 2,000 trials x 5 reports, 3 loads (about a minute).

--screenshots DIR writes the PNGs of docs/images instead (dashboard-studies.png, dashboard-study.png, and the
parallel, importance, curves, pareto and table sections), of a SQLite server's studies run through the HTTP
API: a small numpy network trained on two-moons data, its validation loss reported each epoch to successive
halving (which prunes), and a two-objective study of it (validation accuracy against parameter count).

Needs the service in the virtualenv plus `optuna`, `optuna-dashboard`, `playwright` (its Python package only:
it drives Debian's chromium, never a downloaded browser) and `requests`. Everything it starts (servers, the
dashboard, the browser) and creates (a temporary directory, scratch databases `bench_<pid>_<random>_*`) is
removed at the end. The report goes to stdout and to benchmarks/results/dashboard.md and .json
(dashboard-quick.* for --quick).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from benchmarks.harness import (
    SPACE,
    BenchmarkError,
    BenchmarkRun,
    Server,
    add_postgres_arguments,
    log,
    run_benchmark,
    table,
)
from suggest_api.storage.migrate import upgrade_url

RESULTS = Path(__file__).parent / "results"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
STUDY = "dashboard-10k"
READY = "() => document.body && document.body.dataset.state === 'ready'"
LOAD_TIMEOUT_MS = 180_000
TARGET_S = 2.0  # the study page at 10,000 trials
HTTP_TIMEOUT_S = 120.0
OPTUNA_DASHBOARD = str(Path(sys.executable).with_name("optuna-dashboard"))


# --- the study, as a document and as Optuna trials ---------------------------------------------------------

def trial_state(number: int) -> str:
    return "failed" if number % 50 == 7 else "pruned" if number % 5 == 3 else "completed"


def timing_document(trials: int, reports: int, seed: int = 1) -> dict[str, Any]:
    """The benchmark's study as a suggest-api.study document (docs/integrations.md)."""
    rng = random.Random(seed)
    start = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    items: list[dict[str, Any]] = []
    for number in range(trials):
        optimizer = rng.choice(["sgd", "adam", "rmsprop"])
        params: dict[str, Any] = {"lr": 10 ** rng.uniform(-5, -1), "batch_size": 16 * rng.randint(1, 16),
                                  "optimizer": optimizer}
        if optimizer == "sgd":
            params["momentum"] = rng.uniform(0.0, 0.99)
        final = (0.15 + 0.08 * (math.log10(params["lr"]) + 3) ** 2 + params["batch_size"] / 4000
                 + (0.05 * (1 - params.get("momentum", 0.5)) if optimizer == "sgd" else 0.02) + rng.gauss(0, 0.01))
        state = trial_state(number)
        steps = 0 if state == "failed" else max(1, reports // 3) if state == "pruned" else reports
        curve = [final + 0.6 * math.exp(-3 * step / max(reports, 1)) for step in range(1, steps + 1)]
        created = start + timedelta(seconds=20 * number)
        items.append({"number": number, "state": state, "params": params,
                      "value": None if state == "failed" else (curve[-1] if curve else final),
                      "created_at": created.isoformat(),
                      "finished_at": (created + timedelta(seconds=15 + steps)).isoformat(),
                      "metadata": {"host": f"gpu-{number % 8}"} if number % 10 == 0 else None,
                      "intermediate": [{"step": step, "value": value} for step, value in enumerate(curve, 1)]})
    return {"format": "suggest-api.study", "version": 1, "trials": items, "study": {
        "name": STUDY, "space": SPACE, "objective": {"name": "loss", "goal": "minimize"},
        "suggester": {"name": "random", "options": {}}, "pruner": {"name": "median", "options": {}},
        "seed": seed, "heartbeat_timeout": 300.0, "created_at": start.isoformat(), "metadata": {"benchmark": True}}}


def fill_optuna(url: str, document: dict[str, Any]) -> int:
    """The document's trials in an Optuna RDB study, in one transaction through its models; the study's id."""
    import optuna
    from optuna import distributions as od
    from optuna.storages._rdb import models

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {"lr": od.FloatDistribution(1e-5, 0.1, log=True),
                     "batch_size": od.IntDistribution(16, 256, step=16),
                     "optimizer": od.CategoricalDistribution(["sgd", "adam", "rmsprop"]),
                     "momentum": od.FloatDistribution(0.0, 0.99)}
    states = {"completed": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED,
              "failed": optuna.trial.TrialState.FAIL}
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name=STUDY, storage=storage)
    finite = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
    session = storage.scoped_session()
    try:
        for trial in document["trials"]:
            row = models.TrialModel(study_id=study._study_id, number=trial["number"], state=states[trial["state"]],
                                    datetime_start=naive(trial["created_at"]),
                                    datetime_complete=naive(trial["finished_at"]))
            row.params = [models.TrialParamModel(param_name=name,
                                                 param_value=distributions[name].to_internal_repr(value),
                                                 distribution_json=od.distribution_to_json(distributions[name]))
                          for name, value in trial["params"].items()]
            row.values = [] if trial["state"] != "completed" else [models.TrialValueModel(
                objective=0, value=trial["value"], value_type=models.TrialValueModel.TrialValueType.FINITE)]
            row.intermediate_values = [models.TrialIntermediateValueModel(
                step=report["step"], intermediate_value=report["value"], intermediate_value_type=finite)
                for report in trial["intermediate"]]
            row.user_attributes = [models.TrialUserAttributeModel(key=key, value_json=json.dumps(value))
                                   for key, value in (trial["metadata"] or {}).items()]
            session.add(row)
        session.commit()
    finally:
        session.close()
        storage.engine.dispose()
    return int(study._study_id)


def naive(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


# --- the browser and the other dashboard -----------------------------------------------------------------

class Chromium:
    """One Playwright-driven Chromium for the whole run; each load gets a fresh context."""

    def __init__(self, cleanup: contextlib.ExitStack) -> None:
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            raise BenchmarkError(f"{CHROMIUM} is missing: apt-get install -y chromium")
        self.playwright = cleanup.enter_context(sync_playwright())
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        cleanup.callback(self.browser.close)

    @contextlib.contextmanager
    def page(self) -> Iterator[tuple[Any, list[str]]]:
        """A page in a context of its own, and the console errors and exceptions it logs."""
        context = self.browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            yield page, errors
        finally:
            context.close()

    def load(self, url: str, done: str, arg: Any = None, *, ours: bool = True) -> float:
        """Seconds from navigation to `done` (a JS predicate, polled every frame) in a fresh context."""
        with self.page() as (page, errors):
            started = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=LOAD_TIMEOUT_MS)
            page.wait_for_function(done, arg=arg, polling="raf", timeout=LOAD_TIMEOUT_MS)
            elapsed = time.perf_counter() - started
            if ours and errors:
                raise BenchmarkError(f"{url} logged errors: {errors[:3]}")
            return elapsed


class OptunaDashboard(Server):
    """`optuna-dashboard STORAGE` as its own process on a free port: harness.Server's start, stop and retries."""

    def __init__(self, storage: str, log_path: Path, cwd: Path) -> None:
        super().__init__(storage, 1, log_path, cwd)

    def command(self, port: int) -> list[str]:
        return [OPTUNA_DASHBOARD, self.database_url, "--host", "127.0.0.1", "--port", str(port), "--quiet"]

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 60
        while self.process is not None and self.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base_url}/api/studies", timeout=5).status_code == 200:
                    return True
            time.sleep(0.2)
        return False


# --- the timing run ---------------------------------------------------------------------------------------

@dataclass
class Row:
    """One page on one server: seconds of each load."""

    server: str
    page: str
    loads: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.loads)


class DashboardBenchmark(BenchmarkRun):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.trials: int = args.trials or (2000 if args.quick else 10_000)
        self.reports: int = args.reports or (5 if args.quick else 10)
        self.load_count: int = args.loads or (3 if args.quick else 5)
        self.json_path: Path = args.json
        self.markdown_path: Path = args.markdown
        self.rows: list[Row] = []
        self.imports: dict[str, float] = {}
        self.browser_version = "?"

    def run(self) -> None:
        document = timing_document(self.trials, self.reports)
        self.completed = sum(1 for t in document["trials"] if t["state"] == "completed")
        size = len(json.dumps(document))
        log(f"{self.trials:,} trials x {self.reports} reports: a {size / 2**20:.1f} MiB document")
        browser = Chromium(self.cleanup)
        self.browser_version = browser.browser.version
        backends = [("sqlite", f"sqlite:///{self.workdir / 'ours.db'}")]
        if self.postgres is not None:
            backends.append(("postgres", self.postgres.create("dashboard")))
        for backend, url in backends:
            self.section(backend, lambda b=backend, u=url: self.measure_ours(browser, b, u, document))  # type: ignore[misc]
        self.section("optuna-dashboard", lambda: self.measure_optuna(browser, document))
        study = [r for r in self.rows if r.page == "study" and r.server != "optuna-dashboard"]
        for row in study:
            if self.trials >= 10_000 and row.median > TARGET_S:
                self.failed(f"{row.server}: the study page took {row.median:.2f} s (median) at {self.trials:,} "
                            f"trials, above the {TARGET_S:.0f} s target")
        self.write_results()

    def measure_ours(self, browser: Chromium, backend: str, url: str, document: dict[str, Any]) -> None:
        server = Server(upgrade_url(url), 2, self.workdir / f"server-{backend}.log", self.workdir)
        self.cleanup.callback(server.stop)
        server.start()
        started = time.perf_counter()
        with requests.post(f"{server.base_url}/v1/studies:import", json=document, timeout=HTTP_TIMEOUT_S) as answer:
            if answer.status_code != 201:
                raise BenchmarkError(f"import answered {answer.status_code}: {answer.text[:500]}")
        self.imports[backend] = time.perf_counter() - started
        log(f"{backend}: imported in {self.imports[backend]:.1f} s")
        study_url = f"{server.base_url}/ui/#/studies/{STUDY}"
        browser.load(study_url, READY)  # untimed: the server's workers warm up (imports, first queries)
        check_ours(browser, study_url, self.completed)
        for page, target in (("study", study_url), ("list", f"{server.base_url}/ui/#/")):
            row = Row(f"ours ({backend})", page)
            row.loads = [browser.load(target, READY) for _ in range(self.load_count)]
            log(f"{row.server} {page}: median {row.median:.2f} s of {self.load_count}")
            self.rows.append(row)
        server.stop()

    def measure_optuna(self, browser: Chromium, document: dict[str, Any]) -> None:
        url = f"sqlite:///{self.workdir / 'optuna.db'}"
        started = time.perf_counter()
        study_id = fill_optuna(url, document)
        log(f"optuna: the RDB study filled in {time.perf_counter() - started:.1f} s")
        dashboard = OptunaDashboard(url, self.workdir / "optuna-dashboard.log", self.workdir)
        self.cleanup.callback(dashboard.stop)
        dashboard.start()
        drawn = "n => document.querySelectorAll('#plot-history .scatterlayer .point').length >= n"
        listed = "name => document.body && document.body.innerText.includes(name)"
        study_url = f"{dashboard.base_url}/dashboard/studies/{study_id}"
        browser.load(study_url, drawn, self.completed, ours=False)  # untimed, as ours
        for page, target, done, arg in (("study", study_url, drawn, self.completed),
                                        ("list", f"{dashboard.base_url}/dashboard", listed, STUDY)):
            row = Row("optuna-dashboard", page)
            row.loads = [browser.load(target, done, arg, ours=False) for _ in range(self.load_count)]
            log(f"optuna-dashboard {page}: median {row.median:.2f} s of {self.load_count}")
            self.rows.append(row)
        dashboard.stop()

    def peer(self, page: str) -> Row | None:
        return next((r for r in self.rows if r.server == "optuna-dashboard" and r.page == page), None)

    def table_rows(self) -> list[list[str]]:
        rows = []
        for row in self.rows:
            peer = self.peer(row.page)
            ratio = "-" if peer is None or row.server == peer.server else f"{row.median / peer.median:.2f}"
            rows.append([row.server, row.page, f"{row.median:.2f}", f"{min(row.loads):.2f}", f"{max(row.loads):.2f}",
                         ratio])
        return rows

    def report_lines(self, markdown: bool) -> list[str]:
        import optuna

        h1, h2, bullet = ("# ", "### ", "- ") if markdown else ("", "", "")
        headers = ["server", "page", "median s", "min s", "max s", "ratio"]
        lines = [f"{h1}Dashboard: load time of a {self.trials:,}-trial study{' (quick run)' if self.quick else ''}",
                 "", *(bullet + line for line in self.environment_lines()),
                 f"{bullet}{self.trials:,} trials ({self.completed:,} completed) x up to {self.reports} reports; "
                 f"median of {self.load_count} loads, each in a fresh browser context; optuna {optuna.__version__}",
                 f"{bullet}imports (POST /v1/studies:import): "
                 + (", ".join(f"{k} {v:.1f} s" for k, v in self.imports.items()) or "none"),
                 f"{bullet}ours: until body[data-state=ready]; optuna-dashboard: until its history plot drew every "
                 "completed trial (study page), until the study's name shows (list); ratio: ours / theirs",
                 f"{bullet}wall time {time.monotonic() - self.started:.0f} s", ""]
        rows = self.table_rows()
        lines += (["| " + " | ".join(headers) + " |", "|---|---|---:|---:|---:|---:|",
                   *("| " + " | ".join(r) + " |" for r in rows)] if markdown else table(headers, rows, left=2))
        if self.failures:
            lines += ["", f"{h2}FAILED", "", *(bullet + failure for failure in self.failures)]
        return lines

    def environment_lines(self) -> list[str]:
        from importlib.metadata import version

        return [f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
                f"{platform.system()} {platform.release()}",
                f"versions: Python {platform.python_version()}, playwright {version('playwright')}, "
                f"optuna-dashboard {version('optuna-dashboard')}, Chromium {self.browser_version}; "
                f"PostgreSQL {self.postgres_note}"]

    def report(self) -> str:
        return "\n".join(self.report_lines(markdown=False))

    def write_results(self) -> None:
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        self.markdown_path.write_text("\n".join(self.report_lines(markdown=True)) + "\n", encoding="utf-8")
        document = {"benchmark": "dashboard", "quick": self.quick, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "environment": self.environment_lines(), "elapsed_seconds": time.monotonic() - self.started,
                    "config": {"trials": self.trials, "completed": self.completed, "reports": self.reports,
                               "loads": self.load_count},
                    "imports_s": self.imports,
                    "rows": [asdict(r) | {"median": r.median} for r in self.rows], "failures": self.failures}
        self.json_path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        log(f"wrote {self.json_path} and {self.markdown_path}")


def check_ours(browser: Chromium, url: str, completed: int) -> None:
    """The timed page really drew the whole study: the history plot holds every completed trial."""
    with browser.page() as (page, _):
        page.goto(url, timeout=LOAD_TIMEOUT_MS)
        page.wait_for_function(READY, timeout=LOAD_TIMEOUT_MS)
        shown = page.get_attribute("#history-plot", "data-points")
        if shown != str(completed):
            raise BenchmarkError(f"the history plot shows {shown} points, not the {completed} completed trials")


# --- the screenshots' studies: a small network really trained ----------------------------------------------

EPOCHS = 27  # successive halving's rungs at 3, 9 and 27 epochs (min_resource 3, reduction factor 3)


def two_moons(count: int, rng: Any) -> tuple[Any, Any]:
    """Two interleaved half circles with noise: a problem a linear model cannot solve, a small network can."""
    import numpy as np

    angle = rng.uniform(0, np.pi, count)
    label = rng.integers(0, 2, count)
    x = np.where(label == 0, np.cos(angle), 1 - np.cos(angle))
    y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
    return np.stack([x, y], axis=1) + rng.normal(0, 0.15, (count, 2)), label.astype(float)


def train(params: dict[str, Any], seed: int, report: Callable[[int, float], bool]) -> tuple[str, float, float]:
    """A one-hidden-layer tanh network, full-batch, EPOCHS epochs of 5 steps; `report(epoch, val_loss)` says
    whether to stop. (state, val_loss, val_accuracy): completed, pruned (stopped), or failed (diverged)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    data, labels = two_moons(600, rng)
    (train_x, val_x), (train_y, val_y) = np.split(data, [400]), np.split(labels, [400])
    width, lr, l2 = int(params["width"]), float(params["lr"]), float(params["l2"])
    weights = [rng.normal(0, 1.0, (2, width)), np.zeros(width), rng.normal(0, width**-0.5, width), np.zeros(1)]
    velocity, second = [np.zeros_like(w) for w in weights], [np.zeros_like(w) for w in weights]
    momentum = float(params.get("momentum", 0.0))

    def forward(x: Any) -> tuple[Any, Any]:
        hidden = np.tanh(x @ weights[0] + weights[1])
        return hidden, hidden @ weights[2] + weights[3]

    def val_loss() -> tuple[float, float]:
        _, logit = forward(val_x)
        loss = np.mean(np.logaddexp(0, logit) - val_y * logit)
        return float(loss), float(np.mean((logit > 0) == (val_y > 0.5)))

    step = 0
    for epoch in range(1, EPOCHS + 1):
        for _ in range(5):
            step += 1
            hidden, logit = forward(train_x)
            delta = (1 / (1 + np.exp(-np.clip(logit, -50, 50))) - train_y) / len(train_y)
            back = np.outer(delta, weights[2]) * (1 - hidden**2)
            grads = [train_x.T @ back + l2 * weights[0], back.sum(0), hidden.T @ delta + l2 * weights[2],
                     np.array([delta.sum()])]
            for i, grad in enumerate(grads):
                if params["optimizer"] == "adam":
                    velocity[i] = 0.9 * velocity[i] + 0.1 * grad
                    second[i] = 0.999 * second[i] + 0.001 * grad**2
                    weights[i] -= lr * (velocity[i] / (1 - 0.9**step)) / (np.sqrt(second[i] / (1 - 0.999**step)) + 1e-8)
                else:
                    velocity[i] = momentum * velocity[i] + grad
                    weights[i] -= lr * velocity[i]
        loss, accuracy = val_loss()
        if not math.isfinite(loss) or loss > 3:  # chance is ln 2: this run diverged
            return "failed", math.nan, math.nan
        if report(epoch, loss):
            return "pruned", loss, accuracy
    return ("completed", *val_loss())


NETWORK_SPACE: dict[str, Any] = {"params": [
    {"name": "lr", "type": "float", "low": 1e-3, "high": 3.0, "log": True},
    {"name": "width", "type": "int", "low": 2, "high": 64, "log": True},
    {"name": "l2", "type": "float", "low": 1e-6, "high": 0.1, "log": True},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.95, "when": {"optimizer": ["sgd"]}},
]}


def post(http: requests.Session, url: str, body: Any, expect: int = 200) -> Any:
    with http.post(url, json=body, timeout=HTTP_TIMEOUT_S) as answer:
        if answer.status_code != expect:
            raise BenchmarkError(f"POST {url} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()


def run_training_study(http: requests.Session, base_url: str, trials: int = 90) -> str:
    """Ask, train (reporting every epoch to successive halving), tell: as a trainer does, one at a time."""
    name = "two-moons-asha"
    study = f"{base_url}/v1/studies/{name}"
    post(http, f"{base_url}/v1/studies", {
        "name": name, "space": NETWORK_SPACE, "objective": {"name": "val_loss", "goal": "minimize"},
        "suggester": {"name": "genetic"}, "seed": 42, "metadata": {"dataset": "two moons, 400 + 200 points"},
        "pruner": {"name": "successive_halving", "options": {"min_resource": 3, "reduction_factor": 3}}}, 201)
    for index in range(trials):
        trial = post(http, f"{study}/ask", {"count": 1, "client_id": f"worker-{index % 3}"}, 201)["trials"][0]
        number = trial["number"]

        def report(epoch: int, loss: float, number: int = number) -> bool:
            return bool(post(http, f"{study}/trials/{number}/report", {"step": epoch, "value": loss})["prune"])

        state, loss, accuracy = train(trial["params"], index, report)
        post(http, f"{study}/tell", {"number": number, "state": state} if state == "failed" else {
            "number": number, "state": state, "value": loss, "metadata": {"val_accuracy": round(accuracy, 4)}})
    log(f"{name}: {trials} trials trained")
    return name


def run_multi_objective_study(http: requests.Session, base_url: str, trials: int = 50) -> str:
    """The same network, two objectives: validation accuracy up, parameter count down."""
    name = "two-moons-size-vs-accuracy"
    study = f"{base_url}/v1/studies/{name}"
    space = {"params": [p for p in NETWORK_SPACE["params"] if p["name"] in ("lr", "width", "l2")]}
    post(http, f"{base_url}/v1/studies", {
        "name": name, "space": space, "suggester": {"name": "genetic"}, "seed": 7,
        "objectives": [{"name": "val_accuracy", "goal": "maximize"}, {"name": "parameters", "goal": "minimize"}]}, 201)
    for index in range(trials):
        trial = post(http, f"{study}/ask", {"count": 1}, 201)["trials"][0]
        state, _, accuracy = train({**trial["params"], "optimizer": "adam"}, index, lambda epoch, loss: False)
        values = {"val_accuracy": accuracy, "parameters": 4 * int(trial["params"]["width"]) + 1}
        post(http, f"{study}/tell", {"number": trial["number"], **({"values": values} if state == "completed"
                                                                    else {"state": "failed"})})
    log(f"{name}: {trials} trials trained")
    return name


# --- the screenshots ---------------------------------------------------------------------------------------

SECTIONS = {"parallel": "#parallel-plot", "importance": "#importance-plot", "curves": "#curves-plot",
            "pareto": "#pareto-plot", "table": "table#trials-table"}


class Screenshots(BenchmarkRun):
    """--screenshots DIR: realistic studies on a SQLite server, and the dashboard's pictures of them."""

    def __init__(self, args: argparse.Namespace) -> None:
        args.no_postgres = True
        super().__init__(args)
        self.directory: Path = args.screenshots
        self.written: list[Path] = []

    def run(self) -> None:
        server = Server(upgrade_url(f"sqlite:///{self.workdir / 'shots.db'}"), 2, self.workdir / "server.log",
                        self.workdir)
        self.cleanup.callback(server.stop)
        server.start()
        with requests.Session() as http:
            training = run_training_study(http, server.base_url)
            multi = run_multi_objective_study(http, server.base_url)
        browser = Chromium(self.cleanup)
        self.directory.mkdir(parents=True, exist_ok=True)
        with browser.page() as (page, errors):
            page.set_viewport_size({"width": 1280, "height": 800})
            self.shoot(page, f"{server.base_url}/ui/#/", "dashboard-studies.png")
            self.shoot(page, f"{server.base_url}/ui/#/studies/{training}", "dashboard-study.png")
            for name in ("parallel", "importance", "curves", "table"):
                self.section_shot(page, name)
            self.shoot(page, f"{server.base_url}/ui/#/studies/{multi}", None)
            self.section_shot(page, "pareto")
            if errors:
                raise BenchmarkError(f"the dashboard logged errors: {errors[:3]}")

    def shoot(self, page: Any, url: str, name: str | None) -> None:
        from playwright.sync_api import Error as PlaywrightError

        page.goto("about:blank")  # a fresh document each time, not a hash change of the last one
        page.goto(url, timeout=LOAD_TIMEOUT_MS)
        try:
            page.wait_for_function(READY, timeout=LOAD_TIMEOUT_MS)
        except PlaywrightError as error:
            state = page.evaluate("() => document.body.dataset.state")
            raise BenchmarkError(f"{url} not ready (data-state {state}): {page.inner_text('body')[:500]}") from error
        page.wait_for_timeout(700)  # ECharts' entry animation
        if name is not None:
            self.save(page.screenshot(), name)

    def section_shot(self, page: Any, name: str) -> None:
        """The section scrolled to just below the sticky header, cut at the window's bottom (the table is long)."""
        section = page.locator(f"section:has({SECTIONS[name]})").first
        section.evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 56)")
        page.wait_for_timeout(300)
        box = section.bounding_box()
        height = min(box["height"], page.viewport_size["height"] - box["y"])
        self.save(page.screenshot(clip={**box, "height": height}), f"dashboard-{name}.png")

    def save(self, data: bytes, name: str) -> None:
        path = self.directory / name
        path.write_bytes(data)
        self.written.append(path)
        log(f"wrote {path} ({len(data) / 1024:.0f} KiB)")

    def report(self) -> str:
        lines = [f"Dashboard screenshots in {self.directory}:", *(f"  {p.name}" for p in self.written)]
        return "\n".join(lines + ([f"FAILED: {f}" for f in self.failures] if self.failures else []))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, help="trials in the study (default 10,000; --quick 2,000)")
    parser.add_argument("--reports", type=int, help="reports per completed trial (default 10; --quick 5)")
    parser.add_argument("--loads", type=int, help="timed loads of each page (default 5; --quick 3)")
    parser.add_argument("--quick", action="store_true", help="2,000 trials x 5 reports, 3 loads")
    parser.add_argument("--screenshots", type=Path, metavar="DIR",
                        help="write the documentation's screenshots to DIR (e.g. docs/images) instead of timing")
    parser.add_argument("--json", type=Path, help="results JSON (default benchmarks/results/dashboard.json, "
                                                  "dashboard-quick.json for --quick)")
    parser.add_argument("--markdown", type=Path, help="report in Markdown (default: beside the JSON, .md)")
    add_postgres_arguments(parser)
    args = parser.parse_args(argv)
    args.duration = None
    args.json = args.json or RESULTS / ("dashboard-quick.json" if args.quick else "dashboard.json")
    args.markdown = args.markdown or args.json.with_suffix(".md")
    if min(args.trials or 1, args.reports or 1, args.loads or 1) < 1:
        parser.error("--trials, --reports and --loads must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    kind: Callable[[argparse.Namespace], BenchmarkRun] = (Screenshots if args.screenshots is not None
                                                          else DashboardBenchmark)
    return run_benchmark(kind, args)


if __name__ == "__main__":
    sys.exit(main())
