"""The JavaScript client against a service that requires API keys: clients/js/test/auth.test.js.

That file needs a server with SUGGEST_AUTH=required and keys made on its database, which the suite's
plain run (test_js_client.py, an open server) has not: there it skips itself, and here it runs alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from suggest_api.storage.database import make_engine, make_sessions
from tests.js.test_js_client import NODE_TIMEOUT_S, ROOT, tap_count
from tests.servers import StartServer
from tests.teams import make_team_with_keys

AUTH_TESTS = "clients/js/test/auth.test.js"
#: Tests in AUTH_TESTS; every one must run (none skipped) when the keys are given.
EXPECTED_TESTS = 7


@pytest.mark.slow
def test_js_client_authenticates_against_a_secured_server(database_url: str, serve: StartServer) -> None:
    node = shutil.which("node")
    assert node is not None, "the JavaScript client tests need `node` (>= 18) on PATH; install Node.js"
    engine = make_engine(database_url)
    try:
        sessions = make_sessions(engine)
        alpha, beta = make_team_with_keys(sessions, "js-alpha"), make_team_with_keys(sessions, "js-beta")
    finally:
        engine.dispose()
    server = serve(database_url, workers=2, env={"SUGGEST_AUTH": "required"})
    env = {k: v for k, v in os.environ.items() if k not in ("SUGGEST_URL", "SUGGEST_TOKEN", "NODE_OPTIONS")}
    env.update(SUGGEST_TEST_URL=server.base_url, SUGGEST_TEST_KEY=alpha.member, SUGGEST_TEST_READ_KEY=alpha.read,
               SUGGEST_TEST_OTHER_KEY=beta.member)
    try:
        result = subprocess.run([node, "--test", "--test-reporter=tap", AUTH_TESTS], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"node --test ran over {NODE_TIMEOUT_S} s; output so far:\n{timeout.stdout!r}\n{timeout.stderr!r}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"node --test failed ({result.returncode}):\n{output}"
    assert tap_count(output, "fail") == 0, output
    assert tap_count(output, "skipped") == 0, output
    assert tap_count(output, "pass") == EXPECTED_TESTS, output
