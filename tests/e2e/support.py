"""Helpers for end-to-end tests: make HTTP calls to a `suggest-api serve` and read the results.

Servers are started by the `serve` fixture (tests/conftest.py, helpers in tests/support/servers.py). Every
call has a deadline, and every response it opens is read to its end and closed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from tests.support.servers import HTTP_TIMEOUT_S

T = TypeVar("T")

JSON_TYPES = ("application/json", "application/problem+json")

#: A space with every parameter kind the random suggester handles, a conditional one included.
SPACE: dict[str, Any] = {"params": [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
    {"name": "batch_size", "type": "int", "low": 16, "high": 256, "step": 16},
    {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5, "step": 0.05},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
]}


def study_body(name: str, seed: int = 7) -> dict[str, Any]:
    return {"name": name, "space": SPACE, "objective": {"name": "loss", "goal": "minimize"}, "seed": seed}


@dataclass(frozen=True)
class Reply:
    """A response read to its end and closed: status, media type and parsed JSON body."""

    status: int
    content_type: str
    body: Any
    headers: Mapping[str, str]

    @property
    def is_problem(self) -> bool:
        """An RFC 9457 answer whose body agrees with the status line."""
        return (self.content_type == "application/problem+json" and isinstance(self.body, dict)
                and self.body.get("status") == self.status and bool(self.body.get("title"))
                and bool(self.body.get("detail")))


def call(session: requests.Session, method: str, url: str, *, json_body: Any = None,
         headers: Mapping[str, str] | None = None) -> Reply:
    """One request; a JSON body that does not parse (a truncated response) raises ValueError."""
    with session.request(method, url, json=json_body, headers=headers, timeout=HTTP_TIMEOUT_S) as response:
        raw = response.content
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        body = json.loads(raw) if raw and content_type in JSON_TYPES else raw.decode("utf-8", "replace")
        return Reply(response.status_code, content_type, body, dict(response.headers))


def expect(reply: Reply, status: int) -> Any:
    assert reply.status == status, (reply.status, reply.body)
    return reply.body


def all_trials(session: requests.Session, base_url: str, study: str, page_size: int = 64) -> list[dict[str, Any]]:
    """Every trial of a study, following `next_cursor` page by page (every page but the last is full)."""
    trials: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100_000):
        query = f"?limit={page_size}" + (f"&cursor={cursor}" if cursor else "")
        page = expect(call(session, "GET", f"{base_url}/v1/studies/{study}/trials{query}"), 200)
        assert len(page["trials"]) <= page_size
        trials += page["trials"]
        cursor = page["next_cursor"]
        if cursor is None:
            return trials
        assert len(page["trials"]) == page_size, "a page before the last one was short"
    raise AssertionError("pagination never ended")


def in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(0..count-1)` on `count` threads at once; re-raise the first failure."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, index) for index in range(count)]
        return [future.result() for future in futures]
