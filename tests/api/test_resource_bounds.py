"""OWASP API4, unrestricted resource consumption: nothing a client sends or grows makes an answer, a page or a
read unbounded, on SQLite and on PostgreSQL.

Listings take a `limit` (1 ... 1000) and a cursor, and refuse anything else naming the field; every list in an
answer has a documented maximum; a trial keeps at most `max_reports` reports and metadata is bounded in bytes;
a page of big items stops short of `limit` at `max_page_bytes` and continues exactly where it stopped; and a
read that runs past `max_read_ms` answers 503 with Retry-After instead of holding a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from suggest_api.api.schemas import MAX_PAGE
from suggest_api.app import create_app
from suggest_api.config import Limits, Settings
from suggest_api.paging import MAX_POSITION, encode_cursor
from suggest_api.storage import trials as stored_trials
from tests.api.support import SPACE, ask, assert_problem, create, study_body, tell

LISTINGS = ["/v1/studies", "/v1/studies/s/trials", "/v1/keys", "/v1/audit", "/v1/studies/s/audit"]
PARAMS = {"lr": 0.01, "batch_size": 32, "optimizer": "adam"}


def limited(database_url: str, **limits: Any) -> Iterator[FlaskClient]:
    """A client of an app whose limits are lowered, so a test reaches them in a few requests."""
    app = create_app(Settings(database_url=database_url, limits=Limits(**limits)))
    try:
        yield app.test_client()
    finally:
        app.extensions["suggest_api"].engine.dispose()


@pytest.fixture
def few_reports(database_url: str) -> Iterator[FlaskClient]:
    yield from limited(database_url, max_reports=3)


@pytest.fixture
def small_metadata(database_url: str) -> Iterator[FlaskClient]:
    yield from limited(database_url, max_metadata_bytes=100)


@pytest.fixture
def small_pages(database_url: str) -> Iterator[FlaskClient]:
    yield from limited(database_url, max_page_bytes=2000)


@pytest.fixture
def short_reads(database_url: str) -> Iterator[FlaskClient]:
    yield from limited(database_url, max_read_ms=200)


# --- pagination ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", ["0", "-1", str(MAX_PAGE + 1), "ten", "1.5", ""])
@pytest.mark.parametrize("path", LISTINGS)
def test_every_listing_refuses_a_limit_out_of_range_naming_it(client: FlaskClient, path: str, limit: str) -> None:
    create(client, "s")
    assert_problem(client.get(path, query_string={"limit": limit}), 422, "query.limit")


@pytest.mark.parametrize("path", LISTINGS)
def test_every_listing_answers_its_largest_page_and_refuses_cursors_it_never_issued(client: FlaskClient,
                                                                                    path: str) -> None:
    create(client, "s")
    assert client.get(path, query_string={"limit": MAX_PAGE}).status_code == 200
    # Past the last position a listing can hold (trial numbers are 32-bit, row ids 64-bit): an empty last page.
    beyond = client.get(path, query_string={"cursor": encode_cursor(2**40)})
    assert beyond.status_code == 200, beyond.json
    body = beyond.json
    assert body is not None
    assert body["next_cursor"] is None and not next(v for v in body.values() if isinstance(v, list))
    for position in (-2, MAX_POSITION + 1):
        assert_problem(client.get(path, query_string={"cursor": encode_cursor(position)}), 422, "cursor")


def _arrays(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        if schema.get("type") == "array" or "array" in (schema.get("type") or []):
            yield where, schema
        for key, value in schema.items():
            yield from _arrays(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _arrays(value, f"{where}[{index}]")


def test_every_list_an_answer_can_hold_has_a_documented_maximum(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    schemas = document["components"]["schemas"]
    unbounded = [where for name, schema in schemas.items() if name != "ProblemOut"
                 for where, array in _arrays(schema, name) if "maxItems" not in array]
    assert not unbounded, unbounded
    for path, item in document["paths"].items():
        operation = item.get("get", {})
        listed = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
        component = listed.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        if any(array.get("maxItems") == MAX_PAGE for _, array in _arrays(schemas.get(component, {}), component)):
            query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
            assert query["limit"]["maximum"] == MAX_PAGE and "cursor" in query, path


# --- what a client grows: reports, metadata, choices ---------------------------------------------------

def test_a_trial_keeps_at_most_max_reports_and_says_so(few_reports: FlaskClient) -> None:
    client = few_reports
    create(client)
    number = ask(client)[0]["number"]
    for step in range(3):
        reported = client.post(f"/v1/studies/s/trials/{number}/report", json={"step": step, "value": 1.0})
        assert reported.status_code == 200
    problem = assert_problem(client.post(f"/v1/studies/s/trials/{number}/report", json={"step": 3, "value": 1.0}), 409)
    assert problem["type"] == "urn:suggest-api:problem:report-limit" and problem["limit"] == 3
    assert "SUGGEST_MAX_REPORTS" in problem["detail"]
    again = client.post(f"/v1/studies/s/trials/{number}/report", json={"step": 2, "value": 1.0})
    assert again.status_code == 200  # the same report again is still a no-op
    assert [r["step"] for r in client.get(f"/v1/studies/s/trials/{number}").json["intermediate"]] == [0, 1, 2]
    assert tell(client, number, 0.5).status_code == 200  # the trainer can still tell its result


def test_metadata_is_bounded_in_bytes_on_create_tell_and_import(small_metadata: FlaskClient) -> None:
    client = small_metadata
    big = {"notes": "x" * 200}
    problem = assert_problem(client.post("/v1/studies", json=study_body(metadata=big)), 422, "metadata")
    assert "SUGGEST_MAX_METADATA_BYTES" in problem["detail"]
    create(client, metadata={"run": "a"})
    number = ask(client)[0]["number"]
    assert tell(client, number, 0.5, metadata={"a": "y" * 40}).status_code == 200  # about 50 bytes: fits
    second = ask(client)[0]["number"]
    # A tell merges into the trial's metadata: the merged object is what must fit.
    assert_problem(tell(client, second, 0.5, metadata=big), 422, "metadata")
    assert client.get(f"/v1/studies/s/trials/{second}").json["state"] == "running"  # nothing was changed
    added = client.post("/v1/studies/s/trials", json={"trials": [{"params": PARAMS, "metadata": big}]})
    assert_problem(added, 422, "trials[0].metadata")


def test_a_string_choice_is_bounded_like_a_name(client: FlaskClient) -> None:
    space = {"params": [{"name": "c", "type": "categorical", "choices": ["ok", "x" * 257]}]}
    assert_problem(client.post("/v1/studies", json=study_body(space=space)), 422, "params[0].choices[1]")
    space["params"][0]["choices"][1] = "x" * 256
    assert client.post("/v1/studies", json=study_body(space=space)).status_code == 201


# --- pages of big items -------------------------------------------------------------------------------

def _pages(client: FlaskClient, path: str, key: str) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    query: dict[str, Any] = {"limit": MAX_PAGE}
    while True:
        response = client.get(path, query_string=query)
        assert response.status_code == 200, response.json
        yield len(response.data), response.json[key]
        if response.json["next_cursor"] is None:
            return
        query["cursor"] = response.json["next_cursor"]


def test_a_page_of_big_items_stops_at_max_page_bytes_and_continues_where_it_stopped(small_pages: FlaskClient) -> None:
    client = small_pages
    for i in range(6):
        create(client, f"s{i}", metadata={"notes": "m" * 300})
    items = [{"params": PARAMS, "value": float(i), "metadata": {"notes": "t" * 300}} for i in range(20)]
    assert client.post("/v1/studies/s0/trials", json={"trials": items}).status_code == 201
    for path, key, expected in (("/v1/studies/s0/trials", "trials", list(range(20))),
                                ("/v1/studies", "studies", [f"s{i}" for i in range(6)])):
        pages = list(_pages(client, path, key))
        assert len(pages) > 1
        largest = max(len(flask.json.dumps(item)) for _, page in pages for item in page)
        assert all(page and size <= 2000 + largest for size, page in pages)
        listed = [item.get("number", item.get("name")) for _, page in pages for item in page]
        assert listed == expected  # each item once, in order, across the pages


def test_an_item_larger_than_a_page_still_comes_alone(small_pages: FlaskClient) -> None:
    client = small_pages
    create(client, "big", metadata={"notes": "m" * 5000})
    create(client, "small")
    pages = list(_pages(client, "/v1/studies", "studies"))
    assert [[study["name"] for study in page] for _, page in pages] == [["big"], ["small"]]


# --- a time budget for reads --------------------------------------------------------------------------

def _slow_statement(session: Session) -> None:
    """A statement that runs for seconds on either database."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_sleep(5)"))
    else:
        session.execute(text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
                             "SELECT count(*) FROM c"))


def test_a_read_past_its_budget_answers_503_and_frees_the_thread(short_reads: FlaskClient,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client = short_reads
    create(client)
    ask(client, count=3)
    real: Callable[..., Any] = stored_trials.page_trials

    def slow(session: Session, *args: Any) -> Any:
        _slow_statement(session)
        return real(session, *args)

    monkeypatch.setattr(stored_trials, "page_trials", slow)
    started = time.monotonic()
    response = client.get("/v1/studies/s/trials")
    elapsed = time.monotonic() - started
    problem = assert_problem(response, 503)
    assert problem["type"] == "urn:suggest-api:problem:database-unavailable"
    assert response.headers["Retry-After"].isdigit() and elapsed < 2.0, elapsed
    monkeypatch.setattr(stored_trials, "page_trials", real)
    # The connection went back to the pool usable: the next reads and writes on it work, unbudgeted ones too.
    assert len(client.get("/v1/studies/s/trials").json["trials"]) == 3
    assert client.post("/v1/studies", json=study_body("t", space=SPACE)).status_code == 201
