"""Running the JavaScript client's node:test suites and reading their TAP summary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_TIMEOUT_S = 120


def tap_count(output: str, name: str) -> int:
    """A count from the TAP summary that `node --test` prints last, e.g. `# pass 19`."""
    found = re.findall(rf"^# {name} (\d+)$", output, flags=re.M)
    assert found, f"no '# {name}' line in node's TAP output:\n{output}"
    return int(found[-1])


def run_node_tests(tests: str, **env: str) -> str:
    """`node --test` on `tests` (TAP output), with `env` added to this environment less a developer's
    SUGGEST_URL and SUGGEST_TOKEN (the client's defaults); fails on a non-zero exit, a failed or a
    cancelled test."""
    node = shutil.which("node")
    assert node is not None, "the JavaScript client tests need `node` (>= 18) on PATH; install Node.js"
    full_env = {k: v for k, v in os.environ.items() if k not in ("SUGGEST_URL", "SUGGEST_TOKEN", "NODE_OPTIONS")}
    full_env.update(env)
    try:
        result = subprocess.run([node, "--test", "--test-reporter=tap", tests], cwd=ROOT, env=full_env,
                                capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"node --test ran over {NODE_TIMEOUT_S} s; output so far:\n{timeout.stdout!r}\n{timeout.stderr!r}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"node --test failed ({result.returncode}):\n{output}"
    assert tap_count(output, "fail") == 0, output
    assert tap_count(output, "cancelled") == 0, output
    return output
