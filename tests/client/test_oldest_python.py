"""The client claims Python >= 3.9: install it into a Python 3.9 virtualenv and run a study with it.

Needs a Python 3.9 interpreter: $SUGGEST_TEST_PYTHON39, `python3.9` on PATH, or pyenv's.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.servers import Server

pytestmark = pytest.mark.slow

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "python"
LOOP = textwrap.dedent("""
    import sys
    from suggest_client import Client, TrialPruned, errors

    assert sys.version_info[:2] == (3, 9), sys.version
    api = Client(sys.argv[1])
    study = api.create_study(sys.argv[2], [{"name": "x", "type": "float", "low": 0, "high": 1}], seed=1)
    study.optimize(lambda t: t.params["x"] ** 2, 4, n_workers=2)
    with study.trial() as trial:
        trial.value = 1.0
    try:
        with study.trial() as trial:
            raise TrialPruned()
    except TrialPruned:
        raise SystemExit("TrialPruned escaped the with block")
    try:
        api.study(sys.argv[2] + "-missing")
    except errors.NotFound:
        pass
    states = sorted(t.state for t in study.trials())
    assert states == ["completed"] * 5 + ["pruned"], states

    def branching(trial):  # define-by-run: the first trials define the space
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return trial.suggest_float("y", -1, 1) ** 2 if kind == "a" else 0.5
    defined = api.create_study(sys.argv[2] + "-dbr", seed=2)
    defined.optimize(branching, 4)
    space = api.study(sys.argv[2] + "-dbr").info["space"]["params"]
    assert [p["name"] for p in space] == ["kind", "y"] and space[1]["when"] == {"kind": ["a"]}, space
    print("ok", study.best().value)
""")


def python39() -> str:
    candidates = [os.environ.get("SUGGEST_TEST_PYTHON39"), shutil.which("python3.9"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "--version"], capture_output=True, check=False).returncode == 0:
            return candidate
    pytest.fail("no Python 3.9 found: install one (pyenv install 3.9) or set SUGGEST_TEST_PYTHON39")


def test_the_client_installs_and_runs_on_python_3_9(server: Server, study_name: str, tmp_path: Path) -> None:
    venv = tmp_path / "py39"
    subprocess.run([python39(), "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(CLIENT_DIR)],
                             capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stderr
    result = subprocess.run([str(venv / "bin" / "python"), "-c", LOOP, server.base_url, study_name],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok ")
    cli = subprocess.run([str(venv / "bin" / "suggest"), "--url", server.base_url, "show", study_name],
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0 and f'"name": "{study_name}"' in cli.stdout, cli.stderr
