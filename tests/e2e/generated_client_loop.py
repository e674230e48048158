"""An ask/tell loop written against a client generated from the service's /openapi.json.

    python generated_client_loop.py BASE_URL STUDY API_KEY

needs the package that `openapi-python-client` generated (`suggest_api_client`) on PYTHONPATH:
tests/e2e/test_generated_client.py generates it and runs this script. Everything goes through the
generated functions and models, so a document that names an operation, a field or a response wrongly
fails here. It asserts as it goes (a failure exits non-zero with the traceback) and prints a JSON
summary on its last line.

The repository's mypy has no generated package to read, so its imports are marked; the test type-checks
this script against the generated package itself.
"""

from __future__ import annotations

import json
import math
import sys
import uuid
from typing import Any, TypeVar

import httpx
from suggest_api_client import AuthenticatedClient  # type: ignore[import-not-found]
from suggest_api_client.api.ops import healthz  # type: ignore[import-not-found]
from suggest_api_client.api.studies import (  # type: ignore[import-not-found]
    create_study,
    delete_study,
    get_study,
    list_studies,
)
from suggest_api_client.api.trials import (  # type: ignore[import-not-found]
    add_trials,
    ask,
    get_best,
    get_trial,
    heartbeat,
    list_trials,
    report,
    tell,
)
from suggest_api_client.models import (  # type: ignore[import-not-found]
    AddedOut,
    AskIn,
    AskOut,
    BayesianSuggester,
    BayesianSuggesterName,
    BayesianSuggesterOptions,
    CategoricalParam,
    Condition,
    FinishedState,
    FloatParam,
    Goal,
    HealthOut,
    IntParam,
    Metadata,
    NewTrialIn,
    ObjectiveIn,
    Params,
    ProblemOut,
    ReportedOut,
    ReportIn,
    SearchSpace,
    StudyIn,
    StudyOut,
    StudyPageOut,
    TellIn,
    TrialOut,
    TrialPageOut,
    TrialsIn,
    TrialState,
)
from suggest_api_client.types import UNSET, Response, Unset  # type: ignore[import-not-found]

M = TypeVar("M")
ITERATIONS = 8
FAILED_AT = 3  # the iteration whose trial is told `failed` instead of a value
OPTIMIZER_COST = {"sgd": 0.0, "adam": 0.05, "rmsprop": 0.1}


def space() -> SearchSpace:
    """A float on a log scale, a stepped int, a categorical, and a float active only for sgd."""
    only_for_sgd = Condition()
    only_for_sgd["optimizer"] = ["sgd"]
    return SearchSpace(params=[
        FloatParam(name="lr", type_="float", low=1e-5, high=0.1, log=True),
        IntParam(name="batch_size", type_="int", low=16, high=256, step=16),
        CategoricalParam(name="optimizer", type_="categorical", choices=["sgd", "adam", "rmsprop"]),
        FloatParam(name="momentum", type_="float", low=0.0, high=0.99, when=only_for_sgd),
    ])


def study(name: str) -> StudyIn:
    metadata = Metadata()
    metadata["owner"] = "generated-client"
    return StudyIn(name=name, space=space(), objective=ObjectiveIn(name="loss", goal=Goal.MINIMIZE), seed=7,
                   suggester=BayesianSuggester(name=BayesianSuggesterName.BAYESIAN,
                                               options=BayesianSuggesterOptions(n_initial=4)),
                   metadata=metadata)


def loss(params: Params) -> float:
    """A made-up training loss, from the typed parameters of a trial."""
    lr, batch_size, optimizer = params["lr"], params["batch_size"], params["optimizer"]
    assert isinstance(lr, float) and 1e-5 <= lr <= 0.1, lr
    assert isinstance(batch_size, int | float) and not isinstance(batch_size, bool), batch_size
    assert batch_size == int(batch_size) and int(batch_size) in range(16, 257, 16), batch_size
    assert isinstance(optimizer, str) and optimizer in OPTIMIZER_COST, optimizer
    assert ("momentum" in params) == (optimizer == "sgd"), params.to_dict()
    value = (math.log10(lr) + 3) ** 2 + ((batch_size - 128) / 128) ** 2 + OPTIMIZER_COST[optimizer]
    if optimizer == "sgd":
        momentum = params["momentum"]
        assert isinstance(momentum, float) and 0.0 <= momentum <= 0.99, momentum
        value += (momentum - 0.9) ** 2
    return value


def answer(response: Response[Any], status: int, model: type[M]) -> M:
    """The body of a response with the expected status, parsed by the generated client as `model`."""
    assert response.status_code == status, (response.status_code, response.content)
    parsed = response.parsed
    assert isinstance(parsed, model), (model, parsed)
    return parsed


def problem(response: Response[Any], status: int) -> ProblemOut:
    """An error answer: a documented status, parsed by the generated client as the problem model."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    parsed = answer(response, status, ProblemOut)
    assert parsed.status == status and parsed.title and parsed.detail, parsed
    return parsed


def errors_of(parsed: ProblemOut) -> dict[str, Any]:
    assert not isinstance(parsed.errors, Unset), parsed
    fields: dict[str, Any] = parsed.errors.to_dict()
    return fields


def check_study(made: StudyOut, name: str) -> None:
    assert made.name == name and made.seed == 7 and made.objective.goal == Goal.MINIMIZE, made
    assert made.suggester.name == "bayesian" and made.suggester.options["n_initial"] == 4, made.suggester
    kinds = [type(param) for param in made.space.params]
    assert kinds == [FloatParam, IntParam, CategoricalParam, FloatParam], made.space
    when = made.space.params[3].when
    assert isinstance(when, Condition) and when.to_dict() == {"optimizer": ["sgd"]}, when
    assert isinstance(made.metadata, Metadata) and made.metadata["owner"] == "generated-client", made.metadata


def ask_one(client: AuthenticatedClient, name: str,
            idempotency_key: str | Unset = UNSET) -> tuple[TrialOut, Response[Any]]:
    response = ask.sync_detailed(name, client=client, body=AskIn(count=1, client_id="gen-client"),
                                 idempotency_key=idempotency_key)
    (trial,) = answer(response, 201, AskOut).trials
    return trial, response


def run(client: AuthenticatedClient, name: str) -> dict[str, Any]:
    health = answer(healthz.sync_detailed(client=client), 200, HealthOut)
    assert health.status == "ok", health

    # Create the study; creating it again with the same definition answers it (200), as every worker may.
    check_study(answer(create_study.sync_detailed(client=client, body=study(name)), 201, StudyOut), name)
    check_study(answer(create_study.sync_detailed(client=client, body=study(name)), 200, StudyOut), name)

    told: dict[int, float | None] = {}
    for iteration in range(ITERATIONS):
        key = str(uuid.uuid4())
        trial, _ = ask_one(client, name, key)
        assert trial.state == TrialState.RUNNING and trial.value is None and trial.finished_at is None, trial
        assert trial.client_id == "gen-client" and trial.intermediate == [], trial
        if iteration == 0:  # the same Idempotency-Key again: the first answer, no new trial
            replayed, response = ask_one(client, name, key)
            assert replayed.number == trial.number, (replayed, trial)
            assert response.headers.get("idempotent-replayed") == "true", response.headers
            beat = answer(heartbeat.sync_detailed(name, trial.number, client=client), 200, TrialOut)
            assert beat.heartbeat_at is not None, beat
            reported = answer(report.sync_detailed(name, trial.number, client=client,
                                                   body=ReportIn(step=0, value=1.5)), 200, ReportedOut)
            assert reported.prune is False, reported
        value = loss(trial.params)
        if iteration == FAILED_AT:
            body = TellIn(number=trial.number, state=FinishedState.FAILED)
            result = answer(tell.sync_detailed(name, client=client, body=body), 200, TrialOut)
            assert result.state == TrialState.FAILED and result.value is None, result
            told[trial.number] = None
        else:
            result = answer(tell.sync_detailed(name, client=client, body=TellIn(number=trial.number, value=value)),
                            200, TrialOut)
            assert result.state == TrialState.COMPLETED and result.value == value, result
            assert result.finished_at is not None and result.finished_at >= result.created_at, result
            told[trial.number] = value
    assert sorted(told) == list(range(ITERATIONS)), told

    # Telling a finished trial another result is refused: 409, parsed as a problem.
    first_completed = min(number for number, value in told.items() if value is not None)
    conflict = problem(tell.sync_detailed(name, client=client, body=TellIn(number=first_completed, value=123.0)),
                       409)

    best = answer(get_best.sync_detailed(name, client=client), 200, TrialOut)
    completed = {number: value for number, value in told.items() if value is not None}
    assert best.value == min(completed.values()) == completed[best.number], (best, completed)
    assert best.state == TrialState.COMPLETED, best

    # Every trial, page by page (3 a page), and the failed ones by state.
    listed: list[TrialOut] = []
    cursor: str | None | Unset = UNSET
    for _ in range(ITERATIONS):
        page = answer(list_trials.sync_detailed(name, client=client, limit=3, cursor=cursor), 200, TrialPageOut)
        assert len(page.trials) <= 3, page
        listed += page.trials
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [t.number for t in listed] == list(range(ITERATIONS)), [t.number for t in listed]
    failed = answer(list_trials.sync_detailed(name, client=client, state=TrialState.FAILED), 200, TrialPageOut)
    one = answer(get_trial.sync_detailed(name, best.number, client=client), 200, TrialOut)
    assert one.params.to_dict() == best.params.to_dict() and one.value == best.value, (one, best)
    read = answer(get_study.sync_detailed(name, client=client), 200, StudyOut)
    assert isinstance(read.best_trial, TrialOut) and read.best_trial.number == best.number, read.best_trial
    studies = answer(list_studies.sync_detailed(client=client, limit=1000), 200, StudyPageOut)
    assert name in [s.name for s in studies.studies], studies

    # Enqueue a parameter set: the next ask hands it out first.
    enqueued = Params.from_dict({"lr": 0.001, "batch_size": 64, "optimizer": "adam"})
    added = answer(add_trials.sync_detailed(name, client=client, body=TrialsIn(trials=[NewTrialIn(params=enqueued)])),
                   201, AddedOut)
    assert added.enqueued == 1 and added.imported == [], added
    handed_out, _ = ask_one(client, name)
    assert handed_out.params.to_dict() == enqueued.to_dict(), handed_out.params

    # Documented errors come back parsed as the problem model.
    missing = f"{name}-missing"
    not_found = problem(get_study.sync_detailed(missing, client=client), 404)
    ask_not_found = problem(ask.sync_detailed(missing, client=client, body=AskIn(count=1)), 404)
    bad_count = problem(ask.sync_detailed(name, client=client, body=AskIn(count=0)), 422)
    inverted = study(f"{name}-inverted")
    lr = inverted.space.params[0]
    assert isinstance(lr, FloatParam), lr
    lr.low, lr.high = 0.1, 1e-5
    bad_space = problem(create_study.sync_detailed(client=client, body=inverted), 422)
    assert delete_study.sync_detailed(name, client=client).status_code == 204
    deleted = problem(get_best.sync_detailed(name, client=client), 404)

    return {
        "told": {str(number): value for number, value in told.items()},
        "best": {"number": best.number, "value": best.value, "params": best.params.to_dict()},
        "states": {str(t.number): t.state.value for t in listed},
        "failed": [t.number for t in failed.trials],
        "counts": read.trial_counts.to_dict(),
        "problems": {
            "conflict": conflict.to_dict(), "not_found": not_found.to_dict(),
            "ask_not_found": ask_not_found.to_dict(), "deleted": deleted.to_dict(),
            "bad_count": {**bad_count.to_dict(), "errors": errors_of(bad_count)},
            "bad_space": {**bad_space.to_dict(), "errors": errors_of(bad_space)},
        },
    }


def main() -> None:
    base_url, name, key = sys.argv[1], sys.argv[2], sys.argv[3]
    with AuthenticatedClient(base_url=base_url, token=key, timeout=httpx.Timeout(60.0),
                             raise_on_unexpected_status=True) as client:
        summary = run(client, name)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
