"""`Study.optimize` on threads and processes against a real server, including Ctrl-C."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from suggest_client import Client, Trial
from suggest_client.optimize import INTERRUPT_GRACE_S
from tests.client.support import objectives
from tests.client.support.proxy import Fault, proxy
from tests.support.servers import Server

pytestmark = pytest.mark.slow

SPACE = {"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}


@pytest.mark.parametrize("workers", [1, 3])
def test_threads_run_the_budget_on_distinct_trials(api: Client, study_name: str, workers: int) -> None:
    study = api.create_study(study_name, SPACE, suggester="bayesian", seed=1)
    finished = study.optimize(objectives.quadratic, 12, n_workers=workers)
    assert sorted(t.number for t in finished) == list(range(12))
    assert all(t.state == "completed" for t in finished)
    stored = study.trials()
    assert [t.state for t in stored] == ["completed"] * 12
    assert all(t.value == pytest.approx((t.params["x"] - 0.3) ** 2) for t in stored)


def test_processes_run_the_budget(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, SPACE, seed=2)
    finished = study.optimize(objectives.quadratic, 6, n_workers=2, processes=True)
    assert sorted(t.number for t in finished) == list(range(6))
    assert [t.state for t in study.trials()] == ["completed"] * 6


def test_failures_and_prunes_do_not_stop_the_loop(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, SPACE, seed=3)
    study.optimize(objectives.by_number, 7)
    states = {t.number: (t.state, t.metadata.get("error")) for t in study.trials()}
    assert states[1] == ("failed", "ValueError: diverged")
    assert states[2] == ("pruned", None)
    assert states[3][0] == "failed" and "nan" in str(states[3][1])
    assert states[4] == ("failed", "TypeError: the objective must return a number for trial 4, not str")
    assert all(states[n] == ("completed", None) for n in (0, 5, 6))
    assert study.trial_at(5).value == 0.5


def test_an_error_outside_catch_stops_the_loop_and_is_raised(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, SPACE, seed=4)
    with pytest.raises(ValueError, match="diverged"):
        study.optimize(objectives.by_number, 7, catch=())
    assert [t.state for t in study.trials()] == ["completed", "failed"]


def test_a_used_up_grid_ends_the_loop_early(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, [{"name": "x", "type": "categorical", "choices": [0.1, 0.2, 0.3]}],
                             suggester="grid")
    finished = study.optimize(objectives.quadratic, 10, n_workers=2)
    assert sorted(t.params["x"] for t in finished) == [0.1, 0.2, 0.3]


def test_bad_arguments(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, SPACE)
    with pytest.raises(ValueError, match="n_workers"):
        study.optimize(objectives.quadratic, 1, n_workers=0)
    assert study.optimize(objectives.quadratic, 0) == []


def wait_running(api: Client, name: str, count: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if api.study(name).info["trial_counts"]["running"] == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} trials never ran at once")


@pytest.mark.parametrize(("workers", "mode", "whole_group"), [
    (1, "threads", True), (2, "threads", True), (2, "processes", True), (2, "processes", False)])
def test_ctrl_c_stops_the_workers_and_fails_their_trials(server: Server, api: Client, study_name: str,
                                                          workers: int, mode: str, whole_group: bool) -> None:
    """`whole_group`: Ctrl-C in a terminal signals every process; `kill -INT` reaches the parent only."""
    api.create_study(study_name, SPACE)
    process = subprocess.Popen([sys.executable, "-m", "tests.client.support.objectives", server.base_url, study_name,
                                str(workers), mode], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, text=True)
    try:
        wait_running(api, study_name, workers, process)
        if whole_group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        output, _ = process.communicate(timeout=60)
        stopped_after = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode != 0 and "KeyboardInterrupt" in output, output
    assert "Aborted" not in output and "terminate called" not in output
    assert stopped_after < INTERRUPT_GRACE_S  # workers stopped at their next report, not at the grace's end
    trials = api.study(study_name).trials()
    assert len(trials) == workers  # no new trial was started after Ctrl-C
    assert all(t.state == "failed" for t in trials), [(t.number, t.state) for t in trials]


def test_a_trial_whose_ask_was_answered_after_ctrl_c_is_failed_too(server: Server, study_name: str) -> None:
    """Ctrl-C while a worker's ask waits out a 503: its trial starts after the loop failed the running
    ones, so the worker fails it itself instead of leaving it running until its lease ends."""
    def fault(method: str, path: str, seen: int) -> Fault:
        return (503, {"Retry-After": "1"}) if method == "POST" and path.endswith("/ask") and seen == 1 else None

    with proxy(server.base_url, fault) as faulty, Client(faulty.url) as api:
        study = api.create_study(study_name, SPACE)
        ask_path = f"/v1/studies/{study_name}/ask"

        def objective(trial: Trial) -> float:
            while not trial.stopping:
                time.sleep(0.01)
            return 0.0

        def interrupt_once_the_second_ask_waits() -> None:
            deadline = time.monotonic() + 30
            while faulty.count("POST", ask_path) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            _thread.interrupt_main()

        threading.Thread(target=interrupt_once_the_second_ask_waits, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            study.optimize(objective, n_trials=10, n_workers=2)
        trials = study.trials()
    assert faulty.count("POST", ask_path) == 3  # the first ask, the one answered 503, and its retry
    assert [(t.number, t.state) for t in trials] == [(0, "failed"), (1, "failed")]
