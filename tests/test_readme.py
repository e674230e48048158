"""The README tells the truth: its set-up commands are the ones CI runs, and its walkthrough works.

The walkthrough (the README's one ```bash block) runs with bash, as written, against a real
`suggest-api serve` process on SQLite and on PostgreSQL; only BASE is set, to that server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.servers import StartServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_SCRIPT = ROOT / ".ci" / "run"
RUN_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/suggest-api serve"
TEST_COMMAND = ("python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 && "
                ".venv/bin/pip install -q -e '.[test]' -e './clients/python[torch]' && .venv/bin/pytest")
WALKTHROUGH_TIMEOUT_S = 120


def readme_lines() -> list[str]:
    return README.read_text(encoding="utf-8").splitlines()


def walkthrough() -> str:
    blocks = re.findall(r"^```bash\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert len(blocks) == 1, f"the README should have exactly one ```bash block (the walkthrough), has {len(blocks)}"
    block: str = blocks[0]
    return block


def require_tools(*names: str) -> None:
    """Skip where a tool is missing on a developer's machine; in CI (CI set) a missing tool fails."""
    missing = [name for name in names if shutil.which(name) is None]
    if not missing:
        return
    message = f"the walkthrough needs {', '.join(missing)} (apt-get install -y {' '.join(missing)})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_readme_gives_the_two_set_up_commands_on_their_own_lines() -> None:
    lines = readme_lines()
    assert RUN_COMMAND in lines
    assert TEST_COMMAND in lines


def test_ci_runs_the_readme_test_command_word_for_word() -> None:
    assert TEST_COMMAND in CI_SCRIPT.read_text(encoding="utf-8").splitlines()


def test_walkthrough_uses_the_base_variable_and_json_headers() -> None:
    script = walkthrough()
    assert script.startswith("BASE=${BASE:-http://127.0.0.1:8000}\n")
    assert "127.0.0.1:8000" not in script.split("\n", 1)[1], "every later URL should go through $BASE"
    for command in re.split(r"\n(?=curl |\w+=\$\(curl )", script):
        if "-X POST" in command:
            assert "-H 'Content-Type: application/json'" in command, command


@pytest.mark.slow
def test_walkthrough_runs_as_written_against_a_real_server(database_url: str, tmp_path: Path,
                                                           serve: StartServer) -> None:
    require_tools("bash", "curl", "jq")
    script = walkthrough()
    told = re.search(r"^VALUE=(\S+)$", script, flags=re.M)
    study = re.search(r"/v1/studies/([^/\"]+)/tell", script)
    assert told and study, "the walkthrough should set VALUE=... and tell a study"
    server = serve(database_url, workers=2)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                            env={**os.environ, "BASE": server.base_url}, capture_output=True, text=True,
                            timeout=WALKTHROUGH_TIMEOUT_S, check=False)
    assert result.returncode == 0, (f"the walkthrough failed ({result.returncode})\n--- stdout\n{result.stdout}"
                                    f"\n--- stderr\n{result.stderr}\n--- server log\n{server.log_text[-4000:]}")
    completed = get_json(f"{server.base_url}/v1/studies/{study.group(1)}/trials?state=completed")["trials"]
    best = get_json(f"{server.base_url}/v1/studies/{study.group(1)}/best")
    assert [trial["value"] for trial in completed] == [float(told.group(1))]
    assert best["number"] == completed[0]["number"]
    assert "same study again: HTTP 200" in result.stdout


def test_every_setting_is_in_the_configuration_table() -> None:
    from dataclasses import fields

    from suggest_api.config import Limits, Settings

    rows = [line for line in readme_lines() if line.startswith("| `SUGGEST_")]
    documented = {line.split("`")[1] for line in rows}
    names = {f"SUGGEST_{f.name.upper()}" for f in (*fields(Settings), *fields(Limits)) if f.name != "limits"}
    assert names == documented, (sorted(names - documented), sorted(documented - names))
