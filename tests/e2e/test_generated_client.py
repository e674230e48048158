"""The OpenAPI document is complete enough for a generated client: generate one, run an ask/tell loop.

`openapi-python-client` (a public generator, run offline from a file) turns the service's document
into a typed Python package; it must do so without a single warning (its warnings name the parts of a
document it could not use). `generated_client_loop.py` then drives a real `suggest-api serve` on each
backend through the generated functions and models only: create a Bayesian study with a float, an
int, a categorical and a conditional parameter, eight ask -> train -> tell rounds (one told failed),
the best trial, the trial list page by page, and the documented errors (404, 409, 422) parsed as the
problem model. The loop also type-checks (mypy --strict) against the generated package, so the
models it uses are typed as the answers are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from suggest_api.app import create_app
from suggest_api.config import Settings
from tests.support.databases import sessions_on
from tests.support.servers import HTTP_TIMEOUT_S, StartServer
from tests.support.teams import make_team_with_keys

pytestmark = pytest.mark.slow

GENERATOR = str(Path(sys.executable).with_name("openapi-python-client"))
LOOP = Path(__file__).with_name("generated_client_loop.py")
PACKAGE = "suggest_api_client"
RUN_TIMEOUT_S = 300.0


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document the service serves (the same for every backend; create_app connects to nothing)."""
    app = create_app(Settings(database_url="sqlite://"))
    with app.test_client() as client:
        response = client.get("/openapi.json")
    app.extensions["suggest_api"].engine.dispose()
    assert response.status_code == 200
    spec: dict[str, Any] = response.get_json()
    return spec


@pytest.fixture(scope="module")
def generated(document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory holding the generated package `suggest_api_client`, generated once per module."""
    workdir = tmp_path_factory.mktemp("generated-client")
    spec_path = workdir / "openapi.json"
    spec_path.write_text(json.dumps(document), encoding="utf-8")
    config = workdir / "generator.json"  # no post hooks: the generated code is used as generated
    config.write_text(json.dumps({"post_hooks": []}), encoding="utf-8")
    output = workdir / "packages" / PACKAGE
    result = run([GENERATOR, "generate", "--path", str(spec_path), "--output-path", str(output),
                  "--meta", "none", "--config", str(config), "--fail-on-warning"], workdir)
    printed = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, printed
    # It prints only "Generating <path>" for a document it fully understood; anything else is a
    # warning or error about the document (an unsupported schema, a missing reference, a bad name).
    assert [line for line in printed.splitlines() if not line.startswith("Generating ")] == [], printed
    for module in ("api/studies/create_study.py", "api/trials/ask.py", "api/trials/tell.py",
                   "api/trials/get_best.py", "api/trials/list_trials.py", "models/problem_out.py"):
        assert (output / module).is_file(), module
    return output.parent


def test_the_loop_type_checks_against_the_generated_client(generated: Path, tmp_path: Path) -> None:
    """mypy --strict on the loop, reading the generated package: the models are used as typed."""
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\nfollow_imports = silent\nwarn_unused_ignores = False\n")
    result = run([sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(tmp_path / "cache"),
                  str(LOOP)], tmp_path, MYPYPATH=str(generated))
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_client_runs_an_ask_tell_loop(generated: Path, document: dict[str, Any], serve: StartServer,
                                                database_url: str, tmp_path: Path) -> None:
    server = serve(database_url, workers=2, env={"SUGGEST_AUTH": "required"})
    with sessions_on(database_url) as sessions:
        key = make_team_with_keys(sessions, "generated").member
    with requests.get(f"{server.base_url}/openapi.json", timeout=HTTP_TIMEOUT_S) as response:
        assert response.status_code == 200
        assert response.json() == document, "the served document is not the one the client was generated from"

    result = run([sys.executable, str(LOOP), server.base_url, "generated", key], tmp_path, PYTHONPATH=str(generated))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    told = {int(number): value for number, value in summary["told"].items()}
    assert sorted(told) == list(range(8))
    completed = {number: value for number, value in told.items() if value is not None}
    assert len(completed) == 7 and summary["failed"] == [number for number in told if told[number] is None]
    assert summary["best"]["value"] == min(completed.values()) == completed[summary["best"]["number"]]
    assert summary["states"] == {str(n): "completed" if n in completed else "failed" for n in told}
    assert summary["counts"] == {"running": 0, "completed": 7, "failed": 1, "pruned": 0, "total": 8}

    problems = summary["problems"]
    assert problems["conflict"]["status"] == 409
    for name in ("not_found", "ask_not_found", "deleted"):
        assert problems[name]["status"] == 404
        assert problems[name]["type"] == "urn:suggest-api:problem:not-found", problems[name]
    assert problems["bad_count"]["status"] == 422 and "count" in problems["bad_count"]["errors"]
    assert problems["bad_space"]["type"] == "urn:suggest-api:problem:invalid-space"
    assert "params[0].low" in problems["bad_space"]["errors"], problems["bad_space"]
