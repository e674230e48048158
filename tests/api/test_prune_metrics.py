"""`suggest_prune_answers_total{pruner, prune}` counts each new step a pruner answered, not retries."""

from __future__ import annotations

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import ask, create, tell


def answers(client: FlaskClient) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.labels["pruner"], s.labels["prune"]): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "suggest_prune_answers_total"}


def test_prune_answers_are_counted_by_pruner_and_answer(client: FlaskClient) -> None:
    """Counted in this process's registry, which earlier tests' reports (other pruners) also fill: the delta."""
    create(client, suggester={"name": "random"}, pruner={"name": "threshold", "options": {"upper": 1.0}})
    before = answers(client)
    ask(client)
    for step, value in [(0, 0.5), (1, 0.7), (1, 0.7), (2, 3.0), (3, 0.1)]:  # a retry of step 1; pruned at 2
        assert client.post("/v1/studies/s/trials/0/report", json={"step": step, "value": value}).status_code == 200
    assert tell(client, 0, state="pruned").status_code == 200
    after = answers(client)
    delta = {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}
    assert delta == {("threshold", "false"): 2.0, ("threshold", "true"): 2.0}
