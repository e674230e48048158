"""The entry point: a connection to one suggest_api service."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Union
from urllib.parse import quote

from suggest_client.define_by_run import deferred_study
from suggest_client.errors import NotFound
from suggest_client.paging import every_page
from suggest_client.study import Study, open_study
from suggest_client.transport import Transport

DEFAULT_URL = "http://127.0.0.1:8000"
GOALS = ("minimize", "maximize")

Plugin = Union[str, Mapping[str, Any]]
#: One objective of a multi-objective study: `{"name": ..., "goal": ...}` or `(name, goal)`.
ObjectiveSpec = Union[Mapping[str, Any], tuple[str, str]]
#: One constraint: `{"name": ..., "op": "<=" | ">=", "bound": ...}` or `(name, op, bound)`.
ConstraintSpec = Union[Mapping[str, Any], tuple[str, str, float]]


class Client:
    """Talks to one service. Thread-safe: each thread gets its own connection pool.

    `url` defaults to $SUGGEST_URL, then http://127.0.0.1:8000; `token` to $SUGGEST_TOKEN.
    `retries` bounds how often one call is retried on connection errors, 429 and 502-504.
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0,
                 retries: int = 5) -> None:
        self.url = url or os.environ.get("SUGGEST_URL") or DEFAULT_URL
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, not {self.url!r}")
        self.token = token if token is not None else os.environ.get("SUGGEST_TOKEN") or None
        self.timeout = timeout
        self.retries = retries
        self.transport = Transport(self.url, self.token, timeout, retries)

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def create_study(self, name: str, space: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
                     objective: str | Mapping[str, Any] | None = None, suggester: Plugin = "random",
                     seed: int | None = None, *, heartbeat_timeout: float | None = None,
                     pruner: Plugin | None = None, metadata: Mapping[str, Any] | None = None,
                     objectives: Sequence[ObjectiveSpec] | None = None,
                     constraints: Sequence[ConstraintSpec] | None = None,
                     reference_point: Sequence[float] | None = None) -> Study:
        """Create a study, or get it back if one with this name and the same definition exists.

        Every worker may call this at start-up. A study of that name with another definition
        raises Conflict naming the fields that differ. `space` is `{"params": [...]}` or the list
        of params; `objective` a goal ("minimize", the default, or "maximize") or `{"name": ..., "goal": ...}`;
        `suggester` and `pruner` a name or `{"name": ..., "options": {...}}`.

        A multi-objective study gives `objectives` instead of `objective`: 2 to 4 `{"name", "goal"}`
        or `(name, goal)`, optionally with a `reference_point` (one number per objective, in its own
        units) for the hypervolume. `constraints` (`{"name", "op": "<=" | ">=", "bound"}` or
        `(name, op, bound)`) make trials that break them infeasible, with one objective or several.

        Without `space` (define-by-run, as in Optuna: the objective calls `trial.suggest_float(...)`), an
        existing study of that name is used and the calls are checked against it; otherwise the first trials
        of `optimize` define the space (see `suggest_client.define_by_run`).
        """
        if objectives is not None and objective is not None:
            raise ValueError("give `objective` (one) or `objectives` (several), not both")
        body: dict[str, Any] = {"name": name, **({} if space is None else {"space": _space(space)}),
                                "suggester": _plugin(suggester)}
        if objectives is not None:
            body["objectives"] = [_named_objective(item) for item in objectives]
        else:
            body["objective"] = _objective("minimize" if objective is None else objective)
        if constraints is not None:
            body["constraints"] = [_constraint(item) for item in constraints]
        if reference_point is not None:
            body["reference_point"] = [float(number) for number in reference_point]
        if seed is not None:
            body["seed"] = seed
        if heartbeat_timeout is not None:
            body["heartbeat_timeout"] = heartbeat_timeout
        if pruner is not None:
            body["pruner"] = _plugin(pruner)
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if space is None:
            def create(found: Mapping[str, Any]) -> Study:
                return self.create_study(name, found, objective, suggester, seed, heartbeat_timeout=heartbeat_timeout,
                                         pruner=pruner, metadata=metadata, objectives=objectives,
                                         constraints=constraints, reference_point=reference_point)

            return deferred_study(self.transport, body, create)
        return Study(self.transport, self.transport.request("POST", "/v1/studies", json=body,
                                                            idempotent_post=True))

    def study(self, name: str) -> Study:
        """An existing study; raises NotFound if there is none of that name."""
        return open_study(self.transport, name)

    def studies(self) -> list[Study]:
        """Every study, oldest first (following the pages)."""
        return [Study(self.transport, info) for info in every_page(self.transport, "/v1/studies", "studies")]

    def export_study(self, name: str) -> dict[str, Any]:
        """The whole study as one JSON document: definition, every trial with its reports, and the queue.

        Keep it as a file (`json.dump`), or give it to `import_study` here or on another service; the format
        is in the service's docs/integrations.md.
        """
        document: dict[str, Any] = self.transport.request("GET", "/v1/studies/" + quote(name, safe="") + "/export")
        return document

    def import_study(self, document: Mapping[str, Any], *, name: str | None = None) -> Study:
        """Make the study a document (from `export_study`) describes, in this client's team, named `name` if given.

        Idempotent by content: when the team already has that very study nothing is written and it is
        returned; a study of that name with other content raises Conflict naming what differs.
        """
        answer = self.transport.request("POST", "/v1/studies:import", json=dict(document),
                                        params={"name": name} if name is not None else None, idempotent_post=True)
        return Study(self.transport, answer)

    def delete_study(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete a study and its trials; NotFound if there is none, unless `missing_ok`."""
        try:
            self.transport.request("DELETE", "/v1/studies/" + quote(name, safe=""))
        except NotFound:
            if not missing_ok:
                raise


def _space(space: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if isinstance(space, Mapping):
        return dict(space)
    return {"params": [dict(param) for param in space]}


def _objective(objective: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(objective, str):
        if objective not in GOALS:
            raise ValueError(f"objective must be 'minimize', 'maximize' or {{'name': ..., 'goal': ...}}, "
                             f"not {objective!r}")
        return {"goal": objective}
    return dict(objective)


def _named_objective(objective: ObjectiveSpec) -> dict[str, Any]:
    if isinstance(objective, Mapping):
        return dict(objective)
    if isinstance(objective, (tuple, list)) and len(objective) == 2:
        return {"name": objective[0], "goal": objective[1]}
    raise ValueError(f"each of `objectives` must be {{'name': ..., 'goal': ...}} or (name, goal), not {objective!r}")


def _constraint(constraint: ConstraintSpec) -> dict[str, Any]:
    if isinstance(constraint, Mapping):
        return dict(constraint)
    if isinstance(constraint, (tuple, list)) and len(constraint) == 3:
        return {"name": constraint[0], "op": constraint[1], "bound": constraint[2]}
    raise ValueError(f"each of `constraints` must be {{'name': ..., 'op': ..., 'bound': ...}} or "
                     f"(name, op, bound), not {constraint!r}")


def _plugin(plugin: Plugin) -> dict[str, Any]:
    if isinstance(plugin, str):
        return {"name": plugin}
    return dict(plugin)
