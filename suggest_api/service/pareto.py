"""A study's Pareto front, a page at a time: the completed, feasible trials no other one dominates."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from suggest_api.accounts import Principal
from suggest_api.domain import ParetoSummary, Trial
from suggest_api.multiobjective.front import front, summary
from suggest_api.paging import Page, cut, decode_cursor
from suggest_api.service import lookup
from suggest_api.storage import trials


@dataclass(frozen=True)
class ParetoPage:
    page: Page[Trial]
    summary: ParetoSummary


def pareto(session: Session, who: Principal, name: str, limit: int, cursor: str | None) -> ParetoPage:
    """One page of the front, by trial number, with the whole front's size and hypervolume.

    The front is recomputed for each page from the results stored at that moment: a trial that joins or
    leaves it between two pages shows on a later page only if its number is after the cursor.
    """
    study = lookup.study_ref(session, who.team_id, name)
    after = decode_cursor(cursor, last=trials.MAX_TRIAL_NUMBER)
    objectives = study.objective_list
    found = front(trials.completed_results(session, [study.id])[study.id], objectives)
    following = [n for n in found.numbers if n > after][:limit + 1]
    page = cut(following, limit, lambda number: number)
    reference = tuple(float(x) for x in study.reference_point) if study.reference_point else None
    return ParetoPage(page.with_items(trials.trials_by_number(session, study.id, page.items)),
                      summary(found, objectives, reference))
