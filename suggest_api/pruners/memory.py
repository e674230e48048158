"""Peers answered from trials in memory: for unit tests and for recomputing stored decisions serially."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from suggest_api.domain import Goal, Trial, TrialState
from suggest_api.pruners.base import PeerValue


@dataclass
class MemoryPeers:
    """`trials` are the other trials, each with its reports; `rungs[number][rung]` the value trial `number`
    entered `rung` with (what the service stores as rung entries)."""

    trials: Sequence[Trial]
    goal: Goal = Goal.MINIMIZE
    seed: int = 0
    rungs: Mapping[int, Mapping[int, float]] = field(default_factory=dict)

    def completed(self) -> int:
        return sum(t.state is TrialState.COMPLETED for t in self.trials)

    def at_step(self, step: int, states: Collection[TrialState]) -> Sequence[PeerValue]:
        pick = min if self.goal is Goal.MINIMIZE else max
        found = []
        for trial in self.trials:
            if trial.state not in states:
                continue
            upto = [r.value for r in trial.intermediate if r.step <= step]
            at = [r.value for r in trial.intermediate if r.step == step]
            if at:
                found.append(PeerValue(number=trial.number, state=trial.state, value=at[0], best=pick(upto)))
        return found

    def at_rung(self, rung: int) -> Sequence[PeerValue]:
        states = {t.number: t.state for t in self.trials}
        return [PeerValue(number=number, state=states.get(number, TrialState.RUNNING), value=entered[rung],
                          best=entered[rung])
                for number, entered in self.rungs.items() if rung in entered]

    def first_completed_last_step(self) -> int | None:
        done = [t for t in self.trials if t.state is TrialState.COMPLETED and t.intermediate and t.finished_at]
        if not done:
            return None
        first = min(done, key=lambda t: (t.finished_at, t.number))
        return first.intermediate[-1].step
