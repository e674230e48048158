"""The installed `suggest-api` command: its version, and settings taken from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

import suggest_api
from tests.e2e.support import call, expect
from tests.support.servers import StartServer, run_cli


@pytest.mark.slow
def test_version_flag_prints_the_package_version(tmp_path: Path) -> None:
    """Operators and bug reports quote this; it must be the version the package declares."""
    result = run_cli(["--version"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"suggest-api {suggest_api.__version__}"


@pytest.mark.slow
def test_serve_listens_on_suggest_port_without_a_port_flag(serve: StartServer, tmp_path: Path,
                                                           http: requests.Session) -> None:
    """Containers configure by environment: SUGGEST_PORT alone decides where `serve` listens."""
    server = serve(f"sqlite:///{tmp_path / 'env.db'}", workers=1, port_in_env=True)
    args = server.process.args
    assert isinstance(args, list) and "--port" not in args
    assert any(f"Listening at: {server.base_url}" in line for line in server.log_lines())
    port = server.base_url.rsplit(":", 1)[1]
    assert f"dashboard http://127.0.0.1:{port}/ui, API docs http://127.0.0.1:{port}/docs" in server.log_text
    assert expect(call(http, "GET", f"{server.base_url}/readyz"), 200)["status"] == "ready"
