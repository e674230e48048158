"""The JavaScript client against a service that requires API keys: clients/js/test/auth.test.js.

That file needs a server with SUGGEST_AUTH=required and keys made on its database, which the suite's
plain run (test_js_client.py, an open server) has not: there it skips itself, and here it runs alone.
"""

from __future__ import annotations

import pytest

from tests.js.support import run_node_tests, tap_count
from tests.support.databases import sessions_on
from tests.support.servers import StartServer
from tests.support.teams import make_team_with_keys

AUTH_TESTS = "clients/js/test/auth.test.js"
#: Tests in AUTH_TESTS; every one must run (none skipped) when the keys are given.
EXPECTED_TESTS = 7


@pytest.mark.slow
def test_js_client_authenticates_against_a_secured_server(database_url: str, serve: StartServer) -> None:
    with sessions_on(database_url) as sessions:
        alpha, beta = make_team_with_keys(sessions, "js-alpha"), make_team_with_keys(sessions, "js-beta")
    server = serve(database_url, workers=2, env={"SUGGEST_AUTH": "required"})
    output = run_node_tests(AUTH_TESTS, SUGGEST_TEST_URL=server.base_url, SUGGEST_TEST_KEY=alpha.member,
                            SUGGEST_TEST_READ_KEY=alpha.read, SUGGEST_TEST_OTHER_KEY=beta.member)
    assert tap_count(output, "skipped") == 0, output
    assert tap_count(output, "pass") == EXPECTED_TESTS, output
