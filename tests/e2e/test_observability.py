"""What an operator sees of a multi-worker server: /metrics summed over workers, JSON logs with ids."""

from __future__ import annotations

import json
import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.e2e.support import call, expect, in_threads, study_body
from tests.support.servers import Server, StartServer

ASK_ENDPOINT = "/v1/studies/<name>/ask"  # the route template is the label, not the concrete path


def samples(exposition: str, name: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(exposition) for s in family.samples if s.name == name]


def ask_requests_per_worker(metrics_dir: Path, scratch: Path) -> dict[int, float]:
    """Ask requests counted by each worker: each worker's counter file collected on its own."""
    counts: dict[int, float] = {}
    for db in sorted(metrics_dir.glob("counter_*.db")):
        pid = int(db.stem.removeprefix("counter_"))
        alone = scratch / str(pid)
        alone.mkdir(parents=True)
        (alone / db.name).write_bytes(db.read_bytes())
        collector = MultiProcessCollector(None, path=str(alone))  # type: ignore[no-untyped-call]
        families = collector.collect()  # type: ignore[no-untyped-call]
        counts[pid] = sum(s.value for family in families for s in family.samples
                          if s.name == "suggest_http_requests_total" and s.labels["endpoint"] == ASK_ENDPOINT)
    return counts


@pytest.mark.slow
def test_metrics_count_every_ask_across_workers(serve: StartServer, database_url: str, tmp_path: Path,
                                                http: requests.Session) -> None:
    """N asks spread over 2 workers (created, refused, not found) show up as exactly N in /metrics."""
    threads, rounds = 8, 20
    server = serve(database_url, workers=2)
    expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=study_body("metered")), 201)

    def client(index: int) -> list[tuple[int, int]]:
        """(status, trials handed out) per ask; a new connection each, so either worker may answer."""
        seen = []
        for round_ in range(rounds):
            kind = (index * rounds + round_) % 10
            study = "no-such-study" if kind == 0 else "metered"
            body = {"count": 0 if kind == 1 else 1 + kind % 3}
            with requests.Session() as session:
                reply = call(session, "POST", f"{server.base_url}/v1/studies/{study}/ask", json_body=body)
            seen.append((reply.status, len(reply.body["trials"]) if reply.status == 201 else 0))
        return seen

    asks = [outcome for outcomes in in_threads(threads, client) for outcome in outcomes]
    by_status = Counter(str(status) for status, _ in asks)
    assert len(by_status) == 3 and by_status["201"] > 0, by_status  # created, not found, invalid
    trials_asked = sum(given for _, given in asks)

    exposition = expect(call(http, "GET", f"{server.base_url}/metrics"), 200)
    counted: Counter[str] = Counter()
    for sample in samples(exposition, "suggest_http_requests_total"):
        if sample.labels["endpoint"] == ASK_ENDPOINT and sample.labels["method"] == "POST":
            counted[sample.labels["status"]] += int(sample.value)
    assert sum(counted.values()) == threads * rounds
    assert counted == by_status
    asked = {s.labels["suggester"]: s.value for s in samples(exposition, "suggest_trials_asked_total")}
    assert asked == {"random": trials_asked}

    per_worker = ask_requests_per_worker(server.metrics_dir(), tmp_path / "per-worker")
    assert sum(per_worker.values()) == threads * rounds
    assert len([n for n in per_worker.values() if n > 0]) == 2, f"one worker took every ask: {per_worker}"


def json_object(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def json_records(server: Server, until: list[str], timeout: float = 10.0) -> tuple[list[str], list[dict[str, Any]]]:
    """The server's log lines, and those that are JSON objects, once every id in `until` appears."""
    deadline = time.monotonic() + timeout
    while True:
        lines = server.log_lines()
        records = [record for record in map(json_object, lines) if record is not None]
        ids = {r.get("request_id") for r in records}
        if all(i in ids for i in until) or time.monotonic() > deadline:
            return lines, records
        time.sleep(0.1)


@pytest.mark.slow
def test_logs_are_json_lines_with_the_request_id(serve: StartServer, database_url: str,
                                                 http: requests.Session) -> None:
    """A caller's X-Request-ID (or a generated one) is echoed and lands in a JSON log line."""
    server = serve(database_url, workers=2)
    expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=study_body("logged")), 201)

    asked = call(http, "POST", f"{server.base_url}/v1/studies/logged/ask", json_body={},
                 headers={"X-Request-ID": "e2e-abc"})
    assert asked.status == 201 and asked.headers["X-Request-ID"] == "e2e-abc"
    missing = call(http, "GET", f"{server.base_url}/v1/studies/nope", headers={"X-Request-ID": "not valid!"})
    generated = missing.headers["X-Request-ID"]
    assert missing.status == 404 and missing.is_problem
    assert re.fullmatch(r"[0-9a-f]{32}", generated) and missing.body["request_id"] == generated

    lines, records = json_records(server, ["e2e-abc", generated])
    ours = [r for r in records if r.get("request_id") == "e2e-abc"]
    assert any(r.get("path") == "/v1/studies/logged/ask" and r.get("status") == 201 for r in ours), ours
    assert any(r.get("status") == 404 for r in records if r.get("request_id") == generated)
    assert all(r.get("request_id") != "not valid!" for r in records)
    # every line, gunicorn's own included, is one JSON object, and each request is logged once
    assert [line for line in lines if line.strip() and json_object(line) is None] == []
    assert any(r.get("logger") == "gunicorn.error" and "Booting worker" in r.get("message", "") for r in records)
    assert len([r for r in records if r.get("request_id") == "e2e-abc"]) == 1


@pytest.mark.slow
def test_a_worker_reload_keeps_metrics_and_requests_working(serve: StartServer, tmp_path: Path,
                                                            http: requests.Session) -> None:
    """SIGHUP replaces every worker; the shared metrics dir must outlive the old ones, counts included.

    A worker unwinds through `serve`'s own code when it exits; were it to clean up the directory
    that all workers share, new workers would answer 500 and /metrics would forget every count.
    """
    server = serve(f"sqlite:///{tmp_path / 'reload.db'}", workers=2)
    expect(call(http, "GET", f"{server.base_url}/v1/studies"), 200)
    http.close()  # no keep-alive connection pinned to an old worker

    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while sum("Worker exiting" in line for line in server.log_lines()) < 2:
        assert time.monotonic() < deadline, "the old workers never exited"
        time.sleep(0.1)

    statuses = []
    for _ in range(8):
        with requests.Session() as session:  # new connections, to reach both new workers
            statuses.append(call(session, "GET", f"{server.base_url}/v1/studies").status)
    assert statuses == [200] * 8
    with requests.Session() as session:
        exposition = expect(call(session, "GET", f"{server.base_url}/metrics"), 200)
    listed = sum(s.value for s in samples(exposition, "suggest_http_requests_total")
                 if s.labels["endpoint"] == "/v1/studies" and s.labels["method"] == "GET")
    assert listed == 1 + 8  # the old workers' count is kept
