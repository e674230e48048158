"""A real browser renders /docs: Swagger UI's scripts come from the service itself and draw the API.

Headless Chromium (Debian's `chromium` package) loads the page from a real `suggest-api serve`.
Nothing outside this machine is reachable here, so operations on the rendered page prove that the
UI's JavaScript was served locally and that it fetched and rendered /openapi.json.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.support.servers import Server, StartServer

pytestmark = pytest.mark.slow

BROWSER_TIMEOUT_S = 120
WINDOW = (1280, 1600)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=10000"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium() -> str:
    """The browser; skipped only on a developer's machine without it, a failure in CI (CI set)."""
    path = shutil.which("chromium")
    if path is None:
        message = "Chromium is not installed: apt-get update && apt-get install -y chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def server(serve: StartServer, tmp_path: Path) -> Server:
    chromium()  # skip before starting a server for nothing
    return serve(f"sqlite:///{tmp_path / 'suggest.db'}", workers=1)


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    result = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                            capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"chromium failed ({result.returncode}):\n{result.stderr[-4000:]}"
    return result


def test_docs_page_renders_every_operation(server: Server, tmp_path: Path) -> None:
    dom = run_chromium(tmp_path, "--dump-dom", f"{server.base_url}/docs").stdout
    assert 'class="swagger-ui' in dom, dom[:2000]
    assert "opblock" in dom, "Swagger UI drew no operation blocks:\n" + dom[:2000]
    for path in ("/v1/studies/{name}/ask", "/v1/studies/{name}/tell", "/v1/studies/{name}/best", "/healthz"):
        assert f'data-path="{path}"' in dom, path
    assert "Failed to load API definition" not in dom
    served = served_paths(server)
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css", "/openapi.json"):
        assert asset in served, f"{asset} was not served by the service (it served {sorted(served)})"


def test_docs_page_screenshot_is_a_real_picture(server: Server, tmp_path: Path) -> None:
    shot = tmp_path / "docs.png"
    run_chromium(tmp_path, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}",
                 f"{server.base_url}/docs")
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert (width, height) == WINDOW
    assert distinct_bytes(data) > 32, "the screenshot is (nearly) one flat colour: nothing was drawn"
    assert len(data) > 20_000


def served_paths(server: Server) -> set[str]:
    """Paths the service answered with 200, from its JSON access log lines."""
    paths = set()
    for line in server.log_lines():
        try:
            entry = json.loads(line)
        except ValueError:  # gunicorn's own plain-text lines
            continue
        if isinstance(entry, dict) and entry.get("status") == 200 and "path" in entry:
            paths.add(entry["path"])
    return paths


def distinct_bytes(png: bytes) -> int:
    """How many different byte values the decompressed pixel rows hold: a blank page has very few."""
    pixels, offset = b"", len(PNG_SIGNATURE)
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset:offset + 4])
        kind = png[offset + 4:offset + 8]
        if kind == b"IDAT":
            pixels += png[offset + 8:offset + 8 + length]
        offset += 12 + length
    return len(set(zlib.decompress(pixels)))
