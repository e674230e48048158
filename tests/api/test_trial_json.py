"""The hand-built trial answer (api/trial_json.py) is exactly what the declared schema (TrialOut) dumps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from suggest_api.api.schemas import TrialOut
from suggest_api.api.trial_json import trial_json
from suggest_api.domain import Report, Trial, TrialState

SCHEMA = TrialOut()
finite = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | finite | st.text(max_size=8)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
zoned = times.map(lambda t: t.replace(tzinfo=UTC)) | times.map(lambda t: t.replace(tzinfo=timezone(timedelta(hours=2))))
maybe_time = st.none() | times | zoned
reports = st.builds(Report, step=st.integers(0, 10**6), value=finite, best=st.none() | finite,
                    prune=st.none() | st.booleans(), reason=st.none() | st.text(max_size=20),
                    rung=st.none() | st.integers(0, 5))
trials = st.builds(
    Trial, number=st.integers(0, 2**31 - 1), state=st.sampled_from(TrialState),
    params=st.dictionaries(st.text(min_size=1, max_size=6), json_scalars, max_size=5),
    value=st.none() | finite | st.integers(-1000, 1000), created_at=times | zoned, finished_at=maybe_time,
    heartbeat_at=maybe_time, lease_expires_at=maybe_time, fail_reason=st.none() | st.sampled_from(["stale", "x"]),
    client_id=st.none() | st.text(max_size=10),
    metadata=st.none() | st.dictionaries(st.text(max_size=5), json_scalars, max_size=4),
    intermediate=st.lists(reports, max_size=4).map(tuple),
    values=st.none() | st.dictionaries(st.text(min_size=1, max_size=5), finite, max_size=3),
    feasible=st.none() | st.booleans())


@settings(max_examples=400, deadline=None)
@given(trials)
def test_trial_json_is_the_schemas_dump(trial: Trial) -> None:
    assert trial_json(trial) == SCHEMA.dump(trial)


@settings(max_examples=100, deadline=None)
@given(trials)
def test_without_reports_only_intermediate_differs(trial: Trial) -> None:
    assert trial_json(trial, reports=False) == {**SCHEMA.dump(trial), "intermediate": None}


def test_integral_values_and_naive_times_come_out_as_the_schema_says() -> None:
    trial = Trial(number=3, state=TrialState.COMPLETED, params={"x": 1}, value=2, created_at=datetime(2026, 1, 2),
                  intermediate=(Report(step=1, value=4),))
    answer = trial_json(trial)
    assert answer["value"] == 2.0 and isinstance(answer["value"], float)
    assert answer["created_at"] == "2026-01-02T00:00:00+00:00"
    assert answer["intermediate"] == [{"step": 1, "value": 4.0, "prune": None, "reason": None}]
