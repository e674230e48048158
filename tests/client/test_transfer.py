"""`Client.export_study` / `import_study` and `suggest export` / `suggest import` against real servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suggest_client import Client, Conflict, Trial
from suggest_client.cli import main


def filled(api: Client, name: str) -> None:
    study = api.create_study(name, [{"name": "x", "type": "float", "low": -2, "high": 2}], seed=3,
                             pruner={"name": "median", "options": {"min_trials": 1}})

    def objective(trial: Trial) -> float:
        x = float(trial.params["x"])
        for step in range(3):
            trial.report(step, x * x + 1 / (step + 1))
        return x * x

    study.optimize(objective, n_trials=6)


def test_a_study_exported_and_imported_through_the_client_is_the_same(api: Client, study_name: str) -> None:
    filled(api, study_name)
    document = api.export_study(study_name)
    assert len(document["trials"]) == 6 and all(len(t["intermediate"]) == 3 for t in document["trials"]
                                                if t["state"] == "completed")
    copy = api.import_study(document, name=study_name + "-copy")
    assert copy.name == study_name + "-copy" and copy.info["trial_counts"]["total"] == 6
    again = api.export_study(copy.name)
    assert again == {**document, "study": {**document["study"], "name": copy.name}}
    assert api.import_study(document, name=copy.name).info == copy.info  # the same document: nothing written
    document["trials"][0]["metadata"] = {"changed": True}
    with pytest.raises(Conflict, match=r"trials\[0\]"):
        api.import_study(document, name=copy.name)


def test_the_suggest_command_exports_and_imports(api: Client, study_name: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    filled(api, study_name)
    path = tmp_path / "study.json"
    assert main(["--url", api.url, "export", study_name, "-o", str(path)]) == 0
    assert json.loads(path.read_text())["study"]["name"] == study_name
    assert main(["--url", api.url, "import", str(path), "--name", study_name + "-2"]) == 0
    assert "6 trials" in capsys.readouterr().err
    assert api.study(study_name + "-2").info["trial_counts"]["total"] == 6
    path.write_text(path.read_text().replace('"seed": 3', '"seed": NaN', 1))
    assert main(["--url", api.url, "import", str(path), "--name", study_name + "-3"]) == 1
    assert "not a study document" in capsys.readouterr().err
    assert main(["--url", api.url, "import", str(tmp_path / "missing.json")]) == 1
