"""Model fits in helper processes: same answers as in-process, typed errors, slots, niceness, no orphans.

Real processes, no mocks. Helpers are shared by the whole process (a pool), so most tests reuse the first
one; each spawn costs about a second of imports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from suggest_api.domain import Goal, PluginRef, Trial, TrialState
from suggest_api.errors import GridExhausted, ModelBusy, SuggestError, Unavailable
from suggest_api.service.model_fits import ModelFitFailed, ModelFits, stop_idle_helpers
from suggest_api.space import SearchSpace
from suggest_api.suggesters.base import SuggestRequest
from suggest_api.suggesters.registry import suggesters
from tests.support.spaces import TRAINING_SPACE

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 1, 1, tzinfo=UTC)
BAYESIAN = suggesters.validate("bayesian", {})
#: Far above what any fit here takes, so the deadline the helper sets never ends optional work early and the
#: helper does exactly the work of deadline=None (the deadline only ever cuts L-BFGS-B starts and local search).
NO_CUT_BUDGET_S = 600.0
#: Seconds a helper may take to exit once its parent is gone: a correctness bound (it checks every 0.25 s),
#: generous for a loaded machine, not a benchmark.
ORPHAN_BOUND_S = 10.0


@pytest.fixture(scope="module", autouse=True)
def stop_helpers() -> Iterator[None]:
    yield
    stop_idle_helpers()


def history(n: int, *, space: SearchSpace = TRAINING_SPACE, seed: int = 1) -> list[Trial]:
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(n):
        params = space.decode(rng.random(space.dimension))
        value = float(rng.standard_normal())
        trials.append(Trial(number=i, state=TrialState.COMPLETED, params=params, value=value, created_at=NOW))
    return trials


def request(trials: list[Trial], *, count: int = 2, space: SearchSpace = TRAINING_SPACE, seed: int = 3,
            made: int | None = None) -> SuggestRequest:
    first = len(trials) if made is None else made
    return SuggestRequest(space=space, goal=Goal.MINIMIZE, seed=seed, numbers=range(first, first + count),
                          made=first, history=tuple(trials))


def gone(pid: int) -> bool:
    """No such process, or a zombie (its parent died and nothing reaps it: it runs no more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int, bound_s: float) -> bool:
    deadline = time.monotonic() + bound_s
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_bayesian_suggestion_equals_the_in_process_one() -> None:
    ask = request(history(30))  # past the 10-point initial design: a fitted GP and the acquisition
    expected = suggesters.build(BAYESIAN).suggest(ask)
    with ModelFits(1, NO_CUT_BUDGET_S).reserve() as fitter:
        assert fitter.suggest(BAYESIAN, ask) == expected


def test_a_second_reservation_beyond_the_slots_is_refused_at_once() -> None:
    fits = ModelFits(1, 5.0)
    with fits.reserve():
        with pytest.raises(ModelBusy) as refused:
            with fits.reserve():
                pass  # pragma: no cover
        assert refused.value.retry_after_s >= 1
        assert refused.value.status == 503
    with fits.reserve() as fitter:
        assert fitter.describe()["pid"] > 0


def test_slots_are_counted_per_instance_and_a_fitter_ends_with_its_reservation() -> None:
    fits = ModelFits(2, 5.0)
    with fits.reserve(), fits.reserve() as second:
        with pytest.raises(ModelBusy):
            with fits.reserve():
                pass  # pragma: no cover
    with pytest.raises(RuntimeError, match="reservation has ended"):
        second.describe()


def test_the_helper_runs_niced_with_one_blas_thread_and_is_reused() -> None:
    with ModelFits(1, 5.0).reserve() as fitter:
        info = fitter.describe()
        pid = info["pid"]
        assert pid != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
        assert info["nice"] == os.getpriority(os.PRIO_PROCESS, pid)
        assert any(pool["api"] in {"openblas", "mkl", "blis"} for pool in info["threadpools"])
        assert {pool["threads"] for pool in info["threadpools"]} == {1}
        fitter.suggest(BAYESIAN, request(history(12)))
        assert fitter.describe()["pid"] == pid
    with ModelFits(1, 5.0).reserve() as fitter:  # another instance of this process: the same pool
        assert fitter.describe()["pid"] == pid


def test_a_suggest_error_in_the_helper_comes_back_with_its_type_and_fields() -> None:
    grid = suggesters.validate("grid", {"grid_points": 2})
    space = SearchSpace.from_json({"params": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]})
    exhausted = request([], space=space, made=2)
    with pytest.raises(GridExhausted) as local:
        suggesters.build(grid).suggest(exhausted)
    with ModelFits(1, 5.0).reserve() as fitter, pytest.raises(GridExhausted) as remote:
        fitter.suggest(grid, exhausted)
    assert isinstance(remote.value, SuggestError)
    assert (remote.value.detail, remote.value.errors, remote.value.extra) == \
        (local.value.detail, local.value.errors, local.value.extra)
    assert remote.value.extra == {"grid_size": 2}


def test_a_bug_in_the_helper_is_a_runtime_error_and_the_helper_stays() -> None:
    with ModelFits(1, 5.0).reserve() as fitter:
        pid = fitter.describe()["pid"]
        # Not registered: the registry's KeyError stands for any bug (not a SuggestError) in a suggester.
        with pytest.raises(ModelFitFailed, match="KeyError"):
            fitter.suggest(PluginRef(name="no-such-suggester"), request([]))
        assert fitter.describe()["pid"] == pid


def test_an_overrunning_fit_is_killed_and_answers_unavailable_then_a_new_helper_serves() -> None:
    # 300 trials and no deadline cut: hundreds of ms of fitting, far past a 0.05 s hard limit.
    big = request(history(300), count=1)
    with ModelFits(1, NO_CUT_BUDGET_S, hard_limit_s=0.05).reserve() as fitter:
        pid = fitter.describe()["pid"]
        with pytest.raises(Unavailable, match="did not finish within 0.05 s") as overran:
            fitter.suggest(BAYESIAN, big)
        assert type(overran.value) is Unavailable
        assert wait_gone(pid, ORPHAN_BOUND_S)
        small = request(history(3), count=1)  # initial design: instant
        assert fitter.suggest(BAYESIAN, small) == suggesters.build(BAYESIAN).suggest(small)
        assert fitter.describe()["pid"] != pid


@contextmanager
def run_script(code: str) -> Iterator[subprocess.Popen[str]]:
    """A Python process running `code`; SIGKILLed (if still running) and reaped at the end."""
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}) as process:
        try:
            yield process
        finally:
            process.kill()


def first_line(process: subprocess.Popen[str]) -> dict[str, str]:
    """`name=value` pairs of the first line the script prints."""
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"the script ended without printing (exit code {process.wait()})"
    return dict(item.split("=", 1) for item in line.split())


def test_a_killed_parent_leaves_no_helper_behind() -> None:
    with run_script("""
        import time
        from suggest_api.service.model_fits import ModelFits
        from tests.unit.test_model_fits import BAYESIAN, history, request

        with ModelFits(1, 5.0).reserve() as fitter:
            fitter.suggest(BAYESIAN, request(history(12)))
            print(f"helper={fitter.describe()['pid']}", flush=True)
        time.sleep(60)
    """) as script:
        helper = int(first_line(script)["helper"])
        assert not gone(helper)
        script.send_signal(signal.SIGKILL)
        script.wait()
    assert wait_gone(helper, ORPHAN_BOUND_S)


def test_a_forked_child_neither_uses_nor_stops_its_parents_helpers() -> None:
    """A gunicorn worker forked from a process that had helpers: they are its parent's, not its own."""
    with run_script("""
        import os, sys
        from suggest_api.service import model_fits
        from suggest_api.service.model_fits import ModelFits

        fits = ModelFits(1, 5.0)
        with fits.reserve() as fitter:
            before = fitter.describe()["pid"]
        child = os.fork()
        if child == 0:
            code = 0 if not model_fits._idle and not model_fits._live else 3
            sys.exit(code)  # a normal exit: atexit and multiprocessing's exit handler run
        _, status = os.waitpid(child, 0)
        with fits.reserve() as fitter:
            after = fitter.describe()["pid"]
        print(f"before={before} after={after} child={os.waitstatus_to_exitcode(status)}", flush=True)
    """) as script:
        pids = first_line(script)
    assert pids["child"] == "0"  # the forked child saw an empty pool
    assert pids["before"] == pids["after"]  # and its exit left the parent's helper running
