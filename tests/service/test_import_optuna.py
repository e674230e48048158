"""`suggest-api import-optuna`: studies made by real Optuna on its SQLite and PostgreSQL storages become export
documents (every distribution kind, a conditional parameter, intermediate values, user attributes, completed,
pruned and failed trials, several objectives), import through the service on both our backends, and what
cannot map is refused naming it."""

from __future__ import annotations

import math
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial
from sqlalchemy.engine import make_url

from suggest_api.config import Limits, Settings
from suggest_api.domain import Study, Trial
from suggest_api.importers.optuna_study import (
    NONFINITE_KEY,
    NUMBER_KEY,
    Options,
    OptunaRefused,
    convert,
    document_from_optuna,
    read_optuna_study,
)
from suggest_api.service import studies, transfer, trials
from suggest_api.service.accounts import team_principal
from suggest_api.service.transactions import Transactions
from suggest_api.storage.studies import SpaceCache
from tests.conftest import POSTGRES_URL
from tests.support.databases import scratch_postgres, sessions_on
from tests.support.servers import run_cli

optuna.logging.set_verbosity(optuna.logging.WARNING)
Json = dict[str, Any]
STORAGES = [pytest.param("sqlite", id="optuna-sqlite"),
            pytest.param("postgres", id="optuna-postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class Storage:
    """An Optuna RDB storage: its URL (what the importer reads) and Optuna's handle on it (what tests write with)."""

    url: str
    rdb: optuna.storages.RDBStorage


@contextmanager
def opened(url: str) -> Iterator[Storage]:
    storage = optuna.storages.RDBStorage(url)
    try:
        yield Storage(url, storage)
    finally:
        storage.engine.dispose()


@pytest.fixture(scope="module", params=STORAGES)
def optuna_storage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    """Optuna's own RDB storage: a SQLite file, or a fresh PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        with opened(f"sqlite:///{tmp_path_factory.mktemp('optuna') / 'optuna.db'}") as storage:
            yield storage
        return
    with scratch_postgres(POSTGRES_URL, "optuna_test") as url, opened(url) as storage:
        yield storage


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> Iterator[Storage]:
    with opened(f"sqlite:///{tmp_path / 'optuna.db'}") as storage:
        yield storage


def new_study(storage: Storage, **kwargs: Any) -> optuna.Study:
    return optuna.create_study(storage=storage.rdb, study_name=f"s-{uuid.uuid4().hex[:8]}",
                               sampler=optuna.samplers.RandomSampler(seed=3), **kwargs)


def curve(k: int, step: int) -> float:
    return 1.0 + 0.1 * k + (0.3 if step % 2 else -0.3) / (step + 1)  # not monotone: best differs from value


def rich_study(storage: Storage) -> optuna.Study:
    """12 trials through ask/tell (maximize): every distribution kind, `momentum` only under sgd, reports,
    user attributes; trials 1, 5, 9 pruned after two reports, 2, 6, 10 failed, the rest completed."""
    study = new_study(storage, direction="maximize")
    study.set_user_attr("owner", "team-a")
    for k in range(12):
        trial = study.ask()
        trial.suggest_float("x", -2.0, 2.0)
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_float("frac", 0.0, 1.0, step=0.25)
        trial.suggest_int("layers", 1, 4)
        trial.suggest_int("width", 8, 256, log=True)
        trial.suggest_int("batch", 16, 128, step=16)
        trial.suggest_float("const", 3.0, 3.0)
        optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam"])
        trial.suggest_categorical("scale", [0.5, 1, 2.5])
        trial.suggest_categorical("flag", [True, False])
        if optimizer == "sgd":
            trial.suggest_float("momentum", 0.0, 0.99)
        trial.set_user_attr("k", k)
        trial.set_user_attr("tags", ["a", {"b": 1.5}])
        steps = 2 if k % 4 == 1 else 1 if k % 4 == 2 else 4
        for step in range(steps):
            trial.report(curve(k, step), step)
        if k % 4 == 1:
            study.tell(trial, state=TrialState.PRUNED)
        elif k % 4 == 2:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, 10.0 - k)
    return study


@pytest.fixture(scope="module")
def rich(optuna_storage: Storage) -> tuple[optuna.Study, Json]:
    """The rich study and its document, read back from the storage by the importer."""
    study = rich_study(optuna_storage)
    return study, read_optuna_study(optuna_storage.url, study.study_name)


EXPECTED_SPACE = [
    {"name": "x", "type": "float", "low": -2.0, "high": 2.0},
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    {"name": "frac", "type": "float", "low": 0.0, "high": 1.0, "step": 0.25},
    {"name": "layers", "type": "int", "low": 1, "high": 4},
    {"name": "width", "type": "int", "low": 8, "high": 256, "log": True},
    {"name": "batch", "type": "int", "low": 16, "high": 128, "step": 16},
    {"name": "const", "type": "categorical", "choices": [3.0]},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "scale", "type": "categorical", "choices": [0.5, 1, 2.5]},
    {"name": "flag", "type": "categorical", "choices": [True, False]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": ["sgd"]}},
]


def test_every_distribution_kind_and_a_conditional_become_the_space(rich: tuple[optuna.Study, Json]) -> None:
    study, document = rich
    assert document["format"] == "suggest-api.study" and document["version"] == 1
    part = document["study"]
    assert part["name"] == study.study_name
    assert part["space"] == {"params": EXPECTED_SPACE}
    assert part["objective"] == {"name": "value", "goal": "maximize"} and "objectives" not in part
    assert part["suggester"] == {"name": "random", "options": {}} and part["seed"] == 0 and part["pruner"] is None
    assert part["metadata"] == {"owner": "team-a"} and part["suggested"] == 0
    assert part["created_at"] == document["trials"][0]["created_at"]
    assert list(document) == ["format", "version", "study", "trials", "queue"] and document["queue"] == []
    with_momentum = [t for t in document["trials"] if "momentum" in t["params"]]
    assert 0 < len(with_momentum) < 12 and all(t["params"]["optimizer"] == "sgd" for t in with_momentum)
    assert all(t["params"]["optimizer"] == "adam" for t in document["trials"] if "momentum" not in t["params"])


def test_trials_keep_states_values_reports_and_attributes(rich: tuple[optuna.Study, Json]) -> None:
    study, document = rich
    originals = study.get_trials()
    assert [t["number"] for t in document["trials"]] == list(range(12))
    for trial, original in zip(document["trials"], originals, strict=True):
        k = original.number
        assert trial["params"] == original.params
        assert trial["metadata"] == {"k": k, "tags": ["a", {"b": 1.5}], NUMBER_KEY: k}
        assert trial["source"] == "import" and trial["heartbeat_at"] is None and trial["values"] is None
        assert trial["created_at"].endswith("+00:00") and trial["created_at"] <= trial["finished_at"]
        steps = 2 if k % 4 == 1 else 1 if k % 4 == 2 else 4
        values = [curve(k, step) for step in range(steps)]
        assert [r["step"] for r in trial["intermediate"]] == list(range(steps))
        assert [r["value"] for r in trial["intermediate"]] == values
        assert [r["best"] for r in trial["intermediate"]] == [max(values[:i + 1]) for i in range(steps)]
        assert all(r["created_at"] == trial["finished_at"] for r in trial["intermediate"])
        prunes = [r["prune"] for r in trial["intermediate"]]
        if k % 4 == 1:
            assert trial["state"] == "pruned" and trial["value"] == values[-1]  # Optuna's value: the last report
            assert prunes == [None, True] and trial["intermediate"][-1]["reason"] == "pruned in Optuna"
        elif k % 4 == 2:
            assert trial["state"] == "failed" and trial["value"] is None and prunes == [None]
        else:
            assert trial["state"] == "completed" and trial["value"] == 10.0 - k and prunes == [None] * 4


def read_back(database_url: str, name: str) -> tuple[Study, list[Trial], Json]:
    """The study as the service reads it: definition, trials with their reports, and its export."""
    with sessions_on(database_url) as sessions:
        transactions = Transactions(sessions)
        who = team_principal(transactions, Settings(database_url=database_url))

        def read(session: Any) -> tuple[Study, list[Trial], Json]:
            return (studies.get_study(session, who, name, SpaceCache()),
                    trials.list_trials(session, who, name, None, 1000, None).items,
                    transfer.export_study(session, who, name))

        return transactions.read(read)


def import_document(database_url: str, document: Json, name: str | None = None) -> bool:
    with sessions_on(database_url) as sessions:
        transactions = Transactions(sessions)
        who = team_principal(transactions, Settings(database_url=database_url))
        return transactions.write(lambda session: transfer.import_study(
            session, who, document, limits=Limits(), spaces=SpaceCache(), name=name).created)


def test_the_document_imports_on_both_backends_and_exports_the_same(rich: tuple[optuna.Study, Json],
                                                                    database_url: str) -> None:
    study, document = rich
    assert import_document(database_url, document) is True
    stored, rows, exported = read_back(database_url, study.study_name)
    assert stored.trial_counts.completed == 6 and stored.trial_counts.pruned == 3 and stored.trial_counts.failed == 3
    assert stored.goal.value == "maximize" and stored.metadata == {"owner": "team-a"}
    assert stored.best_trial is not None and stored.best_trial.value == 10.0
    for row, original in zip(rows, study.get_trials(), strict=True):
        assert dict(row.params) == original.params
        assert row.state.value == {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed"}[original.state.name]
        assert row.value == original.value
        assert [(r.step, r.value) for r in row.intermediate] == sorted(original.intermediate_values.items())
        assert row.metadata is not None and row.metadata[NUMBER_KEY] == original.number
    assert exported == document  # lossless: what an export of the imported study prints is the document
    assert import_document(database_url, document) is False  # the same study again: nothing new


def test_several_objectives_are_named_from_metric_names_or_numbered(sqlite_storage: Storage, database_url: str) -> None:
    named = new_study(sqlite_storage, directions=["minimize", "maximize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        named.set_metric_names(["loss", "accuracy"])
    plain = new_study(sqlite_storage, directions=["maximize", "minimize", "minimize"])
    for k in range(4):
        for study, values in ((named, [1.0 + k, 0.5 - 0.1 * k]), (plain, [float(k), 2.0, -1.0 * k])):
            trial = study.ask()
            trial.suggest_int("n", 0, 9)
            if k == 3:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, values)
    document = read_optuna_study(sqlite_storage.url, named.study_name)
    assert document["study"]["objectives"] == [{"name": "loss", "goal": "minimize"},
                                               {"name": "accuracy", "goal": "maximize"}]
    assert "objective" not in document["study"]
    assert [t["values"] for t in document["trials"]] == [{"loss": 1.0 + k, "accuracy": 0.5 - 0.1 * k}
                                                         for k in range(3)] + [None]
    assert all(t["value"] is None for t in document["trials"])
    other = read_optuna_study(sqlite_storage.url, plain.study_name)
    assert [o["name"] for o in other["study"]["objectives"]] == ["objective_0", "objective_1", "objective_2"]
    assert other["trials"][1]["values"] == {"objective_0": 1.0, "objective_1": 2.0, "objective_2": -1.0}

    assert import_document(database_url, document, name="multi") is True
    stored, rows, _ = read_back(database_url, "multi")
    assert [o.name for o in stored.objectives] == ["loss", "accuracy"] and stored.multi_objective
    assert [dict(r.values) if r.values else None for r in rows] == [t["values"] for t in document["trials"]]
    assert [r.state.value for r in rows] == ["completed"] * 3 + ["failed"]


def add(study: optuna.Study, params: dict[str, Any], distributions: dict[str, Any], *,
        state: TrialState = TrialState.COMPLETE, value: float | None = 1.0, **kwargs: Any) -> None:
    study.add_trial(create_trial(state=state, value=value if state is TrialState.COMPLETE else None,
                                 params=params, distributions=distributions, **kwargs))


X = FloatDistribution(0.0, 1.0)
KIND = CategoricalDistribution(["a", "b", "c"])


def refused(storage: Storage, study: optuna.Study, options: Options | None = None) -> OptunaRefused:
    with pytest.raises(OptunaRefused) as caught:
        read_optuna_study(storage.url, study.study_name, options)
    return caught.value


def test_a_distribution_that_changes_between_trials_is_refused_naming_it(sqlite_storage: Storage) -> None:
    study = new_study(sqlite_storage)
    add(study, {"x": 0.5}, {"x": X})
    add(study, {"x": 1.5}, {"x": FloatDistribution(0.0, 2.0)})
    error = refused(sqlite_storage, study)
    assert "'x'" in error.detail and "trial 0" in error.detail and "trial 1" in error.detail
    assert error.errors == {"optuna.params.x": ["its distribution changes between trials"]}


def test_an_unexplained_missing_parameter_is_refused_naming_it(sqlite_storage: Storage) -> None:
    study = new_study(sqlite_storage)
    add(study, {"x": 0.1, "kind": "a", "y": 2}, {"x": X, "kind": KIND, "y": IntDistribution(0, 5)})
    add(study, {"x": 0.2, "kind": "a"}, {"x": X, "kind": KIND})  # "a" both with and without y
    add(study, {"x": 0.3, "kind": "b"}, {"x": X, "kind": KIND})
    error = refused(sqlite_storage, study)
    assert "'y'" in error.detail and "trials 1, 2" in error.detail
    assert list(error.errors or {}) == ["optuna.params.y"]


def test_a_nested_conditional_takes_the_closest_parent_that_explains_it(sqlite_storage: Storage) -> None:
    """mode is asked under kind "a" and "b", z only with kind "a", where mode is always "on": both kind and mode
    explain z, and mode, asked in fewer trials, is the closer parent. A parent that does not explain (kind,
    when "a" also comes without z) is never taken."""
    mode = CategoricalDistribution(["on", "off"])
    study = new_study(sqlite_storage)
    add(study, {"kind": "a", "mode": "on", "z": 0.5}, {"kind": KIND, "mode": mode, "z": X})
    add(study, {"kind": "b", "mode": "off"}, {"kind": KIND, "mode": mode})
    add(study, {"kind": "c"}, {"kind": KIND})
    space = read_optuna_study(sqlite_storage.url, study.study_name)["study"]["space"]["params"]
    assert [p.get("when") for p in space] == [None, {"kind": ["a", "b"]}, {"mode": ["on"]}]
    add(study, {"kind": "a", "mode": "off"}, {"kind": KIND, "mode": mode})
    space = read_optuna_study(sqlite_storage.url, study.study_name)["study"]["space"]["params"]
    assert [p.get("when") for p in space] == [None, {"kind": ["a", "b"]}, {"mode": ["on"]}]


def test_running_trials_are_refused_unless_skipped(sqlite_storage: Storage) -> None:
    study = new_study(sqlite_storage)
    add(study, {"x": 0.5}, {"x": X})
    study.ask({"x": X})
    study.enqueue_trial({"x": 0.25})
    add(study, {"x": 0.75}, {"x": X}, value=2.0)
    error = refused(sqlite_storage, study)
    assert "trials 1, 2" in error.detail and "--skip-unfinished" in error.detail
    conversion = convert(study, Options(skip_unfinished=True))
    assert conversion.skipped_unfinished == (1, 2)
    trials_out = conversion.document["trials"]
    assert [(t["number"], t["metadata"][NUMBER_KEY], t["value"]) for t in trials_out] == [(0, 0, 1.0), (1, 3, 2.0)]


def test_a_none_choice_is_refused_naming_the_parameter(sqlite_storage: Storage) -> None:
    study = new_study(sqlite_storage)
    add(study, {"act": "relu"}, {"act": CategoricalDistribution(["relu", None])})
    error = refused(sqlite_storage, study)
    assert "'act'" in error.detail and "None" in error.detail
    assert list(error.errors or {}) == ["optuna.params.act.choices"]


def test_a_failed_trial_that_stopped_early_is_refused_unless_skipped(sqlite_storage: Storage,
                                                                    database_url: str) -> None:
    study = new_study(sqlite_storage)
    both = {"x": X, "y": IntDistribution(0, 5)}
    add(study, {"x": 0.5, "y": 1}, both)
    add(study, {"x": 0.6}, {"x": X}, state=TrialState.FAIL)  # failed before asking y
    add(study, {"x": 0.7, "y": 2}, both, state=TrialState.FAIL)
    error = refused(sqlite_storage, study)
    assert "trial 1" in error.detail and "'y'" in error.detail and "--skip-incomplete-failed" in error.detail
    conversion = convert(study, Options(skip_incomplete_failed=True, name="partial"))
    assert conversion.skipped_failed == (1,)
    assert [t["state"] for t in conversion.document["trials"]] == ["completed", "failed"]
    assert import_document(database_url, conversion.document) is True
    assert [r.state.value for r in read_back(database_url, "partial")[1]] == ["completed", "failed"]


def test_non_finite_values(sqlite_storage: Storage) -> None:
    """A NaN report is kept in metadata, not in the reports; an infinite completed value is refused."""
    study = new_study(sqlite_storage)
    add(study, {"x": 0.5}, {"x": X}, intermediate_values={0: 2.0, 1: math.nan, 2: math.inf, 3: 1.0})
    trial = convert(study).document["trials"][0]
    assert [(r["step"], r["best"]) for r in trial["intermediate"]] == [(0, 2.0), (3, 1.0)]
    assert trial["metadata"][NONFINITE_KEY] == {"1": "nan", "2": "inf"}
    add(study, {"x": 0.6}, {"x": X}, value=math.inf)
    error = refused(sqlite_storage, study)
    assert "trial 1" in error.detail and "inf" in error.detail


@pytest.mark.parametrize("attrs, where", [({"bad": math.nan}, "bad"), ({NUMBER_KEY: 3}, NUMBER_KEY)])
def test_user_attributes_that_cannot_be_metadata_are_refused(sqlite_storage: Storage, attrs: Json, where: str) -> None:
    study = new_study(sqlite_storage)
    add(study, {"x": 0.5}, {"x": X}, user_attrs=attrs)
    assert repr(where) in refused(sqlite_storage, study).detail


def test_a_database_without_optuna_tables_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).close()
    with pytest.raises(OptunaRefused, match="is this an Optuna storage"):
        read_optuna_study(f"sqlite:///{path}", "x")
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


@pytest.mark.parametrize("make, needle", [
    (lambda url: read_optuna_study(url, "no-such-study"), "no study named 'no-such-study'"),
    (lambda url: read_optuna_study(url + ".missing", "x"), "no SQLite file"),
    (lambda url: read_optuna_study("not a url", "x"), "not a database URL"),
])
def test_storage_problems_are_clear(sqlite_storage: Storage, make: Callable[[str], Json], needle: str) -> None:
    new_study(sqlite_storage)
    with pytest.raises(OptunaRefused, match=needle):
        make(sqlite_storage.url)
    assert not Path(f"{make_url(sqlite_storage.url).database}.missing").exists()  # Optuna made no empty file


def test_an_empty_study_and_a_bad_name_are_refused(sqlite_storage: Storage) -> None:
    study = new_study(sqlite_storage)
    with pytest.raises(OptunaRefused, match="no finished trial"):
        document_from_optuna(study)
    add(study, {"x": 0.5}, {"x": X})
    with pytest.raises(OptunaRefused, match="--name"):
        document_from_optuna(study, Options(name="a/b"))


def test_the_command_imports_a_study_and_reads_back(tmp_path: Path, sqlite_storage: Storage) -> None:
    study = rich_study(sqlite_storage)
    database = f"sqlite:///{tmp_path / 'suggest.db'}"
    command = ["import-optuna", "--storage", sqlite_storage.url, "--study", study.study_name, "--name", "from-optuna",
               "--suggester", "genetic", "--seed", "7", "--database-url", database]
    first = run_cli(command, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "12 trials (6 completed, 3 pruned, 3 failed)" in first.stdout
    stored, rows, exported = read_back(database, "from-optuna")
    assert stored.suggester.name == "genetic" and stored.seed == 7
    assert [r.params for r in rows] == [t.params for t in study.get_trials()]
    assert exported["trials"] == read_optuna_study(sqlite_storage.url, study.study_name)["trials"]
    again = run_cli(command, tmp_path)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    unknown_team = run_cli([*command, "--team", "nobody"], tmp_path)
    assert unknown_team.returncode == 1 and "no team named 'nobody'" in unknown_team.stderr
    running = new_study(sqlite_storage)
    add(running, {"x": 0.5}, {"x": X})
    running.ask({"x": X})
    command = ["import-optuna", "--storage", sqlite_storage.url, "--study", running.study_name,
               "--database-url", database]
    refusal = run_cli(command, tmp_path)
    assert refusal.returncode == 1 and "trial 1" in refusal.stderr and "--skip-unfinished" in refusal.stderr
    skipped = run_cli([*command, "--skip-unfinished"], tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert "1 trial (1 completed)" in skipped.stdout and "left out 1 unfinished" in skipped.stderr
