"""What the dashboard's browser tests share: Chromium through Playwright, a watch on each page's console,
errors and requests, waits on the page's test hooks, and the known studies the tests build over HTTP.

The studies are made through the public API the way users make them (create, ask, report, tell, or one
`POST /v1/studies:import` for a big one), so every count a test expects on the page is either fixed here
by construction or read back from the API: the page must agree with what a script can fetch.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, Request
from playwright.sync_api import Error as PlaywrightError

from tests.support.servers import HTTP_TIMEOUT_S

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY_ITEM = "suggest-api-key"  # sessionStorage: the API key the page sends
POLL_ITEM = "suggest-ui-poll-ms"  # sessionStorage: the study page's poll interval (test hook, at least 200)
VIEWPORT = {"width": 1280, "height": 900}
LOAD_TIMEOUT_MS = 60_000  # two cores, a server on PostgreSQL and 1,300 trials to page through
HOOK_TIMEOUT_MS = 15_000  # a redraw after a click or a select
PAYLOAD = '<img src=x onerror="window.__xss = 1">'  # user data that must stay text (CSP would log a refusal)


def chromium() -> str:
    """Debian's Chromium; skipped only on a developer's machine without it, a failure in CI (CI set)."""
    if shutil.which(CHROMIUM) is None:
        message = "Chromium is not installed: apt-get update && apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)


# --- the API, as a script sees it -----------------------------------------------------------------------

@dataclass
class Api:
    """HTTP calls to one server as one key's holder; any status but the expected one fails the test."""

    base_url: str
    key: str | None
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, body: Any = None, expect: int | Sequence[int] = 200) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        with self.session.request(method, self.base_url + path, json=body, headers=headers,
                                  timeout=HTTP_TIMEOUT_S) as response:
            wanted = (expect,) if isinstance(expect, int) else tuple(expect)
            assert response.status_code in wanted, (method, path, response.status_code, response.text[:2000])
            return response.json() if response.content else None

    def create(self, body: dict[str, Any]) -> Any:
        return self.call("POST", "/v1/studies", body, expect=201)

    def ask(self, study: str, count: int) -> list[dict[str, Any]]:
        trials: list[dict[str, Any]] = self.call("POST", f"{study_path(study)}/ask", {"count": count},
                                                 expect=201)["trials"]
        return trials

    def report(self, study: str, number: int, step: int, value: float) -> None:
        self.call("POST", f"{study_path(study)}/trials/{number}/report", {"step": step, "value": value})

    def tell(self, study: str, number: int, **result: Any) -> None:
        self.call("POST", f"{study_path(study)}/tell", {"number": number, **result})

    def study(self, study: str) -> Any:
        return self.call("GET", study_path(study))

    def trials(self, study: str) -> list[dict[str, Any]]:
        return self._pages(f"{study_path(study)}/trials", "trials")

    def pareto(self, study: str) -> list[dict[str, Any]]:
        return self._pages(f"{study_path(study)}/pareto", "trials")

    def _pages(self, path: str, key: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.call("GET", f"{path}?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            found += page[key]
            cursor = page["next_cursor"]
            if cursor is None:
                return found


def study_path(name: str) -> str:
    return "/v1/studies/" + quote(name, safe="")


def study_hash(name: str) -> str:
    """The page's route of a study: `encodeURIComponent(name)` (quote with JavaScript's unreserved set)."""
    return "#/studies/" + quote(name, safe="-_.!~*'()")


# --- the known studies ----------------------------------------------------------------------------------

TRAINING = "sweep <b>one & #2 é"  # a name that is markup, an entity, a hash and non-ASCII: it must stay text
MULTI = "pareto-demo"
BULK = "bulk-import"
LIVE = "live-refresh"
OTHER_TEAM = "beta-secret-study"
TRAINING_SPACE: dict[str, Any] = {"params": [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True},
    {"name": "layers", "type": "int", "low": 1, "high": 8},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
]}
#: TRAINING's twelve trials by number: 8 completed, 2 pruned, 1 failed (no reports), 1 running.
TRAINING_STATES = ["completed"] * 8 + ["pruned", "pruned", "failed", "running"]


def training_loss(params: dict[str, Any]) -> float:
    """A smooth loss over the space (always > 0, so the history offers a log axis)."""
    import math

    penalty = 0.0 if params["optimizer"] == "adam" else 0.3 * (1.0 - float(params.get("momentum", 0.0)))
    return 0.2 + (math.log10(float(params["lr"])) + 2.5) ** 2 + 0.05 * int(params["layers"]) + penalty


def build_training(api: Api) -> None:
    """One objective, successive halving, reports, a conditional param, study and trial metadata."""
    api.create({"name": TRAINING, "space": TRAINING_SPACE, "objective": {"name": "loss", "goal": "minimize"},
                "suggester": {"name": "random"}, "seed": 11, "heartbeat_timeout": 3600,
                "pruner": {"name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 3}},
                "metadata": {"dataset": "cifar10", "owner": "vision team"}})
    trials = api.ask(TRAINING, len(TRAINING_STATES))
    for trial, state in zip(trials, TRAINING_STATES, strict=True):
        number, final = trial["number"], training_loss(trial["params"])
        steps = {"completed": 5, "pruned": 2, "failed": 0, "running": 2}[state]
        curve = [final + 0.4 * (5 - step) for step in range(1, steps + 1)]
        for step, value in enumerate(curve, start=1):
            api.report(TRAINING, number, step, value)
        metadata = {"gpu": f"gpu-{number % 2}", **({"note": PAYLOAD} if number == 0 else {})}
        if state == "completed":
            api.tell(TRAINING, number, value=final, metadata=metadata)
        elif state == "pruned":
            api.tell(TRAINING, number, state="pruned", value=curve[-1], metadata=metadata)
        elif state == "failed":
            api.tell(TRAINING, number, state="failed")


def build_multi(api: Api) -> None:
    """Two objectives that pull apart (accuracy up with x, latency up with x too): a front of several."""
    api.create({"name": MULTI, "space": {"params": [
        {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
        {"name": "y", "type": "float", "low": 0.0, "high": 1.0},
        {"name": "width", "type": "int", "low": 1, "high": 4}]},
        "objectives": [{"name": "accuracy", "goal": "maximize"}, {"name": "latency_ms", "goal": "minimize"}],
        "suggester": {"name": "random"}, "seed": 5})
    trials = api.ask(MULTI, 16)
    for trial in trials[:-1]:
        x, y, width = trial["params"]["x"], trial["params"]["y"], trial["params"]["width"]
        api.tell(MULTI, trial["number"], values={"accuracy": 0.5 + 0.4 * x - 0.2 * y * y,
                                                 "latency_ms": 2.0 + 30.0 * x * x + width + 3.0 * y})
    api.tell(MULTI, trials[-1]["number"], state="failed")


def build_live(api: Api) -> None:
    """Three completed trials and one running (number 3): the live test tells it while the page is open."""
    api.create({"name": LIVE, "space": {"params": [{"name": "x", "type": "float", "low": -2.0, "high": 2.0},
                                                   {"name": "y", "type": "float", "low": -2.0, "high": 2.0}]},
                "objective": {"name": "loss", "goal": "minimize"}, "suggester": {"name": "random"}, "seed": 3,
                "heartbeat_timeout": 3600})
    for trial in api.ask(LIVE, 4)[:3]:
        api.tell(LIVE, trial["number"], value=1.0 + trial["params"]["x"] ** 2)


def build_other_team(api: Api) -> None:
    api.create({"name": OTHER_TEAM, "space": {"params": [{"name": "x", "type": "float", "low": 0, "high": 1}]},
                "objective": {"goal": "minimize"}})
    (trial,) = api.ask(OTHER_TEAM, 1)
    api.tell(OTHER_TEAM, trial["number"], value=0.5)


BULK_TRIALS = 1300  # past the parallel plot's 1,000 lines and over two 1,000-trial pages
BULK_REPORTED_FROM = 700  # trials from here on have reports: 600 of them, past the 500 curves drawn


def bulk_state(number: int) -> str:
    if number >= BULK_TRIALS - 2:
        return "running"
    if number % 10 == 9:
        return "pruned"
    return "failed" if number % 20 == 7 else "completed"


def bulk_document() -> dict[str, Any]:
    """A study document (docs/integrations.md) of BULK_TRIALS trials, imported in one request."""
    import random

    rng = random.Random(20)
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    trials: list[dict[str, Any]] = []
    for number in range(BULK_TRIALS):
        state = bulk_state(number)
        lr, units = 10 ** rng.uniform(-4, -1), rng.randint(8, 512)
        params = {"lr": lr, "units": units, "act": rng.choice(["relu", "tanh", "gelu"])}
        value = 0.1 + abs(lr * 300 - 1.0) * 0.5 + units / 2048 + rng.random() * 0.01
        created = start + timedelta(seconds=30 * number)
        reports = ([{"step": step, "value": value + (3 - step) * 0.05} for step in range(1, 4)]
                   if number >= BULK_REPORTED_FROM else [])
        trials.append({
            "number": number, "state": state, "params": params,
            "value": value if state in ("completed", "pruned") else None,
            "created_at": created.isoformat(),
            "finished_at": None if state == "running" else (created + timedelta(seconds=25 + number % 7)).isoformat(),
            "metadata": {"worker": f"w{number % 3}"} if number % 5 == 0 else None,
            "intermediate": reports})
    return {"format": "suggest-api.study", "version": 1, "trials": trials, "study": {
        "name": BULK, "space": {"params": [{"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True},
                                           {"name": "units", "type": "int", "low": 8, "high": 512},
                                           {"name": "act", "type": "categorical",
                                            "choices": ["relu", "tanh", "gelu"]}]},
        "objective": {"name": "val_loss", "goal": "minimize"}, "suggester": {"name": "random", "options": {}},
        "pruner": {"name": "median", "options": {}}, "seed": 9, "heartbeat_timeout": 86400.0,
        "created_at": start.isoformat(), "metadata": {"source": "bulk"}}}


# --- a page and what it did -------------------------------------------------------------------------------

@dataclass
class Watch:
    """Everything a page logged as an error, threw, or requested (URL and whether it sent a key)."""

    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, url of the resource or script)
    page_errors: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{error.name}: {error.message}\n{error.stack}"))
        page.on("request", lambda request: self.requests.append(request))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append((message.text, str(message.location.get("url", ""))))

    def urls(self) -> list[str]:
        return [request.url for request in self.requests]

    def unexpected(self, allowed: Sequence[tuple[int, str]] = ()) -> list[tuple[str, str]]:
        """Console errors other than a failed load answered `status` for a URL containing the given part."""
        def expected(text: str, url: str) -> bool:
            return any(f"status of {status}" in text and part in url for status, part in allowed)
        return [(text, url) for text, url in self.console_errors if not expected(text, url)]

    def assert_clean(self, allowed: Sequence[tuple[int, str]] = ()) -> None:
        assert self.page_errors == [], self.page_errors
        assert self.unexpected(allowed) == [], self.unexpected(allowed)


@dataclass
class Tab:
    page: Page
    watch: Watch
    base_url: str

    def open(self, route: str = "#/") -> None:
        """A fresh load of /ui/ at `route`, until the page says it is ready."""
        self.page.goto(f"{self.base_url}/ui/{route}")
        wait_ready(self.page)

    def go(self, route: str) -> None:
        """An in-page route change (no reload); the marker shows when the new route has loaded."""
        self.page.evaluate("route => { document.body.dataset.state = 'navigating'; location.hash = route; }", route)
        wait_ready(self.page)


def key_script(key: str | None, poll_ms: int | None = None) -> str:
    """An init script that stores the key (and poll interval) before the page's own scripts run."""
    items = {KEY_ITEM: key, POLL_ITEM: None if poll_ms is None else str(poll_ms)}
    sets = "".join(f"sessionStorage.setItem({json.dumps(k)}, {json.dumps(v)});" for k, v in items.items() if v)
    return f"try {{ if (location.protocol === 'http:') {{ {sets} }} }} catch (e) {{}}"


@contextmanager
def new_tab(browser: Browser, base_url: str, key: str | None, poll_ms: int | None = None) -> Iterator[Tab]:
    """A context of its own (its own sessionStorage), with the key stored unless `key` is None."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT, accept_downloads=True)  # type: ignore[arg-type]
    try:
        context.set_default_timeout(LOAD_TIMEOUT_MS)
        if key is not None or poll_ms is not None:
            context.add_init_script(key_script(key, poll_ms))
        page = context.new_page()
        watch = Watch()
        watch.attach(page)
        yield Tab(page, watch, base_url)
    finally:
        context.close()


def wait_ready(page: Page, timeout_ms: int = LOAD_TIMEOUT_MS) -> None:
    """Until body[data-state] is "ready"; "error" fails at once, with what the page says."""
    try:
        page.wait_for_function("() => ['ready', 'error'].includes(document.body && document.body.dataset.state)",
                               timeout=timeout_ms)
    except PlaywrightError as error:  # a timeout: say where the page stopped
        state = page.evaluate("() => document.body ? document.body.dataset.state : null")
        raise AssertionError(f"not ready after {timeout_ms} ms (data-state {state!r}, {page.url}): "
                             f"{page.inner_text('body')[:1000]!r}") from error
    state = page.evaluate("() => document.body.dataset.state")
    assert state == "ready", f"the page says {state}: {page.inner_text('body')[:2000]}"


def points(page: Page, selector: str) -> int | None:
    """A chart's data-points now (None without the chart or the attribute); no waiting."""
    value = page.evaluate("sel => document.querySelector(sel)?.dataset.points ?? null", selector)
    return None if value is None else int(value)


def wait_points(page: Page, selector: str, expected: int, timeout_ms: int = HOOK_TIMEOUT_MS) -> None:
    """Until the chart's data-points is `expected` (after a redraw); then the assertion says what it is."""
    try:
        page.wait_for_function("([sel, n]) => document.querySelector(sel)?.dataset.points === String(n)",
                               arg=[selector, expected], timeout=timeout_ms)
    except PlaywrightError:  # a timeout: the assertion below says what the page shows instead
        pass
    assert points(page, selector) == expected, (selector, points(page, selector), expected)


def chart_option(page: Page, selector: str) -> Any:
    """The ECharts option of a chart container: what was really drawn."""
    return page.evaluate("sel => { const c = echarts.getInstanceByDom(document.querySelector(sel));"
                         " return c ? JSON.parse(JSON.stringify(c.getOption())) : null; }", selector)


def series_points(series: dict[str, Any]) -> list[list[Any]]:
    """A series' data as lists, whether its items are plain arrays or {value: [...]} objects."""
    found = []
    for item in series.get("data") or []:
        value = item.get("value") if isinstance(item, dict) else item
        found.append(list(value) if isinstance(value, list | tuple) else [value])
    return found


def row_numbers(page: Page) -> list[int]:
    return [int(n) for n in page.eval_on_selector_all("table#trials-table tr[data-number]",
                                                      "rows => rows.map(r => r.dataset.number)")]


def wait_rows(page: Page, expected: list[int], timeout_ms: int = HOOK_TIMEOUT_MS) -> None:
    try:
        page.wait_for_function("want => JSON.stringify([...document.querySelectorAll('table#trials-table "
                               "tr[data-number]')].map(r => Number(r.dataset.number))) === JSON.stringify(want)",
                               arg=expected, timeout=timeout_ms)
    except PlaywrightError:  # a timeout: the assertion says what the table shows
        pass
    assert row_numbers(page) == expected


def column_keys(page: Page) -> list[str]:
    keys: list[str] = page.eval_on_selector_all("table#trials-table th[data-column]",
                                                "ths => ths.map(th => th.dataset.column)")
    return keys


def download(page: Page, button: str) -> tuple[str, bytes]:
    """Click a download button; the file's suggested name and its bytes."""
    with page.expect_download(timeout=HOOK_TIMEOUT_MS) as info:
        page.click(button)
    saved = info.value.path()
    return info.value.suggested_filename, saved.read_bytes()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sort_numbers(trials: Sequence[dict[str, Any]], key: str, *, descending: bool) -> list[int]:
    """Trial numbers ordered as the table sorts a column: numerically, missing values last either way."""
    def get(trial: dict[str, Any]) -> Any:
        head, _, rest = key.partition(".")
        return (trial.get(head) or {}).get(rest) if rest else trial.get(key)

    present = [t for t in trials if get(t) is not None]
    missing = [t for t in trials if get(t) is None]
    present.sort(key=lambda t: (get(t), t["number"]), reverse=descending)
    return [t["number"] for t in present + missing]


def expected_cell(trial: dict[str, Any], key: str) -> Any:
    """What a download holds for `key` of `trial`, from the API's trial; KeyError for a column unknown here."""
    head, _, rest = key.partition(".")
    if rest and head in ("params", "metadata", "values"):
        return (trial.get(head) or {}).get(rest)
    if key in ("number", "state", "value"):
        return trial[key]
    if key in ("created", "created_at", "finished", "finished_at"):
        return trial[key if key.endswith("_at") else key + "_at"]
    raise KeyError(key)


def same_cell(key: str, shown: Any, wanted: Any, trial: dict[str, Any]) -> bool:
    """A downloaded cell (CSV text or JSON value) against the API's value for it."""
    if key.startswith("duration"):
        if trial["finished_at"] is None:
            return shown in ("", None)
        seconds = (parse_time(trial["finished_at"]) - parse_time(trial["created_at"])).total_seconds()
        return shown not in ("", None) and abs(float(shown) - seconds) < 0.01
    if wanted is None:
        return shown in ("", None)
    if key.startswith(("created", "finished")):
        return shown not in ("", None) and parse_time(str(shown)) == parse_time(wanted)
    if isinstance(wanted, bool) or not isinstance(wanted, int | float):
        return str(shown) == str(wanted)
    return not isinstance(shown, bool) and shown != "" and float(shown) == float(wanted)
