"""The pruner interface: a pure decision from a trial's reports and a view of the study's other trials.

A pruner never loads a study's whole history: it asks `Peers` narrow questions (the values other trials
reported at one step, at one rung), each one indexed query, so a report stays in milliseconds however
many trials and reports the study holds. Tests and recomputations answer the same questions from
memory (`pruners.memory.MemoryPeers`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from suggest_api.domain import Goal, Trial, TrialState


@dataclass(frozen=True, kw_only=True)
class PeerValue:
    """What another trial reported at the step (or rung) asked about."""

    number: int
    state: TrialState
    value: float
    #: Its best value up to that step (at a rung: the value it entered the rung with).
    best: float


@dataclass(frozen=True, kw_only=True)
class RungEntry:
    """The trial entered successive-halving rung `rung` with `value` (stored, so later trials compete with it)."""

    rung: int
    value: float


#: A reason is a sentence; a longer one (a deep nest of `patient` pruners) is cut to this, when answered
#: and when stored alike, so a retry gets exactly the first answer.
MAX_REASON = 500


@dataclass(frozen=True, kw_only=True)
class Decision:
    prune: bool
    #: Why, in words a user reads on the trial ("value 0.41 at step 3 is worse than the median 0.22 of 9 ...").
    reason: str
    #: Rungs this report entered, lowest first (successive halving and hyperband only).
    rungs: tuple[RungEntry, ...] = ()


class Peers(Protocol):
    """The study's other trials, as a pruner may ask about them (never the trial deciding)."""

    #: The study's seed: hyperband derives a trial's bracket from it and the trial's number.
    seed: int

    def completed(self) -> int:
        """How many trials of the study have completed."""
        ...

    def at_step(self, step: int, states: Collection[TrialState]) -> Sequence[PeerValue]:
        """Each other trial in `states` that reported at exactly `step`."""
        ...

    def at_rung(self, rung: int) -> Sequence[PeerValue]:
        """Each other trial (any state) that entered `rung`, with the value it entered it with."""
        ...

    def first_completed_last_step(self) -> int | None:
        """The last step reported by the first trial that completed with reports (None: none yet): what
        "auto" resources are derived from, the same for every later report."""
        ...


class Pruner(Protocol):
    def decide(self, trial: Trial, peers: Peers, goal: Goal) -> Decision:
        """`trial` is running and carries its reports, the one being decided last (with its `best`)."""
        ...


def better(a: float, b: float, goal: Goal) -> bool:
    """Whether `a` is strictly better than `b` for `goal`."""
    return a < b if goal is Goal.MINIMIZE else a > b


def number_text(value: float) -> str:
    """A value as a reason shows it: 4 significant digits, enough to compare, short enough to read."""
    return f"{value:.4g}"
