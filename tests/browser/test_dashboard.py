"""The dashboard (/ui) in a real headless Chromium, against real `suggest-api serve` processes.

One server per backend (SQLite, PostgreSQL) with SUGGEST_AUTH=required, and one browser, serve the whole
module; every test opens its own browser context (its own sessionStorage, so its own key). The studies are
built through the HTTP API (tests/browser/dashboard_support.py), so what each chart and table must show is
known: counts fixed by construction, values read back from the API. Every test fails on a console error or
an uncaught exception in the page, except the failed loads it provokes on purpose (a 401 before the key is
entered, the 404 of another team's study).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import struct
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from suggest_api.storage.migrate import upgrade_url
from tests.browser.dashboard_support import (
    BULK,
    BULK_REPORTED_FROM,
    BULK_TRIALS,
    KEY_ITEM,
    LIVE,
    MULTI,
    OTHER_TEAM,
    PAYLOAD,
    TRAINING,
    TRAINING_SPACE,
    TRAINING_STATES,
    VIEWPORT,
    Api,
    Tab,
    build_live,
    build_multi,
    build_other_team,
    build_training,
    bulk_document,
    bulk_state,
    chart_option,
    chromium,
    column_keys,
    download,
    expected_cell,
    launch,
    new_tab,
    points,
    row_numbers,
    same_cell,
    series_points,
    sort_numbers,
    study_hash,
    study_path,
    wait_points,
    wait_ready,
    wait_rows,
)
from tests.browser.test_docs_page import PNG_SIGNATURE, distinct_bytes
from tests.support.databases import scratch_postgres, sessions_on
from tests.support.servers import Server, StartServer, start_server
from tests.support.teams import TeamKeys, make_team_with_keys

pytestmark = pytest.mark.slow

POSTGRES_URL = os.environ.get("SUGGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
ALPHA_STUDIES = {TRAINING, MULTI, BULK, LIVE}
WRONG_KEY = "sapi_0123456789ab_" + "x" * 40
CHARTS = ("#history-plot", "#parallel-plot", "#slice-plot", "#contour-plot", "#importance-plot", "#curves-plot")


@dataclass
class Deployment:
    """One backend's server, its two teams, alpha's studies, and every URL its pages requested so far."""

    backend: str
    server: Server
    alpha: TeamKeys
    beta: TeamKeys
    api: Api  # alpha's member key
    urls: list[str] = field(default_factory=list)

    @contextmanager
    def tab(self, browser: Browser, key: str | None, poll_ms: int | None = None) -> Iterator[Tab]:
        with new_tab(browser, self.server.base_url, key, poll_ms) as tab:
            try:
                yield tab
            finally:
                self.urls += tab.watch.urls()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module", params=BACKENDS)
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    chromium()  # skip before starting a server for nothing
    backend: str = request.param
    workdir = tmp_path_factory.mktemp(f"dashboard-{backend}")
    started: list[Server] = []
    with ExitStack() as stack:
        url = (f"sqlite:///{workdir / 'suggest.db'}" if backend == "sqlite"
               else stack.enter_context(scratch_postgres(POSTGRES_URL, "suggest_browser")))
        with sessions_on(upgrade_url(url)) as sessions:
            alpha, beta = make_team_with_keys(sessions, "alpha"), make_team_with_keys(sessions, "beta")
        try:
            server = start_server(url, workdir, started, workers=2, env={"SUGGEST_AUTH": "required"})
            api = Api(server.base_url, alpha.member)
            stack.callback(api.session.close)
            build_training(api)
            build_multi(api)
            build_live(api)
            api.call("POST", "/v1/studies:import", bulk_document(), expect=201)
            other = Api(server.base_url, beta.member)
            stack.callback(other.session.close)
            build_other_team(other)
            yield Deployment(backend, server, alpha, beta, api)
        finally:
            hung = [s.base_url for s in started if not s.stop()]
    if hung:
        pytest.fail(f"servers ignored SIGTERM and were killed: {hung}")


# --- the list -----------------------------------------------------------------------------------------------

def list_rows(tab: Tab) -> dict[str, dict[str, str]]:
    """The studies table as {name: {header text (lower case): cell text}}."""
    table: dict[str, dict[str, str]] = tab.page.evaluate("""() => {
        const heads = [...document.querySelectorAll('table#studies-table thead th')]
            .map(th => th.textContent.trim().toLowerCase());
        const rows = {};
        for (const tr of document.querySelectorAll('table#studies-table tr[data-study]')) {
            const cells = [...tr.children].map(td => td.textContent.trim());
            rows[tr.dataset.study] = Object.fromEntries(heads.map((h, i) => [h, cells[i] ?? '']));
        }
        return rows;
    }""")
    return table


def cell(row: dict[str, str], header: str) -> str:
    found = [text for head, text in row.items() if header in head]
    assert len(found) == 1, (header, row)
    return found[0]


def digits(text: str) -> str:
    """A count as shown, without its thousands separators ("1,104")."""
    return re.sub(r"[,\s\u00a0\u202f]", "", text)


def first_number(text: str) -> float:
    match = re.search(r"-?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?", text.replace("\u2212", "-"), re.IGNORECASE)
    assert match, text
    return float(match.group(0).replace(",", ""))


def test_list_shows_the_teams_studies_with_counts_and_best(deployment: Deployment, browser: Browser) -> None:
    with deployment.tab(browser, deployment.alpha.read) as tab:
        tab.open("#/")
        rows = list_rows(tab)
        assert set(rows) == ALPHA_STUDIES, rows.keys()  # beta's study is not listed
        for name in ALPHA_STUDIES:
            study, row = deployment.api.study(name), rows[name]
            for state in ("running", "completed", "pruned", "failed"):
                assert digits(cell(row, state)) == str(study["trial_counts"][state]), (name, state, row)
            assert tab.page.locator(f'tr[data-study="{name}"] a[href="{study_hash(name)}"]').count() == 1, name
            title = tab.page.get_attribute(f'tr[data-study="{name}"] [title]', "title")
            assert title, f"no exact time in a title attribute in {name}'s row"
        best = deployment.api.study(TRAINING)["best_trial"]["value"]
        assert math.isclose(first_number(cell(rows[TRAINING], "best")), best, rel_tol=1e-2), rows[TRAINING]
        front = deployment.api.study(MULTI)["pareto"]["size"]
        assert str(front) in cell(rows[MULTI], "best"), rows[MULTI]
        assert "successive" not in cell(rows[MULTI], "suggester")
        assert "random" in cell(rows[TRAINING], "suggester")
        count = tab.page.inner_text("#studies-count")
        assert "4" in count, count
        # The name is text: markup in it is not parsed, and nothing injected ran.
        assert tab.page.eval_on_selector(f'tr[data-study="{TRAINING}"] a', "a => a.textContent") == TRAINING
        tab.watch.assert_clean()


def test_search_filters_the_list_as_you_type(deployment: Deployment, browser: Browser) -> None:
    with deployment.tab(browser, deployment.alpha.read) as tab:
        tab.open("#/")
        tab.page.locator("#study-search").press_sequentially("PaReTo")
        tab.page.wait_for_function("() => document.querySelectorAll('tr[data-study]').length === 1")
        assert list(list_rows(tab)) == [MULTI]
        count = tab.page.inner_text("#studies-count")
        assert re.search(r"\b1\b", count) and re.search(r"\b4\b", count), count
        tab.page.fill("#study-search", "E")  # case-insensitive substring of "sweep ...", "pareto-demo", "live-..."
        expected = {name for name in ALPHA_STUDIES if "e" in name.lower()}
        tab.page.wait_for_function("n => document.querySelectorAll('tr[data-study]').length === n",
                                   arg=len(expected))
        assert set(list_rows(tab)) == expected
        tab.page.fill("#study-search", "no study has this")
        tab.page.wait_for_function("() => document.querySelectorAll('tr[data-study]').length === 0")
        tab.page.fill("#study-search", "")
        tab.page.wait_for_function("() => document.querySelectorAll('tr[data-study]').length === 4")
        tab.watch.assert_clean()


# --- the study pages ----------------------------------------------------------------------------------------

def completed(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in trials if t["state"] == "completed"]


def test_single_objective_study_page_draws_every_chart(deployment: Deployment, browser: Browser) -> None:
    trials = deployment.api.trials(TRAINING)
    done = completed(trials)
    assert [t["state"] for t in trials] == TRAINING_STATES
    with deployment.tab(browser, deployment.alpha.read) as tab:
        tab.open("#/")
        tab.page.evaluate("() => { document.body.dataset.state = 'navigating'; }")
        tab.page.click(f'tr[data-study="{TRAINING}"] a')  # from the list, without a reload
        wait_ready(tab.page)
        assert tab.page.url.endswith(study_hash(TRAINING)), tab.page.url
        assert tab.page.text_content("h1#study-name") == TRAINING
        summary = tab.page.inner_text("#study-page")
        assert "successive_halving" in summary and "random" in summary, summary[:1000]
        page = tab.page
        wait_points(page, "#history-plot", len(done))
        wait_points(page, "#parallel-plot", len(done))
        wait_points(page, "#importance-plot", len(TRAINING_SPACE["params"]))
        wait_points(page, "#curves-plot", sum(1 for t in trials if t["intermediate"]))  # 11: not the failed one
        assert page.locator("#pareto-plot").count() == 0  # one objective
        page.select_option("select#slice-param", "lr")
        wait_points(page, "#slice-plot", len(done))
        page.select_option("select#slice-param", "momentum")  # active for sgd trials only
        wait_points(page, "#slice-plot", sum(1 for t in done if "momentum" in t["params"]))
        page.select_option("select#contour-x", "lr")
        page.select_option("select#contour-y", "layers")
        wait_points(page, "#contour-plot", len(done))

        # What the history drew: each completed trial at (number, value), and a best-so-far step line.
        option = chart_option(page, "#history-plot")
        scatter = [s for s in option["series"] if s["type"] == "scatter"]
        assert len(scatter) == 1, option["series"]
        drawn = sorted((int(p[0]), float(p[1])) for p in series_points(scatter[0]))
        assert drawn == sorted((t["number"], t["value"]) for t in done)
        assert any(s["type"] == "line" and s.get("step") for s in option["series"]), option["series"]
        assert option["yAxis"][0]["type"] != "log"
        page.check("input#history-log")  # every loss is > 0, so a log axis is offered
        page.wait_for_function("() => echarts.getInstanceByDom(document.querySelector('#history-plot'))"
                               ".getOption().yAxis[0].type === 'log'", timeout=10_000)
        curves = chart_option(page, "#curves-plot")
        pruned = {t["number"] for t in trials if t["state"] == "pruned"}
        assert curve_numbers(curves, "pruned") == pruned, curves["series"]  # a series of their own, named so
        assert sorted(curve_numbers(curves)) == [t["number"] for t in trials if t["intermediate"]]
        importance = chart_option(page, "#importance-plot")
        names = " ".join(str(s.get("name")) for s in importance["series"]).lower()
        assert "forest" in names and "grey" in names, names

        # The trials table: every trial, a column per param and per metadata key, user data as text.
        assert sorted(row_numbers(page)) == [t["number"] for t in trials]
        keys = column_keys(page)
        for key in ("number", "state", "value", "params.lr", "params.layers", "params.optimizer", "params.momentum",
                    "metadata.gpu", "metadata.note"):
            assert key in keys, (key, keys)
        note = page.evaluate("i => document.querySelector('table#trials-table tr[data-number=\"0\"]')"
                             ".children[i].textContent", keys.index("metadata.note"))
        assert note == PAYLOAD
        assert page.evaluate("() => window.__xss") is None
        tab.watch.assert_clean()


def curve_numbers(option: dict[str, Any], name: str | None = None) -> set[int]:
    """The trial numbers of the curves drawn (line series' items are named by trial number)."""
    return {int(item["name"]) for series in option["series"] if series["type"] in ("line", "lines")
            and (name is None or series.get("name") == name) for item in series.get("data") or []
            if isinstance(item, dict) and str(item.get("name", "")).isdigit()}


def test_multi_objective_study_page_draws_the_front(deployment: Deployment, browser: Browser) -> None:
    trials = deployment.api.trials(MULTI)
    done, front = completed(trials), deployment.api.pareto(MULTI)
    assert 2 <= len(front) < len(done)
    with deployment.tab(browser, deployment.alpha.read) as tab:
        tab.open(study_hash(MULTI))
        page = tab.page
        assert page.text_content("h1#study-name") == MULTI
        wait_points(page, "#pareto-plot", len(front))
        wait_points(page, "#history-plot", len(done))
        wait_points(page, "#parallel-plot", len(done))
        wait_points(page, "#importance-plot", 3)
        for select in ("select#history-objective", "select#importance-objective", "select#pareto-x",
                       "select#pareto-y"):
            options = page.eval_on_selector_all(f"{select} option", "os => os.map(o => o.value)")
            assert {"accuracy", "latency_ms"} <= set(options), (select, options)
        page.select_option("select#history-objective", "latency_ms")
        page.wait_for_function("want => { const o = echarts.getInstanceByDom(document.querySelector('#history-plot'))"
                               ".getOption(); const s = o.series.find(s => s.type === 'scatter');"
                               " return s && s.data.some(d => Math.abs((d.value || d)[1] - want) < 1e-9); }",
                               arg=done[0]["values"]["latency_ms"], timeout=10_000)
        scatter = next(s for s in chart_option(page, "#history-plot")["series"] if s["type"] == "scatter")
        assert sorted(float(p[1]) for p in series_points(scatter)) == sorted(t["values"]["latency_ms"] for t in done)
        page.select_option("select#importance-objective", "latency_ms")
        wait_points(page, "#importance-plot", 3)
        tab.watch.assert_clean()


def test_large_study_caps_its_charts_and_pages_its_table(deployment: Deployment, browser: Browser) -> None:
    done = [n for n in range(BULK_TRIALS) if bulk_state(n) == "completed"]
    assert len(done) > 1000
    with deployment.tab(browser, deployment.alpha.read) as tab:
        tab.open(study_hash(BULK))
        page = tab.page
        wait_points(page, "#history-plot", len(done))  # both 1,000-trial pages were read
        wait_points(page, "#parallel-plot", 1000)  # the best 1,000 lines, and a note says so
        assert page.is_visible("#parallel-note") and page.inner_text("#parallel-note").strip()
        wait_points(page, "#curves-plot", 500)  # of 600 trials with reports, the newest 500
        drawn = curve_numbers(chart_option(page, "#curves-plot"))
        assert sorted(drawn) == list(range(BULK_TRIALS - 500, BULK_TRIALS)), sorted(drawn)[:5]
        assert BULK_TRIALS - 500 > BULK_REPORTED_FROM  # older trials with reports were left out
        trial_pages = [u for u in tab.watch.urls() if f"{study_path(BULK)}/trials" in u]
        assert trial_pages and all("limit=1000" in u for u in trial_pages), trial_pages

        def info() -> str:
            return " ".join(page.inner_text("#table-info").replace("\u2013", "-").replace(",", "").split())

        assert row_numbers(page) == list(range(100))
        assert re.fullmatch(r"1 ?- ?100 of 1300", info()), info()
        page.click("button#table-next")
        wait_rows(page, list(range(100, 200)))
        assert re.fullmatch(r"101 ?- ?200 of 1300", info()), info()
        page.click("button#table-prev")
        wait_rows(page, list(range(100)))
        tab.watch.assert_clean()


def test_state_filter_and_sorting_change_the_table(deployment: Deployment, browser: Browser) -> None:
    trials = deployment.api.trials(TRAINING)
    with deployment.tab(browser, deployment.alpha.read) as tab:
        tab.open(study_hash(TRAINING))
        page = tab.page
        for state in ("pruned", "failed", "running", "completed"):
            page.select_option("select#state-filter", state)
            wait_rows(page, [t["number"] for t in trials if t["state"] == state])
        page.select_option("select#state-filter", "all")
        wait_rows(page, [t["number"] for t in trials])

        header = 'th[data-column="value"]'
        page.click(header)  # ascending; the failed and the running trial have no value: last
        wait_rows(page, sort_numbers(trials, "value", descending=False))
        assert page.get_attribute(header, "data-sort") == "asc"
        page.click(header)
        wait_rows(page, sort_numbers(trials, "value", descending=True))
        assert page.get_attribute(header, "data-sort") == "desc"
        page.click('th[data-column="params.momentum"]')  # conditional: the adam trials have none
        wait_rows(page, sort_numbers(trials, "params.momentum", descending=False))
        assert page.get_attribute('th[data-column="params.momentum"]', "data-sort") == "asc"
        assert page.get_attribute(header, "data-sort") in (None, "")
        page.click('th[data-column="params.layers"]')  # ints sort as numbers (8 after 1, not "10" < "8")
        shown = row_numbers(page)
        layers = [next(t for t in trials if t["number"] == n)["params"]["layers"] for n in shown]
        assert layers == sorted(layers), layers
        page.select_option("select#state-filter", "completed")  # the filter keeps the sort
        wait_rows(page, [n for n in shown if trials[n]["state"] == "completed"])
        tab.watch.assert_clean()


def test_downloads_hold_the_filtered_rows_in_the_shown_order(deployment: Deployment, browser: Browser) -> None:
    trials = deployment.api.trials(BULK)
    done = completed(trials)
    wanted = sort_numbers(done, "value", descending=True)
    by_number = {t["number"]: t for t in trials}
    with deployment.tab(browser, deployment.alpha.read) as tab:
        tab.open(study_hash(BULK))
        page = tab.page
        page.select_option("select#state-filter", "completed")
        page.click('th[data-column="value"]')
        page.click('th[data-column="value"]')
        wait_rows(page, wanted[:100])
        keys = column_keys(page)
        assert {"number", "state", "value", "params.lr", "params.units", "params.act", "metadata.worker"} <= set(keys)

        name, raw = download(page, "button#download-csv")
        assert name == f"{BULK}-trials.csv"
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        assert rows[0] == keys
        assert [int(r[0]) for r in rows[1:]] == wanted  # every matching row, not one page
        check_cells(keys, [dict(zip(keys, r, strict=True)) for r in rows[1:]], by_number)

        name, raw = download(page, "button#download-json")
        assert name == f"{BULK}-trials.json"
        items = json.loads(raw)
        assert [item["number"] for item in items] == wanted
        assert all(list(item) == keys for item in items), items[0]
        assert all(isinstance(item[k], int | float) for item in items for k in ("number", "value", "params.lr",
                                                                                  "params.units"))
        check_cells(keys, items, by_number)
        tab.watch.assert_clean()


def check_cells(keys: list[str], rows: list[dict[str, Any]], by_number: dict[int, dict[str, Any]]) -> None:
    """Each downloaded cell equals the API's value of that column for that trial."""
    wrong: list[tuple[int, str, Any, Any]] = []
    for row in rows:
        trial = by_number[int(row["number"])]
        for key in keys:
            try:
                wanted = expected_cell(trial, key)
            except KeyError:
                wanted = None
                if not key.startswith("duration"):
                    raise AssertionError(f"a download column this test does not know: {key!r}") from None
            if not same_cell(key, row[key], wanted, trial):
                wrong.append((trial["number"], key, row[key], wanted))
    assert wrong == [], wrong[:10]


# --- keys, teams, live refresh ----------------------------------------------------------------------------------

def not_found(tab: Tab) -> None:
    tab.page.wait_for_function("() => ['ready', 'error'].includes(document.body.dataset.state)")
    text = tab.page.inner_text("body")
    assert re.search(r"not found|no such study|does not exist", text, re.IGNORECASE), text[:1000]
    for chart in CHARTS:
        assert points(tab.page, chart) in (None, 0), chart


def test_key_prompt_sign_out_and_team_isolation(deployment: Deployment, browser: Browser) -> None:
    listed = deployment.api.call("GET", "/v1/studies", expect=200)  # alpha sees its four
    assert {s["name"] for s in listed["studies"]} == ALPHA_STUDIES
    wrong = Api(deployment.server.base_url, WRONG_KEY)
    detail = wrong.call("GET", "/v1/studies", expect=401)["detail"]
    wrong.session.close()
    with deployment.tab(browser, None) as tab:
        page = tab.page
        page.goto(f"{deployment.server.base_url}/ui/")
        page.wait_for_selector("form#key-form", state="visible")
        assert page.get_attribute("input#api-key", "type") == "password"
        assert not page.is_visible("button#sign-out")
        page.fill("input#api-key", WRONG_KEY)
        page.click("button#key-submit")
        page.wait_for_selector("#key-error", state="visible")
        assert detail in page.inner_text("#key-error")

        page.fill("input#api-key", deployment.alpha.read)
        page.evaluate("() => { document.body.dataset.state = 'navigating'; }")
        page.click("button#key-submit")
        wait_ready(page)
        assert set(list_rows(tab)) == ALPHA_STUDIES
        assert page.evaluate("k => sessionStorage.getItem(k)", KEY_ITEM) == deployment.alpha.read
        assert deployment.alpha.read not in page.evaluate("() => JSON.stringify(localStorage) + document.cookie")
        assert page.context.cookies() == []
        assert page.is_visible("button#sign-out")

        tab.go(study_hash(TRAINING))  # a study of the key's team opens ...
        wait_points(page, "#history-plot", TRAINING_STATES.count("completed"))
        page.evaluate("r => { location.hash = r; }", study_hash(OTHER_TEAM))  # ... another team's does not exist
        not_found(tab)
        answered = [(r.url, response.status) for r in tab.watch.requests
                    if study_path(OTHER_TEAM) in r.url and (response := r.response()) is not None]
        assert answered and all(status == 404 for _, status in answered), answered

        page.click("button#sign-out")
        page.wait_for_selector("form#key-form", state="visible")
        assert page.evaluate("k => sessionStorage.getItem(k)", KEY_ITEM) is None
        tab.watch.assert_clean(allowed=[(401, "/v1/"), (404, study_path(OTHER_TEAM))])


def test_live_refresh_redraws_without_navigation(deployment: Deployment, browser: Browser) -> None:
    with deployment.tab(browser, deployment.alpha.read, poll_ms=200) as tab:
        page = tab.page
        tab.open(study_hash(LIVE))
        wait_points(page, "#history-plot", 3)
        page.evaluate("() => { window.__sameDocument = true; }")
        before = int(page.evaluate("() => document.body.dataset.refreshes || '0'"))
        seen = len(tab.watch.requests)
        deployment.api.tell(LIVE, 3, value=0.25)  # the running trial ends
        wait_points(page, "#history-plot", 4)
        (trial,) = deployment.api.ask(LIVE, 1)  # and a new one is asked and told
        deployment.api.tell(LIVE, trial["number"], value=0.5)
        wait_points(page, "#history-plot", 5)
        wait_ready(page)
        assert int(page.evaluate("() => document.body.dataset.refreshes")) > before
        assert page.evaluate("() => window.__sameDocument") is True
        later = [r.url for r in tab.watch.requests[seen:] if f"{study_path(LIVE)}/trials" in r.url]
        assert later, "no trials were fetched after the tell"
        lowest = [int(m.group(1)) for u in later if (m := re.search(r"[?&]min_number=(\d+)", u))]
        assert len(lowest) == len(later) and min(lowest) >= 3, later  # only what may have changed
        polls = [r for r in tab.watch.requests[seen:] if r.url.endswith(study_path(LIVE))]
        assert any(r.headers.get("if-none-match") for r in polls), "the poll sends no If-None-Match"
        tab.watch.assert_clean()


def test_key_never_in_a_url_nor_the_server_log(deployment: Deployment, browser: Browser) -> None:
    with deployment.tab(browser, None) as tab:
        page = tab.page
        page.goto(f"{deployment.server.base_url}/ui/")
        page.wait_for_selector("form#key-form", state="visible")
        page.fill("input#api-key", deployment.alpha.read)
        page.evaluate("() => { document.body.dataset.state = 'navigating'; }")
        page.click("button#key-submit")
        wait_ready(page)
        tab.go(study_hash(BULK))
        api_calls = [r for r in tab.watch.requests if "/v1/" in r.url]
        assert api_calls and all(r.headers.get("authorization") == f"Bearer {deployment.alpha.read}"
                                 for r in api_calls[1:]), [(r.url, r.headers.get("authorization")) for r in api_calls]
        tab.watch.assert_clean(allowed=[(401, "/v1/")])
    secrets = [getattr(team, role) for team in (deployment.alpha, deployment.beta)
               for role in ("admin", "member", "read")]
    assert len(deployment.urls) > 50, deployment.urls  # this module's pages, on this backend
    leaked = [(url, secret) for url in deployment.urls for secret in secrets if secret in url]
    assert leaked == []
    assert not any(u.startswith(("http://", "https://")) and not u.startswith(deployment.server.base_url)
                   for u in deployment.urls if not u.startswith("data:"))
    log = deployment.server.log_text
    assert "/ui/static/" in log  # the log is the server's access log, which holds the pages' requests
    assert [s for s in secrets if s in log] == []


def test_study_page_screenshot_is_a_real_picture(deployment: Deployment, browser: Browser, tmp_path: Path) -> None:
    with deployment.tab(browser, deployment.alpha.read) as tab:
        tab.open(study_hash(TRAINING))
        shot = tmp_path / "study.png"
        data = tab.page.screenshot(path=shot)
        assert data.startswith(PNG_SIGNATURE)
        assert struct.unpack(">II", data[16:24]) == (VIEWPORT["width"], VIEWPORT["height"])
        assert distinct_bytes(data) > 32, "the screenshot is (nearly) one flat colour"
        assert len(data) > 20_000
        tab.watch.assert_clean()


def test_without_auth_the_list_opens_directly(serve: StartServer, browser: Browser, tmp_path: Path) -> None:
    """SUGGEST_AUTH=off: no key prompt. And a one-param study with one completed trial: no importance request
    (it would be a 409), no contour (it needs two params), each with a message instead; no error logged."""
    server = serve(upgrade_url(f"sqlite:///{tmp_path / 'open.db'}"), workers=1, env={"SUGGEST_AUTH": "off"})
    api = Api(server.base_url, None)
    try:
        build_live(api)
        api.create({"name": "tiny", "space": {"params": [{"name": "x", "type": "float", "low": 0, "high": 1}]},
                    "objective": {"goal": "minimize"}})
        (trial,) = api.ask("tiny", 1)
        api.tell("tiny", trial["number"], value=0.5)
    finally:
        api.session.close()
    with new_tab(browser, server.base_url, None) as tab:
        tab.open("#/")
        assert set(list_rows(tab)) == {LIVE, "tiny"}
        assert not tab.page.is_visible("form#key-form")
        assert not tab.page.is_visible("button#sign-out")
        tab.page.evaluate("() => { document.body.dataset.state = 'navigating'; }")
        tab.page.click(f'tr[data-study="{LIVE}"] a')
        wait_ready(tab.page)
        wait_points(tab.page, "#history-plot", 3)
        tab.go(study_hash("tiny"))
        wait_points(tab.page, "#history-plot", 1)
        assert points(tab.page, "#importance-plot") in (None, 0)
        assert points(tab.page, "#contour-plot") in (None, 0)
        assert not any("/importance" in url for url in tab.watch.urls() if "tiny" in url)
        text = tab.page.inner_text("#study-page")
        assert re.search(r"at least 2 completed", text) and re.search(r"(2|two) params", text), text[-1500:]
        tab.watch.assert_clean()
