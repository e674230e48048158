"""What suggesters learn from pruned trials: the history an ask reads carries each pruned trial's last
report (with the running best), so bayesian and genetic can use trials stopped early (docs/pruners.md)."""

from __future__ import annotations

from flask.testing import FlaskClient

from suggest_api.domain import TrialState
from suggest_api.storage import trials
from suggest_api.storage.rows import STUDIES
from tests.api.support import ask, create, tell
from tests.support.databases import sessions_on


def test_history_carries_each_pruned_trials_last_report_and_no_other_reports(
        client: FlaskClient, database_url: str) -> None:
    create(client, suggester={"name": "random"})
    for number, curve in enumerate([[0.9, 0.5, 0.7], [0.8, 0.6], [0.4]]):
        ask(client)
        for step, value in enumerate(curve):
            assert client.post(f"/v1/studies/s/trials/{number}/report",
                               json={"step": step * 10, "value": value}).status_code == 200
    assert tell(client, 0, state="pruned").status_code == 200
    assert tell(client, 1, state="pruned").status_code == 200
    assert tell(client, 2, 0.4).status_code == 200
    with sessions_on(database_url) as sessions, sessions() as session:
        study_id = session.execute(STUDIES.select().where(STUDIES.c.name == "s")).one().id
        history = {t.number: t for t in trials.history(session, study_id)}
    assert [history[n].state for n in range(3)] == [TrialState.PRUNED, TrialState.PRUNED, TrialState.COMPLETED]
    last = [(r.step, r.value, r.best) for r in history[0].intermediate]
    assert last == [(20, 0.7, 0.5)]  # the last report, with the best value reported up to it (minimize)
    assert [(r.step, r.value, r.best) for r in history[1].intermediate] == [(10, 0.6, 0.6)]
    assert history[2].intermediate == ()  # a completed trial's value is what counts; its reports are not read
