"""The JavaScript client (clients/js) passes its own node:test suite against a real server.

The node tests need a live service (SUGGEST_TEST_URL): this starts `suggest-api serve` on each
backend and runs `node --test` against it, so the client is checked on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import pytest

from tests.js.support import run_node_tests, tap_count
from tests.support.servers import StartServer

JS_TESTS = "clients/js/test/"
#: Tests in clients/js/test/*.test.js; more may be added, none may silently disappear.
EXPECTED_TESTS = 22


@pytest.mark.slow
def test_js_client_suite_passes_against_a_real_server(database_url: str, serve: StartServer) -> None:
    server = serve(database_url, workers=2)
    output = run_node_tests(JS_TESTS, SUGGEST_TEST_URL=server.base_url)
    assert tap_count(output, "pass") >= EXPECTED_TESTS, output
