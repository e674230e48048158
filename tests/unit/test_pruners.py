"""Every pruner against hand-computed cases, its option validation, and properties over random curves.

Pruners are built the way the service builds them (`pruners.validate` then `pruners.build`, so the
defaults are the stored ones) and decide against `MemoryPeers`. Successive halving and hyperband run
through `Serial`, a study in memory that stores each answer and each rung entry as the service does,
so a later trial competes with exactly the values earlier ones entered their rungs with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest_api.domain import Goal, Report, Trial, TrialState
from suggest_api.errors import InvalidInput
from suggest_api.pruners.base import Decision, Pruner, RungEntry, better
from suggest_api.pruners.hyperband import HyperbandPruner, bracket_budgets, bracket_of
from suggest_api.pruners.memory import MemoryPeers
from suggest_api.pruners.percentile import percentile_label
from suggest_api.pruners.registry import pruners

MIN, MAX = Goal.MINIMIZE, Goal.MAXIMIZE
RUNNING, COMPLETED, PRUNED = TrialState.RUNNING, TrialState.COMPLETED, TrialState.PRUNED
T0 = datetime(2026, 1, 1)


# --- helpers -----------------------------------------------------------------------------------------

def build(name: str, **options: Any) -> Pruner:
    return pruners.build(pruners.validate(name, options))


def reports(values: Sequence[float] | Mapping[int, float], goal: Goal = MIN) -> tuple[Report, ...]:
    """Reports at steps 0, 1, … (a sequence) or at the given steps (a mapping), each with its best so far."""
    steps = values.items() if isinstance(values, Mapping) else enumerate(values)
    pick = min if goal is MIN else max
    made: list[Report] = []
    for step, value in steps:
        best = value if not made else pick(value, made[-1].best if made[-1].best is not None else value)
        made.append(Report(step=step, value=value, best=best))
    return tuple(made)


def trial(number: int, values: Sequence[float] | Mapping[int, float], state: TrialState = RUNNING,
          goal: Goal = MIN, finished: int | None = None) -> Trial:
    done = state is not RUNNING
    return Trial(number=number, state=state, params={}, created_at=T0, intermediate=reports(values, goal),
                 finished_at=T0 + timedelta(seconds=finished if finished is not None else number) if done else None)


def decide(pruner: Pruner, mine: Trial, others: Sequence[Trial], goal: Goal = MIN) -> Decision:
    return pruner.decide(mine, MemoryPeers(others, goal=goal), goal)


def completed_at(step_values: Sequence[float], step: int = 2, goal: Goal = MIN) -> list[Trial]:
    """One completed trial per value, each having reported only that value, at `step`."""
    return [trial(100 + i, {step: v}, COMPLETED, goal) for i, v in enumerate(step_values)]


@dataclass
class Serial:
    """A study decided one report at a time, in memory: reports, answers and rung entries stored as the
    service stores them (`report.rung` the highest rung filled, entries in `rungs`)."""

    pruner: Pruner
    goal: Goal = MIN
    seed: int = 0
    trials: dict[int, Trial] = field(default_factory=dict)
    rungs: dict[int, dict[int, float]] = field(default_factory=dict)
    clock: int = 0

    def report(self, number: int, step: int, value: float) -> Decision:
        old = self.trials.get(number) or Trial(number=number, state=RUNNING, params={}, created_at=T0)
        known = old.intermediate
        pick = min if self.goal is MIN else max
        best = value if not known or known[-1].best is None else pick(value, known[-1].best)
        new = Report(step=step, value=value, best=best)
        peers = MemoryPeers([t for n, t in self.trials.items() if n != number], goal=self.goal, seed=self.seed,
                            rungs={n: r for n, r in self.rungs.items() if n != number})
        decision = self.pruner.decide(replace(old, intermediate=(*known, new)), peers, self.goal)
        stored = replace(new, prune=decision.prune, reason=decision.reason,
                         rung=decision.rungs[-1].rung if decision.rungs else None)
        self.trials[number] = replace(old, intermediate=(*known, stored))
        for entry in decision.rungs:
            self.rungs.setdefault(number, {})[entry.rung] = entry.value
        return decision

    def finish(self, number: int, state: TrialState = COMPLETED) -> None:
        self.clock += 1
        self.trials[number] = replace(self.trials.setdefault(number, Trial(
            number=number, state=RUNNING, params={}, created_at=T0)), state=state,
            finished_at=T0 + timedelta(seconds=self.clock))


# --- median -------------------------------------------------------------------------------------------

def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    median = build("median", min_trials=4, compare="last")
    peers = completed_at([4.0, 1.0, 3.0, 2.0])
    worse = decide(median, trial(0, {0: 9.0, 2: 2.6}), peers)
    assert worse.prune
    assert worse.reason == "value 2.6 at step 2 is worse than the median 2.5 of 4 completed trials"
    assert not decide(median, trial(0, {2: 2.4}), peers).prune  # below 2.5 (a bar of 3 would keep it too)
    assert decide(median, trial(0, {2: 2.6}), peers).prune  # above 2.5 (a bar of 3 would keep it)
    assert worse.rungs == ()


def test_a_value_equal_to_the_median_is_not_pruned() -> None:
    median = build("median", min_trials=3, compare="last")
    tie = decide(median, trial(0, {2: 2.0}), completed_at([1.0, 2.0, 3.0]))
    assert not tie.prune
    assert tie.reason == "value 2 at step 2 is not worse than the median 2 of 3 completed trials"


def test_maximize_prunes_below_the_median() -> None:
    median = build("median", min_trials=4, compare="last")
    peers = completed_at([4.0, 1.0, 3.0, 2.0], goal=MAX)
    low = decide(median, trial(0, {2: 2.4}, goal=MAX), peers, MAX)
    assert low.prune and "2.4" in low.reason and "median 2.5 of 4" in low.reason
    assert not decide(median, trial(0, {2: 2.6}, goal=MAX), peers, MAX).prune
    assert not decide(median, trial(0, {2: 2.5}, goal=MAX), peers, MAX).prune


def test_only_completed_trials_count_towards_the_median_and_min_trials() -> None:
    median = build("median", min_trials=4, compare="last")
    completed = completed_at([1.0, 2.0, 3.0])
    others = [*completed, trial(7, {2: 0.1}), trial(8, {2: 0.2}, PRUNED), trial(9, {2: 0.3}, TrialState.FAILED)]
    waiting = decide(median, trial(0, {2: 50.0}), others)
    assert not waiting.prune
    assert waiting.reason == "startup: 3 of the 4 completed trials needed before pruning"
    four = [*others, trial(10, {0: 1.0}, COMPLETED)]  # completed, though it never reported at step 2
    decided = decide(median, trial(0, {2: 2.1}), four)
    assert decided.prune and "median 2 of 3 completed trials" in decided.reason  # 0.1..0.3 ignored


def test_default_min_trials_is_five() -> None:
    median = build("median", compare="last")
    assert not decide(median, trial(0, {2: 9.0}), completed_at([1.0, 2.0, 3.0, 4.0])).prune
    assert decide(median, trial(0, {2: 9.0}), completed_at([1.0, 2.0, 3.0, 4.0, 5.0])).prune


def test_warmup_steps_are_never_pruned() -> None:
    median = build("median", min_trials=1, warmup_steps=3, compare="last")
    peers = [trial(1, [1.0, 1.0, 1.0, 1.0, 1.0], COMPLETED)]
    young = decide(median, trial(0, [9.0, 9.0, 9.0]), peers)
    assert not young.prune and young.reason == "warmup: step 2 is below warmup_steps 3"
    assert decide(median, trial(0, [9.0, 9.0, 9.0, 9.0]), peers).prune


@pytest.mark.parametrize(("steps", "decides"), [
    ([0], False),  # warmup
    ([0, 1], True),  # the first report after the warmup
    ([0, 1, 2], False), ([0, 1, 2, 3], False),  # the same window (1..3) as step 1
    ([0, 1, 2, 3, 4], True),  # window 4..6
    ([0, 1, 4, 6], False),
    ([0, 1, 4, 6, 8], True),  # window 7..9, entered at 8: its first report there
    ([0, 5], True), ([3], True),  # a first report always is one
])
def test_interval_steps_decide_at_the_first_report_of_each_window(steps: list[int], decides: bool) -> None:
    median = build("median", min_trials=1, warmup_steps=1, interval_steps=3, compare="last")
    peers = [trial(1, [1.0] * 10, COMPLETED)]
    decision = decide(median, trial(0, dict.fromkeys(steps, 5.0)), peers)
    assert decision.prune is decides, decision.reason
    if not decides and steps[-1] >= 1:
        assert decision.reason.startswith(f"interval: step {steps[-1]} is in the same window of 3 steps as step")


def test_min_step_trials_counts_completed_trials_at_that_very_step() -> None:
    median = build("median", min_trials=1, min_step_trials=3, compare="last")
    peers = [trial(1, [1.0] * 6, COMPLETED), trial(2, [1.0] * 6, COMPLETED), trial(3, [1.0] * 3, COMPLETED),
             trial(4, [1.0] * 6)]
    few = decide(median, trial(0, [9.0] * 6), peers)
    assert not few.prune and few.reason == "2 completed trials reported at step 5; 3 needed to decide"
    assert decide(median, trial(0, [9.0] * 3), peers).prune  # three completed trials reported at step 2


def test_compare_best_uses_best_values_so_far_and_last_the_values_at_the_step() -> None:
    peers = [trial(1, [1.0, 3.0], COMPLETED), trial(2, [2.0, 4.0], COMPLETED)]
    mine = trial(0, [2.5, 3.2])
    by_best = decide(build("median", min_trials=2), mine, peers)
    assert by_best.prune
    assert by_best.reason == "best value 2.5 by step 1 is worse than the median 1.5 of 2 completed trials"
    by_last = decide(build("median", min_trials=2, compare="last"), mine, peers)
    assert not by_last.prune
    assert by_last.reason == "value 3.2 at step 1 is not worse than the median 3.5 of 2 completed trials"


def test_compare_best_follows_the_goal() -> None:
    peers = [trial(1, [3.0, 1.0], COMPLETED, MAX), trial(2, [4.0, 2.0], COMPLETED, MAX)]
    decision = decide(build("median", min_trials=2), trial(0, [3.4, 0.1], goal=MAX), peers, MAX)
    # Best so far: peers 3 and 4 (median 3.5), this trial 3.4; by last value (median 1.5) it would be kept.
    assert decision.prune and "best value 3.4 by step 1" in decision.reason and "median 3.5" in decision.reason


# --- percentile --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("percentile", "goal", "value", "prune", "bar"), [
    (25, MIN, 3.0, True, "2"), (75, MIN, 3.0, False, "4"), (75, MIN, 4.5, True, "4"),
    (25, MAX, 3.0, True, "4"), (75, MAX, 3.0, False, "2"), (75, MAX, 1.5, True, "2"),
    (25, MIN, 2.0, False, "2"),  # on the bar
])
def test_percentile_keeps_the_best_share(percentile: float, goal: Goal, value: float, prune: bool, bar: str) -> None:
    pruner = build("percentile", percentile=percentile, min_trials=5, compare="last")
    decision = decide(pruner, trial(0, {2: value}, goal=goal), completed_at([5.0, 1.0, 4.0, 2.0, 3.0], goal=goal), goal)
    assert decision.prune is prune
    assert f"the {percentile}th percentile {bar} of 5 completed trials" in decision.reason


def test_percentile_interpolates_linearly() -> None:
    pruner = build("percentile", percentile=25, min_trials=4, compare="last")
    peers = completed_at([1.0, 2.0, 3.0, 4.0])  # the 25th percentile is 1.75
    assert not decide(pruner, trial(0, {2: 1.75}), peers).prune
    above = decide(pruner, trial(0, {2: 1.8}), peers)
    assert above.prune and "25th percentile 1.75 of 4" in above.reason


# --- successive halving (ASHA) ----------------------------------------------------------------------

def test_asha_keeps_the_top_third_of_each_rung_and_at_least_one() -> None:
    study = Serial(build("successive_halving", min_resource=1, reduction_factor=3))
    answers = [study.report(n, 1, v) for n, v in enumerate([0.5, 0.4, 0.6, 0.3, 0.45, 0.35, 0.38])]
    assert [a.prune for a in answers] == [False, False, True, False, True, False, True]
    assert answers[0].reason == ("rung 0 (step 1): value 0.5 ranks 1 of 1 trials there; the top 1 continue; "
                                 "next rung 1 at step 3")
    assert answers[2].reason == "rung 0 (step 1): value 0.6 ranks 3 of 3 trials there; the top 1 continue"
    assert answers[4].reason == "rung 0 (step 1): value 0.45 ranks 3 of 5 trials there; the top 1 continue"
    assert answers[5].reason.startswith("rung 0 (step 1): value 0.35 ranks 2 of 6 trials there; the top 2 continue")
    assert answers[6].reason == "rung 0 (step 1): value 0.38 ranks 3 of 7 trials there; the top 2 continue"
    assert [a.rungs for a in answers[:2]] == [(RungEntry(rung=0, value=0.5),), (RungEntry(rung=0, value=0.4),)]
    assert answers[2].rungs == (RungEntry(rung=0, value=0.6),)  # a pruned entry is stored: later ones compete


def test_asha_rungs_are_min_resource_times_powers_of_the_factor() -> None:
    study = Serial(build("successive_halving", min_resource=2, reduction_factor=3))
    assert study.report(0, 1, 1.0).reason == "next rung 0 at step 2"
    entered = study.report(0, 2, 1.0)
    assert entered.rungs == (RungEntry(rung=0, value=1.0),) and entered.reason.endswith("next rung 1 at step 6")
    assert study.report(0, 5, 1.0) == Decision(prune=False, reason="next rung 1 at step 6")
    assert study.report(0, 6, 1.0).reason.endswith("next rung 2 at step 18")


def test_asha_ties_continue() -> None:
    study = Serial(build("successive_halving", min_resource=1, reduction_factor=2))
    assert not study.report(0, 1, 0.5).prune
    tie = study.report(1, 1, 0.5)
    assert not tie.prune and "ranks 1 of 2 trials there; the top 1 continue" in tie.reason
    assert study.report(2, 1, 0.50001).prune


def test_asha_maximize_ranks_higher_first() -> None:
    study = Serial(build("successive_halving", min_resource=1, reduction_factor=2), goal=MAX)
    assert not study.report(0, 1, 0.5).prune
    assert study.report(1, 1, 0.4).prune
    higher = study.report(2, 1, 0.6)
    assert not higher.prune and "value 0.6 ranks 1 of 3" in higher.reason


def test_a_report_jumping_past_several_rungs_enters_each_in_turn() -> None:
    study = Serial(build("successive_halving", min_resource=1, reduction_factor=2))
    for step in (1, 2, 4):
        study.report(0, step, 0.5)
    assert study.rungs[0] == {0: 0.5, 1: 0.5, 2: 0.5}
    assert study.report(1, 0, 0.9) == Decision(prune=False, reason="next rung 0 at step 1")
    jump = study.report(1, 5, 0.4)
    assert not jump.prune
    assert jump.rungs == (RungEntry(rung=0, value=0.4), RungEntry(rung=1, value=0.4), RungEntry(rung=2, value=0.4))
    assert jump.reason == ("rung 2 (step 4): value 0.4 ranks 1 of 2 trials there; the top 1 continue; "
                           "next rung 3 at step 8")
    # The next report of that trial starts at the rung after the highest one it filled.
    assert study.report(1, 8, 0.3).rungs == (RungEntry(rung=3, value=0.3),)
    # A jump stops at the first rung where the trial does not make the cut: rung 0 has 0.5 and 0.4.
    stopped = study.report(2, 4, 0.45)
    assert stopped.prune and stopped.rungs == (RungEntry(rung=0, value=0.45),)
    assert stopped.reason == "rung 0 (step 1): value 0.45 ranks 2 of 3 trials there; the top 1 continue"


def test_bootstrap_count_stops_trials_until_more_have_entered_the_rung() -> None:
    study = Serial(build("successive_halving", min_resource=1, reduction_factor=2, bootstrap_count=2))
    first = study.report(0, 1, 0.1)
    assert first.prune and first.rungs == (RungEntry(rung=0, value=0.1),)
    assert first.reason == ("rung 0 (step 1): 1 trials entered it, bootstrap_count 2 must be passed before "
                            "any continues")
    second = study.report(1, 1, 0.05)  # the best so far, yet only the second entrant
    assert second.prune and "2 trials entered it, bootstrap_count 2" in second.reason
    third = study.report(2, 1, 0.01)
    assert not third.prune and "ranks 1 of 3" in third.reason
    assert study.report(3, 1, 0.3).prune  # past the bootstrap, by rank: 4 of 4, the top 2 continue


def test_min_early_stopping_rate_skips_the_first_rungs() -> None:
    study = Serial(build("successive_halving", min_resource=1, reduction_factor=3, min_early_stopping_rate=1))
    assert study.report(0, 1, 0.5) == Decision(prune=False, reason="next rung 1 at step 3")
    first = study.report(0, 3, 0.5)
    assert first.rungs == (RungEntry(rung=1, value=0.5),) and first.reason.startswith("rung 1 (step 3)")
    assert study.report(1, 3, 0.6).prune


def test_auto_min_resource_comes_from_the_first_completed_trial_and_waits_for_it() -> None:
    study = Serial(build("successive_halving", reduction_factor=3))
    waiting = study.report(0, 50, 9.0)
    assert not waiting.prune and waiting.rungs == () and '"auto"' in waiting.reason
    study.finish(5)  # completed without reports: it sets nothing
    assert study.report(1, 3, 1.0).rungs == ()
    study.report(0, 199, 1.0)
    study.finish(0)  # last step 199: min_resource max(200 // 100, 1) = 2
    study.report(2, 999, 1.0)
    study.finish(2)  # completes later with more steps: changes nothing
    assert study.report(3, 1, 0.5) == Decision(prune=False, reason="next rung 0 at step 2")
    entered = study.report(3, 2, 0.5)
    assert entered.rungs == (RungEntry(rung=0, value=0.5),) and entered.reason.endswith("next rung 1 at step 6")
    assert study.report(4, 2, 0.6).prune


def test_auto_min_resource_is_at_least_one() -> None:
    study = Serial(build("successive_halving", reduction_factor=2))
    study.report(0, 50, 1.0)
    study.finish(0)
    assert study.report(1, 1, 0.5).rungs == (RungEntry(rung=0, value=0.5),)


# --- hyperband ---------------------------------------------------------------------------------------

def test_bracket_budgets_follow_hyperband() -> None:
    assert bracket_budgets(4, 3) == [27, 12, 6, 4]
    assert bracket_budgets(3, 2) == [4, 3, 3]
    assert bracket_budgets(1, 3) == [1]


@pytest.mark.parametrize(("low", "high", "factor", "brackets"), [
    (1, 27, 3, 4), (1, 26, 3, 3), (1, 81, 3, 5), (1, 1, 3, 1), (3, 2, 3, 1), (2, 16, 2, 4)])
def test_the_number_of_brackets(low: int, high: int, factor: int, brackets: int) -> None:
    assert HyperbandPruner(min_resource=low, max_resource=high, reduction_factor=factor).brackets(high) == brackets


def test_bracket_of_is_deterministic_depends_on_the_seed_and_follows_the_budgets() -> None:
    budgets = bracket_budgets(4, 3)
    seed0 = [bracket_of(n, 0, budgets) for n in range(2000)]
    assert seed0 == [bracket_of(n, 0, budgets) for n in range(2000)]
    assert set(seed0) == {0, 1, 2, 3}
    assert seed0[:200] != [bracket_of(n, 1, budgets) for n in range(200)]
    # 27 : 12 : 6 : 4 of 49 (expected 1102, 490, 245, 163 of 2000)
    counts = [seed0.count(b) for b in range(4)]
    assert counts[0] > counts[1] > counts[2] > 100 and counts[3] > 80


def brackets_for(seed: int, budgets: list[int], wanted: dict[int, int]) -> dict[int, list[int]]:
    """The first trial numbers of each bracket in `wanted` (bracket: how many)."""
    found: dict[int, list[int]] = {b: [] for b in wanted}
    for number in range(10_000):
        b = bracket_of(number, seed, budgets)
        if b in found and len(found[b]) < wanted[b]:
            found[b].append(number)
    assert all(len(found[b]) == wanted[b] for b in wanted)
    return found


def test_hyperband_trials_compete_only_within_their_bracket() -> None:
    # max 9, factor 3: brackets 0, 1, 2 with first rungs at steps 1, 3, 9 (budgets 9, 5, 3)
    study = Serial(build("hyperband", min_resource=1, max_resource=9, reduction_factor=3), seed=11)
    found = brackets_for(11, bracket_budgets(3, 3), {0: 2, 1: 1})
    (x, y), (z,) = found[0], found[1]
    assert study.report(x, 1, 0.1).reason.startswith("bracket 0 of 3, rung 0 (step 1): value 0.1 ranks 1 of 1")
    assert study.report(x, 3, 0.1).rungs == (RungEntry(rung=1, value=0.1),)
    assert study.report(z, 1, 0.5) == Decision(prune=False, reason="bracket 1 of 3, next rung 1 at step 3")
    alone = study.report(z, 3, 0.5)  # x's 0.1 at rung 1 is another bracket's
    assert not alone.prune and alone.rungs == (RungEntry(rung=1, value=0.5),)
    assert "bracket 1 of 3, rung 1 (step 3): value 0.5 ranks 1 of 1 trials there" in alone.reason
    beaten = study.report(y, 1, 0.2)
    assert beaten.prune
    assert beaten.reason == "bracket 0 of 3, rung 0 (step 1): value 0.2 ranks 2 of 2 trials there; the top 1 continue"


def test_hyperband_auto_max_resource_waits_for_a_completed_trial() -> None:
    study = Serial(build("hyperband", min_resource=1, reduction_factor=3), seed=3)
    waiting = study.report(0, 5, 1.0)
    assert not waiting.prune and 'max_resource "auto"' in waiting.reason and waiting.rungs == ()
    study.report(0, 8, 1.0)
    study.finish(0)  # max_resource 9: three brackets
    budgets = bracket_budgets(3, 3)
    (first,) = brackets_for(3, budgets, {0: 1})[0]
    number = first if first != 0 else brackets_for(3, budgets, {0: 2})[0][1]
    decided = study.report(number, 1, 0.5)
    assert decided.reason.startswith("bracket 0 of 3, rung 0 (step 1)") and decided.rungs


# --- threshold ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "value", "prune", "says"), [
    ({"lower": 0.1}, 0.05, True, "value 0.05 at step 0 is below the lower threshold 0.1"),
    ({"lower": 0.1}, 0.1, False, "value 0.1 at step 0 is within the thresholds"),
    ({"lower": 0.1}, 1e9, False, "within the thresholds"),
    ({"upper": 2.5}, 2.51, True, "value 2.51 at step 0 is above the upper threshold 2.5"),
    ({"upper": 2.5}, 2.5, False, "within"),
    ({"upper": 2.5}, -1e9, False, "within"),
    ({"lower": 0.0, "upper": 1.0}, 0.5, False, "value 0.5 at step 0 is within the thresholds"),
    ({"lower": 0.0, "upper": 1.0}, -0.25, True, "below the lower threshold 0"),
    ({"lower": 0.0, "upper": 1.0}, 1.25, True, "above the upper threshold 1"),
    ({"lower": 1.0, "upper": 1.0}, 1.0, False, "within"),
])
@pytest.mark.parametrize("goal", [MIN, MAX])
def test_threshold(options: dict[str, float], value: float, prune: bool, says: str, goal: Goal) -> None:
    decision = decide(build("threshold", **options), trial(0, [value], goal=goal), [], goal)
    assert decision.prune is prune and says in decision.reason


def test_threshold_warmup_and_interval() -> None:
    pruner = build("threshold", upper=1.0, warmup_steps=2, interval_steps=2)
    assert decide(pruner, trial(0, [5.0]), []).reason == "warmup: step 0 is below warmup_steps 2"
    assert not decide(pruner, trial(0, [5.0, 5.0]), []).prune
    assert decide(pruner, trial(0, [0.5, 0.5, 5.0]), []).prune
    assert not decide(pruner, trial(0, [0.5, 0.5, 0.5, 5.0]), []).prune  # step 3: window 2..3 decided at 2
    assert decide(pruner, trial(0, [0.5, 0.5, 0.5, 0.5, 5.0]), []).prune


# --- patient -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "prune", "says"), [
    ([1.0, 2.0, 3.0], False, "patience: 3 reports, more than 3 needed to judge improvement"),
    ([1.0, 0.9, 0.95, 0.92], False, "improved on 1 within the last 3 reports"),
    ([1.0, 0.9, 0.95, 0.92, 0.91], True, "no improvement on 0.9 by more than 0 in the last 3 reports"),
    ([1.0, 0.9, 0.95, 0.92, 0.9], True, "no improvement on 0.9"),  # equal is no improvement
    ([1.0, 0.9, 0.95, 0.92, 0.89], False, "improved on 0.9 within the last 3 reports"),
])
def test_patience_window_minimize(values: list[float], prune: bool, says: str) -> None:
    decision = decide(build("patient", patience=2), trial(0, values), [])
    assert decision.prune is prune and says in decision.reason


def test_patience_window_maximize() -> None:
    patient = build("patient", patience=2)
    assert decide(patient, trial(0, [0.1, 0.2, 0.15, 0.18, 0.19], goal=MAX), [], MAX).prune
    assert not decide(patient, trial(0, [0.1, 0.2, 0.15, 0.18, 0.25], goal=MAX), [], MAX).prune


def test_min_delta_is_the_improvement_that_counts() -> None:
    curve = [1.0, 0.99, 0.98, 0.97]  # 0.03 better than before the window of 3
    stalled = decide(build("patient", patience=2, min_delta=0.05), trial(0, curve), [])
    assert stalled.prune and stalled.reason == "no improvement on 1 by more than 0.05 in the last 3 reports"
    assert not decide(build("patient", patience=2, min_delta=0.02), trial(0, curve), []).prune


def test_a_wrapped_pruner_decides_only_after_patience_ran_out() -> None:
    patient = build("patient", patience=1, pruner={"name": "median", "options": {"min_trials": 1, "compare": "last"}})
    peers = [trial(1, [0.5] * 6, COMPLETED)]
    improving = decide(patient, trial(0, [3.0, 2.0, 1.0]), peers)  # worse than the median 0.5, yet improving
    assert not improving.prune and improving.reason == "improved on 3 within the last 2 reports"
    stalled = decide(patient, trial(0, [3.0, 2.0, 1.0, 1.0, 1.0]), peers)
    assert stalled.prune
    assert stalled.reason == ("no improvement on 1 by more than 0 in the last 2 reports; value 1 at step 4 is worse "
                              "than the median 0.5 of 1 completed trials")
    good = decide(patient, trial(0, [3.0, 0.4, 0.4, 0.4]), peers)
    assert not good.prune and good.reason.endswith("value 0.4 at step 3 is not worse than the median 0.5 of 1 "
                                                   "completed trials")


def test_a_wrapped_successive_halving_passes_its_rung_entries_on() -> None:
    study = Serial(build("patient", patience=0, pruner={
        "name": "successive_halving", "options": {"min_resource": 1, "reduction_factor": 2}}))
    study.report(0, 0, 1.0)
    first = study.report(0, 1, 1.0)  # stalled: successive halving decides, and enters rung 0
    assert not first.prune and first.rungs == (RungEntry(rung=0, value=1.0),)
    study.report(1, 0, 2.0)
    second = study.report(1, 1, 2.0)
    assert second.prune and second.rungs == (RungEntry(rung=0, value=2.0),) and "ranks 2 of 2" in second.reason


# --- option validation -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "options", "field"), [
    ("median", {"min_trials": "5"}, "min_trials"),
    ("median", {"min_trials": True}, "min_trials"),
    ("median", {"min_trials": 2.5}, "min_trials"),
    ("median", {"min_trials": -1}, "min_trials"),
    ("median", {"warmup_steps": -1}, "warmup_steps"),
    ("median", {"interval_steps": 0}, "interval_steps"),
    ("median", {"min_step_trials": 0}, "min_step_trials"),
    ("median", {"compare": "worst"}, "compare"),
    ("median", {"compare": 1}, "compare"),
    ("median", {"percentile": 50}, "percentile"),  # not an option of median
    ("percentile", {}, "percentile"),
    ("percentile", {"percentile": 101}, "percentile"),
    ("percentile", {"percentile": -0.5}, "percentile"),
    ("percentile", {"percentile": float("nan")}, "percentile"),
    ("percentile", {"percentile": "50"}, "percentile"),
    ("percentile", {"percentile": 50, "min_trials": None}, "min_trials"),
    ("successive_halving", {"min_resource": 0}, "min_resource"),
    ("successive_halving", {"min_resource": 1.5}, "min_resource"),
    ("successive_halving", {"min_resource": True}, "min_resource"),
    ("successive_halving", {"min_resource": "automatic"}, "min_resource"),
    ("successive_halving", {"reduction_factor": 1}, "reduction_factor"),
    ("successive_halving", {"reduction_factor": 1001}, "reduction_factor"),
    ("successive_halving", {"min_early_stopping_rate": -1}, "min_early_stopping_rate"),
    ("successive_halving", {"bootstrap_count": -1}, "bootstrap_count"),
    ("hyperband", {"min_resource": 0}, "min_resource"),
    ("hyperband", {"min_resource": "auto"}, "min_resource"),
    ("hyperband", {"max_resource": 0}, "max_resource"),
    ("hyperband", {"min_resource": 5, "max_resource": 3}, "max_resource"),
    ("hyperband", {"reduction_factor": 1}, "reduction_factor"),
    ("threshold", {}, "lower"),
    ("threshold", {"lower": None, "upper": None}, "lower"),
    ("threshold", {"lower": 2.0, "upper": 1.0}, "lower"),
    ("threshold", {"upper": "1"}, "upper"),
    ("threshold", {"lower": float("inf")}, "lower"),
    ("threshold", {"upper": 1.0, "warmup_steps": -1}, "warmup_steps"),
    ("patient", {}, "patience"),
    ("patient", {"patience": -1}, "patience"),
    ("patient", {"patience": 1.5}, "patience"),
    ("patient", {"patience": 1, "min_delta": -0.1}, "min_delta"),
    ("patient", {"patience": 1, "pruner": "median"}, "pruner"),
    ("patient", {"patience": 1, "pruner": {"options": {}}}, "pruner"),
])
def test_bad_options_name_the_field(name: str, options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        pruners.validate(name, options)
    assert raised.value.status == 422
    assert field in raised.value.errors["pruner.options"], raised.value.errors


def test_a_bad_nested_pruner_is_named_inside_the_patient() -> None:
    with pytest.raises(InvalidInput) as raised:
        pruners.validate("patient", {"patience": 1, "pruner": {"name": "median", "options": {"min_trials": -1}}})
    assert "min_trials" in raised.value.errors["pruner.options"]["pruner"]["pruner.options"]
    with pytest.raises(InvalidInput) as unknown:
        pruners.validate("patient", {"patience": 1, "pruner": {"name": "nope"}})
    assert "pruner.name" in unknown.value.errors["pruner.options"]["pruner"]
    with pytest.raises(InvalidInput) as deeper:
        pruners.validate("patient", {"patience": 1, "pruner": {"name": "threshold", "options": {}}})
    assert "lower" in deeper.value.errors["pruner.options"]["pruner"]["pruner.options"]


def test_an_unknown_pruner_names_the_choices() -> None:
    with pytest.raises(InvalidInput) as raised:
        pruners.validate("early_bird", {})
    assert "median" in " ".join(raised.value.errors["pruner.name"]) and "early_bird" in raised.value.detail


def test_options_are_stored_normalized_with_defaults() -> None:
    assert dict(pruners.validate("median", {}).options) == {
        "min_trials": 5, "warmup_steps": 0, "interval_steps": 1, "min_step_trials": 1, "compare": "best"}
    assert dict(pruners.validate("successive_halving", {"min_resource": 2.0}).options) == {
        "min_resource": 2, "reduction_factor": 3, "min_early_stopping_rate": 0, "bootstrap_count": 0}
    assert dict(pruners.validate("hyperband", {}).options) == {
        "min_resource": 1, "max_resource": "auto", "reduction_factor": 3}
    assert dict(pruners.validate("threshold", {"upper": 1}).options) == {
        "lower": None, "upper": 1.0, "warmup_steps": 0, "interval_steps": 1}
    nested = pruners.validate("patient", {"patience": 2, "pruner": {"name": "percentile",
                                                                    "options": {"percentile": 25}}})
    assert nested.options["pruner"] == {"name": "percentile", "options": {
        "percentile": 25.0, "min_trials": 5, "warmup_steps": 0, "interval_steps": 1, "min_step_trials": 1,
        "compare": "best"}}
    assert nested.options["min_delta"] == 0.0


# --- properties --------------------------------------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def curves(draw: st.DrawFn, last_step: int = 6) -> dict[int, float]:
    """Increasing steps in 0..last_step (often shared by several trials), each with a value."""
    steps = sorted(draw(st.sets(st.integers(0, last_step), min_size=1, max_size=8)))
    return {step: draw(finite) for step in steps}


@st.composite
def other_trials(draw: st.DrawFn, goal: Goal) -> list[Trial]:
    count = draw(st.integers(0, 10))
    states = st.sampled_from([COMPLETED, COMPLETED, RUNNING, PRUNED, TrialState.FAILED])  # half of them completed
    return [trial(100 + i, draw(curves()), draw(states), goal) for i in range(count)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), goal=st.sampled_from([MIN, MAX]), percentile=st.floats(0, 100),
       median=st.booleans(), min_trials=st.integers(0, 6), warmup=st.integers(0, 4), interval=st.integers(1, 3),
       min_step_trials=st.integers(1, 2), compare=st.sampled_from(["best", "last"]))
def test_percentile_never_prunes_before_startup_or_warmup_nor_the_best(
        data: st.DataObject, goal: Goal, percentile: float, median: bool, min_trials: int, warmup: int,
        interval: int, min_step_trials: int, compare: str) -> None:
    options = {"min_trials": min_trials, "warmup_steps": warmup, "interval_steps": interval,
               "min_step_trials": min_step_trials, "compare": compare}
    pruner = build("median", **options) if median else build("percentile", percentile=percentile, **options)
    others = data.draw(other_trials(goal))
    mine = trial(0, data.draw(curves()), goal=goal)
    decision = decide(pruner, mine, others, goal)
    report = mine.intermediate[-1]
    if sum(t.state is COMPLETED for t in others) < min_trials or report.step < warmup:
        assert not decision.prune, decision.reason
    if decision.prune:
        # Someone completed did better at that step: a trial at least as good as every one is kept.
        use = report.best if compare == "best" else report.value
        assert use is not None
        peers = MemoryPeers(others, goal=goal).at_step(report.step, [COMPLETED])
        assert any(better(p.best if compare == "best" else p.value, use, goal) for p in peers), decision.reason


@settings(max_examples=300, deadline=None)
@given(data=st.data(), goal=st.sampled_from([MIN, MAX]), low=st.one_of(st.none(), finite),
       width=st.floats(0, 1e6), lower_only=st.booleans())
def test_threshold_never_prunes_inside_its_bounds_and_always_outside(
        data: st.DataObject, goal: Goal, low: float | None, width: float, lower_only: bool) -> None:
    lower: float | None
    upper: float | None
    if low is None:
        lower, upper = None, data.draw(finite)
    else:
        lower, upper = low, (None if lower_only else low + width)
    pruner = build("threshold", lower=lower, upper=upper)
    mine = trial(0, data.draw(curves()), goal=goal)
    value = mine.intermediate[-1].value
    inside = (lower is None or value >= lower) and (upper is None or value <= upper)
    assert decide(pruner, mine, data.draw(other_trials(goal)), goal).prune is not inside
    if lower is not None:
        assert not decide(pruner, trial(0, {0: lower}, goal=goal), [], goal).prune
    if upper is not None:
        assert not decide(pruner, trial(0, {0: upper}, goal=goal), [], goal).prune
    if lower is not None and upper is not None:
        assert not decide(pruner, trial(0, {0: lower + (upper - lower) / 2}, goal=goal), [], goal).prune


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(goal=st.sampled_from([MIN, MAX]), factor=st.integers(2, 4), min_resource=st.integers(1, 3),
       rate=st.integers(0, 2), moves=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 40), finite),
                                              min_size=1, max_size=40))
def test_asha_never_prunes_the_best_entrant_of_a_rung(goal: Goal, factor: int, min_resource: int, rate: int,
                                                      moves: list[tuple[int, int, float]]) -> None:
    """Random trials report (in a random order, each trial's steps going up) until pruned; every rung entry
    is checked against the entries before it."""
    study = Serial(build("successive_halving", min_resource=min_resource, reduction_factor=factor,
                         min_early_stopping_rate=rate), goal=goal)
    for number, step, value in moves:
        known = study.trials[number].intermediate if number in study.trials else ()
        if known and (known[-1].prune or step <= known[-1].step):
            continue
        before = {rung: [v for n, entered in study.rungs.items() for r, v in entered.items() if r == rung]
                  for rung in range(rate, 40)}
        decision = study.report(number, step, value)
        for index, entry in enumerate(decision.rungs):
            there = before[entry.rung]
            rank = 1 + sum(better(v, value, goal) for v in there)
            last = index == len(decision.rungs) - 1
            stops = rank > max((len(there) + 1) // factor, 1)
            assert (decision.prune and last) is stops, (entry, there, decision)
            if all(not better(v, value, goal) for v in there):
                assert not (decision.prune and last), decision  # the best entrant continues
        if decision.prune:
            assert decision.rungs and f"ranks {rank} of {len(there) + 1}" in decision.reason


@pytest.mark.parametrize(("percentile", "label"), [
    (1, "1st percentile"), (2, "2nd percentile"), (3, "3rd percentile"), (4, "4th percentile"),
    (11, "11th percentile"), (12, "12th percentile"), (13, "13th percentile"), (21, "21st percentile"),
    (100, "100th percentile"), (33.3, "percentile 33.3"), (0, "0th percentile")])
def test_a_percentile_is_named_as_people_say_it(percentile: float, label: str) -> None:
    assert percentile_label(percentile) == label
