"""The JavaScript client's multi-objective tests (clients/js/test/multiobjective.test.js) against a real server.

test_js_client.py runs that file too, with the rest of the suite; here it runs alone, so a failure
names multi-objective support, and every one of its tests must run on each backend.
"""

from __future__ import annotations

import pytest

from tests.js.support import run_node_tests, tap_count
from tests.support.servers import StartServer

MO_TESTS = "clients/js/test/multiobjective.test.js"
#: Tests in MO_TESTS; none may be skipped or silently disappear.
EXPECTED_TESTS = 4


@pytest.mark.slow
def test_js_client_multi_objective_studies(database_url: str, serve: StartServer) -> None:
    server = serve(database_url, workers=2)
    output = run_node_tests(MO_TESTS, SUGGEST_TEST_URL=server.base_url)
    assert tap_count(output, "skipped") == 0, output
    assert tap_count(output, "pass") == EXPECTED_TESTS, output
