"""Eight trainers report to one successive-halving study at once: every rung decision is a serial one.

The service makes rung decisions of a study take turns (a PostgreSQL advisory lock; SQLite serializes
writes anyway), so each entrant of a rung sees every entry made before it. The API does not show the
order of entries, but each rung decision says it: "value V ranks R of N trials there", N counting the
entrants at that moment. So the N values at a rung must be exactly 1..count (two decisions that saw the
same count would have missed each other's entry), and replaying the entries in that order with the ASHA
rule must give every stored rank and answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.e2e.support import all_trials, call, expect, in_threads, study_body
from tests.support.servers import StartServer

STUDY = "asha"
TRAINERS, TRIALS_EACH, STEPS = 8, 4, 9
FACTOR = 2
#: min_resource 1, reduction_factor 2: rung k at step 2^k; steps 0..8 reach rungs 0..3.
RUNG_STEPS = {1: 0, 2: 1, 4: 2, 8: 3}
STANDING = re.compile(r"rung (\d+) \(step (\d+)\): value (\S+) ranks (\d+) of (\d+) trials there; "
                      r"the top (\d+) continue(?:; next rung (\d+) at step (\d+))?")


def loss(params: dict[str, Any], step: int) -> float:
    """A falling training curve set by the params alone: its floor by lr and batch size, its speed by dropout."""
    lr, batch_size, dropout = float(params["lr"]), int(params["batch_size"]), float(params["dropout"])
    return round(abs(math.log10(lr) + 3.0) + batch_size / 1000 + 1.0 / (1.0 + step * (0.2 + 4 * dropout)), 9)


@dataclass
class Trainer:
    """What one trainer was answered: (trial, step) -> the report's answer, and how each trial ended."""

    answers: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    ended: dict[int, str] = field(default_factory=dict)


def train(base_url: str, index: int) -> Trainer:
    log = Trainer()
    study = f"{base_url}/v1/studies/{STUDY}"
    with requests.Session() as session:
        for _ in range(TRIALS_EACH):
            (trial,) = expect(call(session, "POST", f"{study}/ask",
                                   json_body={"count": 1, "client_id": f"trainer-{index}"}), 201)["trials"]
            number = trial["number"]
            state, value = "completed", math.nan
            for step in range(STEPS):
                value = loss(trial["params"], step)
                answer = expect(call(session, "POST", f"{study}/trials/{number}/report",
                                     json_body={"step": step, "value": value}), 200)
                log.answers[number, step] = answer
                if answer["prune"]:
                    state = "pruned"
                    break
            told = expect(call(session, "POST", f"{study}/tell",
                               json_body={"number": number, "state": state, "value": value}), 200)
            assert told["state"] == state
            log.ended[number] = state
    return log


@dataclass(frozen=True)
class Entry:
    """A rung decision as stored: the entrants it saw (N), who entered with what, its rank and answer."""

    seen: int
    number: int
    value: float
    rank: int
    keep: int
    prune: bool


def rung_entries(trials: list[dict[str, Any]]) -> dict[int, list[Entry]]:
    """Every rung decision, read from the reports' reasons; checks each report's own consistency on the way."""
    entries: dict[int, list[Entry]] = {rung: [] for rung in RUNG_STEPS.values()}
    for trial in trials:
        reports = trial["intermediate"]
        assert [r["step"] for r in reports] == list(range(len(reports))), trial
        assert [r["prune"] for r in reports] == [False] * (len(reports) - 1) + [trial["state"] == "pruned"], trial
        assert trial["state"] == "pruned" or len(reports) == STEPS, trial
        for report in reports:
            step, reason = report["step"], report["reason"]
            if step not in RUNG_STEPS:
                upcoming = next(s for s in sorted(RUNG_STEPS) if s > step)
                assert (report["prune"], reason) == (False, f"next rung {RUNG_STEPS[upcoming]} at step {upcoming}")
                continue
            standing = STANDING.fullmatch(reason)
            assert standing is not None, reason
            rung = RUNG_STEPS[step]
            assert (int(standing[1]), int(standing[2]), standing[3]) == (rung, step, f"{report['value']:.4g}"), reason
            assert (standing[7] is None) is report["prune"], reason
            if standing[7] is not None:
                assert (int(standing[7]), int(standing[8])) == (rung + 1, step * FACTOR), reason
            entries[rung].append(Entry(seen=int(standing[5]), number=trial["number"], value=report["value"],
                                       rank=int(standing[4]), keep=int(standing[6]), prune=report["prune"]))
    return entries


def replay(rung: int, entries: list[Entry]) -> None:
    """The entries of a rung, in the order they were decided, give exactly the stored ranks and answers."""
    in_order = sorted(entries, key=lambda entry: entry.seen)
    assert [entry.seen for entry in in_order] == list(range(1, len(entries) + 1)), (
        f"rung {rung}: decisions saw entrant counts {sorted(e.seen for e in entries)} (a lost or parallel entry)")
    before: list[float] = []
    for entry in in_order:
        rank = 1 + sum(value < entry.value for value in before)
        keep = max(entry.seen // FACTOR, 1)
        assert (entry.rank, entry.keep, entry.prune) == (rank, keep, rank > keep), (rung, entry, before)
        before.append(entry.value)


@pytest.mark.slow
def test_concurrent_rung_decisions_replay_serially(serve: StartServer, database_url: str,
                                                   http: requests.Session) -> None:
    server = serve(database_url, workers=2)
    body = study_body(STUDY) | {"pruner": {"name": "successive_halving",
                                           "options": {"min_resource": 1, "reduction_factor": FACTOR}}}
    created = expect(call(http, "POST", f"{server.base_url}/v1/studies", json_body=body), 201)
    assert created["pruner"]["options"]["reduction_factor"] == FACTOR

    logs = in_threads(TRAINERS, lambda index: train(server.base_url, index))

    trials = all_trials(http, server.base_url, STUDY, page_size=10)
    total = TRAINERS * TRIALS_EACH
    assert [t["number"] for t in trials] == list(range(total))
    ended = {number: state for log in logs for number, state in log.ended.items()}
    assert {t["number"]: t["state"] for t in trials} == ended
    answered = {key: answer for log in logs for key, answer in log.answers.items()}
    stored = {(t["number"], r["step"]): {"prune": r["prune"], "reason": r["reason"]}
              for t in trials for r in t["intermediate"]}
    assert stored == answered
    for trial in trials:
        assert all(r["value"] == loss(trial["params"], r["step"]) for r in trial["intermediate"]), trial

    entries = rung_entries(trials)
    for rung, at_rung in entries.items():
        replay(rung, at_rung)
    # Who entered a rung continued at the one below it.
    for rung in (1, 2, 3):
        below = {e.number for e in entries[rung - 1] if not e.prune}
        assert {e.number for e in entries[rung]} == below
    assert len(entries[0]) == total
    states = [t["state"] for t in trials]
    assert states.count("pruned") > 0 and states.count("completed") > 0, states
    assert states.count("pruned") + states.count("completed") == total
    counts = expect(call(http, "GET", f"{server.base_url}/v1/studies/{STUDY}"), 200)["trial_counts"]
    assert (counts["pruned"], counts["completed"], counts["running"]) == (
        states.count("pruned"), states.count("completed"), 0)
