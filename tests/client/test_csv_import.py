"""CSV import against real servers: what `suggest trials --format csv` writes comes back as the same trials."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from suggest_client import Client, Study, Trial
from suggest_client.cli import main
from suggest_client.csv_import import (
    MAX_BATCH,
    MAX_BATCH_BYTES,
    ROW_KEY,
    BadCsv,
    Row,
    batch_key,
    batches,
    import_csv,
    metadata_value,
)
from tests.support.servers import Server

SUGGEST = str(Path(sys.executable).with_name("suggest"))
SPACE = {"params": [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
    {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.9, "step": 0.1, "when": {"opt": ["sgd"]}},
    {"name": "layers", "type": "int", "low": 1, "high": 8, "step": 1},
    {"name": "bn", "type": "categorical", "choices": [True, False]},
    {"name": "width", "type": "categorical", "choices": [32, 64.5, "wide"]},
]}
METADATA = {"test_acc": 0.9, "tags": ["a", "b"], "note": "first run, \"quoted\"", "cfg": {"k": [1, 2]},
            "ok": True, "run": "007", "count": 3}


def export(server: Server, name: str, path: Path, *extra: str) -> None:
    assert main(["--url", server.base_url, "trials", name, "--format", "csv", "--output", str(path), *extra]) == 0


def finished(study: Study) -> list[Trial]:
    return [t for t in study.trials() if t.state != "running"]


@pytest.fixture
def source(api: Client, study_name: str) -> Study:
    """Every kind of row: completed (with metadata, both branches of the condition), pruned with and without a
    value, failed, and one still running."""
    study = api.create_study(study_name + "-src", SPACE, seed=11)
    trials = study.ask(7)
    for index, trial in enumerate(trials[:4]):
        trial.metadata.update(METADATA if index == 0 else {"test_acc": 0.5 + index / 10})
        study.tell(trial, 0.25 * index + 0.125)
    study.tell(trials[4], 3.5, state="pruned")
    study.tell(trials[5], state="failed", metadata={"error": "CUDA out of memory"})
    study.tell(trials[6], state="pruned")
    study.ask()  # running: not exported as a finished trial
    return study


def test_export_then_import_gives_the_same_trials_once(server: Server, api: Client, source: Study,
                                                       study_name: str, tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    export(server, source.name, path)
    target = api.create_study(study_name, SPACE)
    imported = target.import_csv(path)

    expected = finished(source)
    assert {t.params["opt"] for t in expected} == {"sgd", "adam"}  # both branches: momentum empty in some rows
    assert len(imported) == len(expected) == 7
    for got, want in zip(imported, expected, strict=True):
        assert got.params == want.params  # exact: floats round-trip, ints, bools and mixed choices typed back
        assert (got.state, got.value, got.values) == (want.state, want.value, want.values)
        fingerprint = got.metadata.pop(ROW_KEY)
        assert len(fingerprint) == 64 and got.metadata == want.metadata
    assert imported[0].metadata == METADATA  # text, numbers, booleans, lists, objects and "007" as they were
    assert [t.number for t in target.trials()] == [t.number for t in imported]  # stored, not just answered

    again = import_csv(target, path)
    assert (again.imported, again.already_present, again.running) == ([], 7, 1)
    assert len(target.trials()) == 7


def test_an_export_of_imported_trials_keeps_their_fingerprints(server: Server, api: Client, source: Study,
                                                               study_name: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    export(server, source.name, first)
    middle = api.create_study(study_name, SPACE)
    middle.import_csv(first)
    export(server, middle.name, second)  # new numbers and times, plus a metadata.imported_row column
    assert middle.import_csv(second) == []  # the same trials: nothing added
    last = api.create_study(study_name + "-last", SPACE)
    copied = last.import_csv(second)
    assert [t.metadata for t in copied] == [t.metadata for t in middle.trials()]
    assert last.import_csv(first) == []  # and the original file is recognized there too


def test_multi_objective_study_imports_value_metric_columns(server: Server, api: Client, study_name: str,
                                                            tmp_path: Path) -> None:
    definition: dict[str, Any] = {"objectives": [("acc", "maximize"), ("latency", "minimize")],
                                  "constraints": [("memory", "<=", 10.0)]}
    source = api.create_study(study_name + "-src", SPACE, seed=2, **definition)
    first, second, third, fourth = source.ask(4)
    source.tell(first, values={"acc": 0.9, "latency": 12.5, "memory": 4.0})
    source.tell(second, values={"acc": 0.95, "latency": 30.0, "memory": 16.0})  # infeasible
    source.tell(third, state="pruned")
    source.tell(fourth, state="failed")
    path = tmp_path / "front.csv"
    export(server, source.name, path)
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {"feasible", "value.acc", "value.latency", "value.memory"} <= set(header)

    target = api.create_study(study_name, SPACE, **definition)
    imported = target.import_csv(path)
    assert [(t.state, t.values, t.feasible) for t in imported] == [
        ("completed", {"acc": 0.9, "latency": 12.5, "memory": 4.0}, True),
        ("completed", {"acc": 0.95, "latency": 30.0, "memory": 16.0}, False),
        ("pruned", None, None), ("failed", None, None)]
    assert [t.number for t in target.pareto()] == [imported[0].number]

    plain = api.create_study(study_name + "-plain", SPACE)
    with pytest.raises(BadCsv, match="header, column value.acc: study .* has one objective and no constraints"):
        plain.import_csv(path)


BAD = """\
state,value,param.lr,param.opt,param.momentum,param.layers,param.bn,param.width,metadata.note
completed,0.5,0.01,sgd,0.3,2,true,32,fine
completed,0.5,abc,sgd,0.3,2,true,32,not a number
completed,0.5,0.01,rmsprop,,2,true,32,no such choice
completed,0.5,0.01,adam,0.3,2,false,wide,inactive momentum holds a value
completed,0.5,0.01,sgd,,2,true,32,active momentum empty
failed,0.5,0.01,adam,,9,True,64.5,failed with a value; layers out of range
done,,0.01,adam,,2.5,yes,64,bad state; layers not an integer; bn and width not choices
,,0.01,adam,,3,false,32,no state and no value
completed,0.5,0.01,sgd,0.35,3,false,32,momentum off its step
completed,nan,0.01,sgd,0.3,3,false,32,value not finite
"""


def test_bad_cells_name_row_and_column_and_nothing_is_imported(api: Client, study_name: str) -> None:
    study = api.create_study(study_name, SPACE)
    with pytest.raises(BadCsv) as raised:
        study.import_csv(io.StringIO(BAD))
    assert [(row, column) for row, column, _ in raised.value.problems] == [
        (3, "param.lr"), (4, "param.opt"), (5, "param.momentum"), (6, "param.momentum"),
        (7, "param.layers"), (7, "value"), (8, "param.layers"), (8, "param.bn"), (8, "param.width"), (8, "state"),
        (9, "state"),
        (10, "param.momentum"), (11, "value")]
    message = str(raised.value)
    assert message.startswith("13 problems, nothing imported:\n  row 3, column param.lr: 'abc' is not a number")
    assert "row 4, column param.opt: 'rmsprop' is not one of the choices sgd, adam" in message
    assert "row 5, column param.momentum: holds '0.3', but 'momentum' is inactive in this row (it applies " \
           "only when opt is sgd)" in message
    assert "row 6, column param.momentum: is empty, but study" in message and "active because opt is sgd" in message
    assert "row 7, column param.layers: 9 is outside [1, 8]" in message
    assert "row 7, column value: a failed trial has no result" in message
    assert "row 8, column state: 'done' is not a state the import takes" in message
    assert "row 10, column param.momentum: 0.35 is not on the grid" in message
    assert (raised.value.row, raised.value.column) == (3, "param.lr")
    assert study.trials() == []  # the good row 2 was not sent either

    with pytest.raises(BadCsv) as header:
        study.import_csv(io.StringIO("param.lr,param.depth,colour,value,value\n0.1,3,red,1,1\n"))
    assert [(row, column) for row, column, _ in header.value.problems] == [
        (1, "param.depth"), (1, "colour"), (1, "value")]  # the rows are not checked under a wrong header
    assert "'depth' is not a parameter of study" in str(header.value)
    with pytest.raises(BadCsv, match="^header: the file is empty"):
        study.import_csv(io.StringIO(""))
    assert study.trials() == []


def test_a_hand_made_sheet_over_one_batch_is_imported_in_batches(api: Client, study_name: str) -> None:
    """1,500 rows (the service takes at most 1,000 a request), the state left out (a value means completed),
    rows that drop trailing empty cells, and identical rows, which are distinct trials."""
    study = api.create_study(study_name, SPACE)
    lines = ["value,param.opt,param.lr,param.layers,param.bn,param.width,param.momentum"]
    lines += [f"{i / 1000!r},adam,0.001,{1 + i % 8},false,wide" for i in range(1498)]
    lines += ["1.5,sgd,0.5,3,true,64.5,0.2"] * 2
    sheet = io.BytesIO(("\n".join(lines) + "\n").encode())  # a binary file is read as UTF-8
    imported = study.import_csv(sheet)
    assert len(imported) == 1500 and not sheet.closed
    assert [t.value for t in imported[:3]] == [0.0, 0.001, 0.002]
    assert imported[-1].params == imported[-2].params == {"opt": "sgd", "lr": 0.5, "layers": 3, "bn": True,
                                                          "width": 64.5, "momentum": 0.2}
    assert imported[-1].metadata[ROW_KEY] != imported[-2].metadata[ROW_KEY]
    sheet.seek(0)
    assert study.import_csv(sheet) == [] and len(study.trials()) == 1500


def test_a_batch_sent_again_with_its_key_is_answered_not_added(api: Client, study_name: str) -> None:
    """What makes two runs of one import at once safe: the second sends the same batch with the same key."""
    study = api.create_study(study_name, SPACE)
    body = {"trials": [{"params": {"lr": 0.1, "opt": "adam", "layers": 2, "bn": False, "width": 32},
                        "state": "completed", "value": 1.0, "metadata": {ROW_KEY: "0" * 64}}]}
    key = batch_key(study.info, body)
    path = f"/v1/studies/{study.name}/trials"
    first = study.transport.request("POST", path, json=body, idempotency_key=key)
    second = study.transport.request("POST", path, json=body, idempotency_key=key)
    assert first == second and len(study.trials()) == 1
    study.delete()
    again = api.create_study(study_name, SPACE)
    assert batch_key(again.info, body) != key  # a new study of the same name: its own keys


def test_batches_hold_at_most_max_import_rows_and_bytes() -> None:
    small = [Row(i, {"params": {}, "metadata": {ROW_KEY: f"{i:064x}"}}) for i in range(2 * MAX_BATCH + 5)]
    assert [len(b) for b in batches(small)] == [MAX_BATCH, MAX_BATCH, 5]
    big = [Row(i, {"params": {}, "metadata": {ROW_KEY: f"{i:064x}", "blob": "x" * (MAX_BATCH_BYTES // 3)}})
           for i in range(7)]
    assert [len(b) for b in batches(big)] == [2, 2, 2, 1]


def test_metadata_cells_parse_json_only_where_the_export_wrote_it() -> None:
    assert [metadata_value(c) for c in ["0.9", "3", "true", '{"a": 1}', "[1]", "007", "null", "NaN", "1e999",
                                        "text", '"x"']] == [0.9, 3, True, {"a": 1}, [1], "007", "null", "NaN",
                                                            "1e999", "text", '"x"']


# --- the command ----------------------------------------------------------------------------------------


def suggest(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SUGGEST, "--url", server.base_url, *args], capture_output=True, text=True, input=stdin,
                          timeout=60, check=False)


def test_import_csv_command(server: Server, api: Client, source: Study, study_name: str, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "trials.csv"
    export(server, source.name, path)
    capsys.readouterr()
    api.create_study(study_name, SPACE)
    assert main(["--url", server.base_url, "import-csv", study_name, str(path)]) == 0
    assert capsys.readouterr().out == f"imported 7 trials into {study_name} (1 running row skipped)\n"
    assert main(["--url", server.base_url, "import-csv", study_name, str(path)]) == 0
    assert capsys.readouterr().out == (f"imported 0 trials into {study_name} (7 rows already present, "
                                       "1 running row skipped)\n")

    bad = tmp_path / "bad.csv"
    bad.write_text("value,param.lr,param.opt,param.layers,param.bn,param.width\n1,2.0,adam,1,true,32\n")
    assert main(["--url", server.base_url, "import-csv", study_name, str(bad)]) == 1
    assert capsys.readouterr().err == ("suggest: row 2, column param.lr: 2.0 is outside [0.0001, 1.0]; "
                                       "nothing imported\n")
    assert main(["--url", server.base_url, "import-csv", study_name, str(tmp_path / "missing.csv")]) == 1
    assert capsys.readouterr().err == f"suggest: cannot read {tmp_path / 'missing.csv'}: No such file or directory\n"
    assert main(["--url", server.base_url, "import-csv", study_name + "-none", str(path)]) == 1
    assert "404 Not found: no study named" in capsys.readouterr().err
    assert len(api.study(study_name).trials()) == 7

    fresh = api.create_study(study_name + "-stdin", SPACE)
    piped = suggest(server, "import-csv", fresh.name, "-", stdin=path.read_text(encoding="utf-8"))
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == f"imported 7 trials into {fresh.name} (1 running row skipped)\n"
    assert [t.params for t in fresh.trials()] == [t.params for t in finished(source)]
