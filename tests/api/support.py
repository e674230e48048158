"""What the API tests share: study bodies, ask/tell shortcuts, problem checks, tasks run at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

SPACE: dict[str, Any] = {"params": [
    {"name": "lr", "type": "float", "low": 1e-5, "high": 0.1, "log": True},
    {"name": "batch_size", "type": "int", "low": 16, "high": 256, "step": 16},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
]}


def study_body(name: str = "s", **overrides: Any) -> dict[str, Any]:
    return {"name": name, "space": SPACE, "objective": {"name": "loss", "goal": "minimize"}, "seed": 7,
            **overrides}


def create(client: FlaskClient, name: str = "s", **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/studies", json=study_body(name, **overrides))
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.get_json()
    return body


def ask(client: FlaskClient, name: str = "s", count: int = 1, **extra: Any) -> list[dict[str, Any]]:
    response = client.post(f"/v1/studies/{name}/ask", json={"count": count, **extra})
    assert response.status_code == 201, response.json
    trials: list[dict[str, Any]] = response.json["trials"]
    return trials


def tell(client: FlaskClient, number: int, value: float | None = None, name: str = "s", **extra: Any) -> Any:
    body: dict[str, Any] = {"number": number, **extra}
    if value is not None:
        body["value"] = value
    return client.post(f"/v1/studies/{name}/tell", json=body)


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """A problem+json answer with the status, a detail, and (when given) the field named in `errors`."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    if field is not None:
        assert field in body.get("errors", {}), body
    return body


def run_all(tasks: list[Callable[[], None]]) -> None:
    """Run each task in a thread of its own, all at once; fail with any exception one raised."""
    errors: list[BaseException] = []

    def guarded(task: Callable[[], None]) -> None:
        try:
            task()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
