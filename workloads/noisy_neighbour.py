"""The noisy-neighbour load: a busy Bayesian study beside a random one, and the random study's latency.

`run` creates both studies on a server already running, measures the random study's ask and tell
latency alone, then while client processes loop Bayesian asks and tells (a 503 waits its
`Retry-After`), and returns every latency and every status it saw; `report` turns that into the printed lines.
benchmarks/noisy_neighbour.py runs it as a benchmark (printing figures, asserting nothing) and
tests/reliability/test_noisy_neighbour.py runs it shorter and asserts that every answer was a correct one.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import requests

from workloads.percentiles import percentile

BAYESIAN_STUDY = "noisy-bayesian"
RANDOM_STUDY = "quiet-random"
SPACE: dict[str, Any] = {"params": [
    {"name": "x1", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "x2", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "x3", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "x4", "type": "float", "low": 0.0, "high": 1.0},
]}
REQUEST_TIMEOUT_S = 60.0
IMPORT_BATCH = 1000  # the service's per-request import limit (SUGGEST_MAX_IMPORT)
RETRY_AFTER_CAP_S = 10.0
CLIENT_READY_TIMEOUT_S = 120.0
CLIENT_STOP_TIMEOUT_S = 90.0  # a Bayesian ask in flight may take a while on a saturated machine
RAMP_S = 1.0  # load before the loaded measurement starts
SEED = 0  # of both studies and of the imported trials' params


def objective(params: dict[str, Any]) -> float:
    """A smooth bowl with its minimum at 0.3 in every coordinate."""
    return float(sum((float(value) - 0.3) ** 2 for value in params.values()))


# --- set-up ---------------------------------------------------------------------------------------


def create_studies(base_url: str, *, imported: int) -> None:
    """The Bayesian study with `imported` completed trials, and the random study (both fresh)."""
    rng = random.Random(SEED)
    with requests.Session() as http:
        for name, suggester in ((BAYESIAN_STUDY, "bayesian"), (RANDOM_STUDY, "random")):
            body: dict[str, Any] = {"name": name, "space": SPACE, "objective": {"goal": "minimize"}, "seed": SEED,
                    "suggester": {"name": suggester, "options": {}}}
            _check(http.post(f"{base_url}/v1/studies", json=body, timeout=REQUEST_TIMEOUT_S), 201, "create")
        for offset in range(0, imported, IMPORT_BATCH):
            batch: list[dict[str, Any]] = []
            for _ in range(min(IMPORT_BATCH, imported - offset)):
                params = {p["name"]: rng.random() for p in SPACE["params"]}
                batch.append({"params": params, "value": objective(params)})
            _check(http.post(f"{base_url}/v1/studies/{BAYESIAN_STUDY}/trials", json={"trials": batch},
                             timeout=REQUEST_TIMEOUT_S), 201, "import")


def _check(response: requests.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{what} answered {response.status_code}: {response.text[:300]}")


# --- the measuring client -------------------------------------------------------------------------


@dataclass
class Latency:
    """Random-study ask and tell latencies (ms) of one window, and every answer's status."""

    ask_ms: list[float] = field(default_factory=list)
    tell_ms: list[float] = field(default_factory=list)
    ask_statuses: Counter[int | str] = field(default_factory=Counter)
    tell_statuses: Counter[int | str] = field(default_factory=Counter)

    def p(self, which: str, q: float) -> float:
        """The q-th percentile (ms) of the window's asks or (`which` = "tell") tells."""
        values: list[float] = self.ask_ms if which == "ask" else self.tell_ms
        return percentile(values, q)

    @property
    def pairs(self) -> int:
        """Completed ask + tell pairs (a pair counts once its tell succeeded)."""
        return len(self.tell_ms)


def measure(base_url: str, duration_s: float) -> Latency:
    """Random ask, then tell, one after the other for `duration_s` (a failed ask is counted, not timed)."""
    latency = Latency()
    deadline = time.perf_counter() + duration_s
    with requests.Session() as http:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, answer = _post(http, f"{base_url}/v1/studies/{RANDOM_STUDY}/ask", {"count": 1})
            asked = time.perf_counter()
            latency.ask_statuses[status] += 1
            if status != 201:
                time.sleep(0.05)
                continue
            latency.ask_ms.append((asked - started) * 1000)
            (trial,) = answer["trials"]
            status, _ = _post(http, f"{base_url}/v1/studies/{RANDOM_STUDY}/tell",
                              {"number": trial["number"], "value": objective(trial["params"])})
            latency.tell_statuses[status] += 1
            if status == 200:
                latency.tell_ms.append((time.perf_counter() - asked) * 1000)
    return latency


def _post(http: requests.Session, url: str, body: Any) -> tuple[int | str, Any]:
    status, answer, _ = _post_with_headers(http, url, body)
    return status, answer


def _post_with_headers(http: requests.Session, url: str, body: Any) -> tuple[int | str, Any, dict[str, str]]:
    """(status, parsed body, headers); a status of `connection` or `timeout` when no answer came."""
    try:
        with http.post(url, json=body, timeout=REQUEST_TIMEOUT_S) as response:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            return response.status_code, answer, dict(response.headers)
    except requests.Timeout:
        return "timeout", None, {}
    except requests.ConnectionError:
        return "connection", None, {}


# --- the Bayesian load (client processes) ---------------------------------------------------------


def bayesian_client(base_url: str, index: int, ready: Any, stop: Event, out: str) -> None:
    """Loop Bayesian ask + tell until `stop`; a 503 waits its Retry-After. Writes what it saw to `out`."""
    seen: dict[str, Any] = {"ask": Counter(), "tell": Counter(), "ask_ms": [], "no_retry_after": 0,
                            "not_problem": 0, "problems": []}
    ready.put(index)
    with requests.Session() as http:
        while not stop.is_set():
            started = time.perf_counter()
            status, answer, headers = _post_with_headers(http, f"{base_url}/v1/studies/{BAYESIAN_STUDY}/ask",
                                                         {"count": 1, "client_id": f"bayesian-{index}"})
            seen["ask"][str(status)] += 1
            if status == 201:
                seen["ask_ms"].append((time.perf_counter() - started) * 1000)
                (trial,) = answer["trials"]
                told, _ = _post(http, f"{base_url}/v1/studies/{BAYESIAN_STUDY}/tell",
                                {"number": trial["number"], "value": objective(trial["params"])})
                seen["tell"][str(told)] += 1
                continue
            if len(seen["problems"]) < 5:
                seen["problems"].append({"status": status, "body": answer, "retry_after": headers.get("Retry-After")})
            if not headers.get("Content-Type", "").startswith("application/problem+json"):
                seen["not_problem"] += 1
            retry_after = headers.get("Retry-After", "")
            if status == 503 and retry_after.isdigit():
                stop.wait(min(float(retry_after), RETRY_AFTER_CAP_S))
            else:
                if status == 503:
                    seen["no_retry_after"] += 1
                stop.wait(0.1)
    Path(out).write_text(json.dumps(seen), encoding="utf-8")


@dataclass
class BayesianSeen:
    """What every Bayesian client was answered, summed."""

    ask: Counter[str] = field(default_factory=Counter)
    tell: Counter[str] = field(default_factory=Counter)
    ask_ms: list[float] = field(default_factory=list)
    no_retry_after: int = 0
    not_problem: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    def add(self, part: dict[str, Any]) -> None:
        """Fold in what one client wrote to its file."""
        self.ask.update(part["ask"])
        self.tell.update(part["tell"])
        self.ask_ms += part["ask_ms"]
        self.no_retry_after += part["no_retry_after"]
        self.not_problem += part["not_problem"]
        self.problems += part["problems"]


@contextlib.contextmanager
def bayesian_load(base_url: str, clients: int, workdir: Path) -> Iterator[BayesianSeen]:
    """`clients` spawned processes looping Bayesian asks while the block runs; the yielded summary is
    filled in when the block ends (the processes are stopped, and killed if they linger)."""
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    stop = context.Event()
    outs = [workdir / f"bayesian-{index}.json" for index in range(clients)]
    processes: list[BaseProcess] = [
        context.Process(target=bayesian_client, args=(base_url, index, ready, stop, str(out)), daemon=True)
        for index, out in enumerate(outs)]
    seen = BayesianSeen()
    started: list[BaseProcess] = []
    try:
        for process in processes:
            process.start()
            started.append(process)
        for _ in processes:
            ready.get(timeout=CLIENT_READY_TIMEOUT_S)
        yield seen
    finally:
        stop.set()
        deadline = time.monotonic() + CLIENT_STOP_TIMEOUT_S
        for process in started:
            process.join(max(0.1, deadline - time.monotonic()))
        lingering = [p for p in started if p.is_alive()]
        for process in lingering:
            process.kill()
            process.join(10)
        ready.close()
        ready.join_thread()
    for out in outs:
        if out.exists():
            seen.add(json.loads(out.read_text(encoding="utf-8")))
    if lingering or not all(out.exists() for out in outs):
        raise RuntimeError(f"{len(lingering)} Bayesian clients did not stop in {CLIENT_STOP_TIMEOUT_S} s")


# --- one backend ----------------------------------------------------------------------------------


@dataclass
class NoisyResult:
    """Both windows of the random study and what the Bayesian clients were answered meanwhile."""

    unloaded: Latency
    loaded: Latency
    bayesian: BayesianSeen

    def ratio(self, which: str) -> float:
        """Loaded p99 over unloaded p99 of `which` ("ask" or "tell"): how much the neighbour slowed it."""
        return self.loaded.p(which, 99) / self.unloaded.p(which, 99)

    @property
    def requests(self) -> int:
        """Every request the run sent, answered or not, to both studies."""
        counted = (self.unloaded.ask_statuses, self.unloaded.tell_statuses, self.loaded.ask_statuses,
                   self.loaded.tell_statuses, self.bayesian.ask, self.bayesian.tell)
        return sum(sum(c.values()) for c in counted)


def run(base_url: str, workdir: Path, *, unloaded_s: float, loaded_s: float, clients: int,
        imported: int) -> NoisyResult:
    """Studies, the unloaded window, then the loaded one, against a server already running at `base_url`."""
    create_studies(base_url, imported=imported)
    measure(base_url, 0.5)  # warm-up: connections, the workers' first requests
    unloaded = measure(base_url, unloaded_s)
    with bayesian_load(base_url, clients, workdir) as seen:
        time.sleep(RAMP_S)
        loaded = measure(base_url, loaded_s)
    return NoisyResult(unloaded, loaded, seen)


def report(label: str, result: NoisyResult, clients: int) -> list[str]:
    """The result as printed lines: each window's percentiles, the p99 ratios, the Bayesian answers."""
    lines = [f"{label}: random study ask / tell latency (ms), {clients} Bayesian clients in the loaded window"]
    lines.append(f"  {'window':<10} {'pairs':>6} {'ask p50':>8} {'ask p99':>8} {'tell p50':>9} {'tell p99':>9}")
    for name, latency in (("unloaded", result.unloaded), ("loaded", result.loaded)):
        lines.append(f"  {name:<10} {latency.pairs:>6} {latency.p('ask', 50):>8.1f} {latency.p('ask', 99):>8.1f} "
                     f"{latency.p('tell', 50):>9.1f} {latency.p('tell', 99):>9.1f}")
    lines.append(f"  loaded p99 / unloaded p99: ask {result.ratio('ask'):.2f}x, tell {result.ratio('tell'):.2f}x")
    bayes = result.bayesian
    lines.append(f"  Bayesian asks answered: {dict(sorted(bayes.ask.items()))} (503 without Retry-After: "
                 f"{bayes.no_retry_after}); tells: {dict(sorted(bayes.tell.items()))}; "
                 f"201 ask p50 {percentile(bayes.ask_ms, 50):.0f} ms, p99 {percentile(bayes.ask_ms, 99):.0f} ms")
    return lines
