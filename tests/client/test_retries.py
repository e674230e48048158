"""Retries through a faulty proxy in front of a real server: a lost answer is retried with the same
Idempotency-Key, so the service replays it instead of creating a second trial or result."""

from __future__ import annotations

import time

import pytest

from suggest_client import Client, ConnectionFailed, errors
from suggest_client.transport import retry_after
from tests.client.support.proxy import PROBLEM_TYPE, Decide, Fault, proxy
from tests.support.servers import Server, free_port

pytestmark = pytest.mark.slow

SPACE = {"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}


def drop_first(method: str, suffix: str) -> Decide:
    def fault(seen_method: str, path: str, seen: int) -> Fault:
        return "drop" if seen_method == method and path.endswith(suffix) and seen == 0 else None
    return fault


def test_an_ask_whose_answer_is_lost_is_retried_without_a_second_trial(server: Server, study_name: str) -> None:
    with proxy(server.base_url, drop_first("POST", "/ask")) as faulty, Client(faulty.url) as api:
        study = api.create_study(study_name, SPACE)
        trials = study.ask(2)
        assert faulty.count("POST", f"/v1/studies/{study_name}/ask") == 2  # the lost one and the retry
        keys = {h["Idempotency-Key"] for h in faulty.headers if h.get("Idempotency-Key")}
        assert len(keys) == 2  # one for the create, one shared by both ask attempts
    with Client(server.base_url) as direct:
        stored = direct.study(study_name).trials()
    assert [t.number for t in trials] == [0, 1]
    assert [(t.number, t.params) for t in stored] == [(t.number, t.params) for t in trials]


def test_a_tell_and_a_create_whose_answers_are_lost_store_one_result(server: Server, study_name: str) -> None:
    def fault(method: str, path: str, seen: int) -> Fault:
        return "drop" if method == "POST" and (path.endswith("/tell") or path == "/v1/studies") and seen == 0 else None

    with proxy(server.base_url, fault) as faulty, Client(faulty.url) as api:
        study = api.create_study(study_name, SPACE)
        trial = study.ask()[0]
        told = study.tell(trial, 0.25)
        assert (told.state, told.value) == ("completed", 0.25)
    with Client(server.base_url) as direct:
        assert direct.study(study_name).info["trial_counts"]["total"] == 1


def test_a_delete_whose_answer_is_lost_counts_as_done(server: Server, study_name: str) -> None:
    with Client(server.base_url) as direct:
        direct.create_study(study_name, SPACE)
    with proxy(server.base_url, drop_first("DELETE", study_name)) as faulty, Client(faulty.url) as api:
        api.delete_study(study_name)  # the retry's 404 means the first attempt did it
        assert faulty.count("DELETE", f"/v1/studies/{study_name}") == 2


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_statuses_are_retried_honouring_retry_after(server: Server, study_name: str, status: int) -> None:
    def fault(method: str, path: str, seen: int) -> Fault:
        return (status, {"Retry-After": "1"}) if path.endswith("/ask") and seen == 0 else None

    with proxy(server.base_url, fault) as faulty, Client(faulty.url) as api:
        study = api.create_study(study_name, SPACE)
        started = time.monotonic()
        assert len(study.ask()) == 1
        waited = time.monotonic() - started
    assert waited >= 0.9  # the service said one second; without Retry-After the first backoff is ≤ 0.25 s
    with Client(server.base_url) as direct:
        assert direct.study(study_name).info["trial_counts"]["total"] == 1


def test_a_busy_model_fit_slot_is_waited_for_beyond_the_retries(server: Server, study_name: str) -> None:
    """More trainers than the service has fit slots take turns: model-busy uses no retry; other 503s do."""
    def fault(method: str, path: str, seen: int) -> Fault:
        if path.endswith("/ask") and seen < 6:
            return (503, {"Retry-After": "0", PROBLEM_TYPE: "urn:suggest-api:problem:model-busy"})
        return (503, {"Retry-After": "0"}) if path.endswith("/best") else None

    with proxy(server.base_url, fault) as faulty, Client(faulty.url, retries=1) as api:
        study = api.create_study(study_name, SPACE)
        assert len(study.ask()) == 1
        assert faulty.count("POST", f"/v1/studies/{study_name}/ask") == 7  # six turns waited, then the ask
        with pytest.raises(errors.Unavailable):
            study.best()
        assert faulty.count("GET", f"/v1/studies/{study_name}/best") == 2  # the first try and its 1 retry


def test_other_errors_are_not_retried_and_retries_run_out(server: Server, study_name: str) -> None:
    def fault(method: str, path: str, seen: int) -> Fault:
        if path.endswith("/ask"):
            return (500, {})
        return (503, {"Retry-After": "0"}) if path.endswith("/best") else None

    with proxy(server.base_url, fault) as faulty, Client(faulty.url, retries=3) as api:
        study = api.create_study(study_name, SPACE)
        with pytest.raises(errors.ServerError):
            study.ask()
        assert faulty.count("POST", f"/v1/studies/{study_name}/ask") == 1
        with pytest.raises(errors.Unavailable):
            study.best()
        assert faulty.count("GET", f"/v1/studies/{study_name}/best") == 4  # the first try and 3 retries


def test_an_unreachable_service_raises_connection_failed_after_the_retries() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", retries=2) as api, \
            pytest.raises(ConnectionFailed, match="after 3 attempts"):
        api.studies()


def test_the_token_is_sent_as_a_bearer_header(server: Server, study_name: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGGEST_TOKEN", "sk_test_from_env")
    with proxy(server.base_url, lambda *_: None) as faulty:
        with Client(faulty.url) as api:
            api.studies()
        with Client(faulty.url, token="sk_test_argument") as api:
            api.studies()
    assert [h.get("Authorization") for h in faulty.headers] == ["Bearer sk_test_from_env", "Bearer sk_test_argument"]


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after("3") == 3.0
    assert retry_after("86400") == 60.0  # capped
    assert retry_after(None) is None and retry_after("soon") is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 5))
    seconds = retry_after(date)
    assert seconds is not None and 3.0 <= seconds <= 5.0
