"""The README and docs/ tell the truth: the set-up commands are the ones CI runs, the walkthrough works,
the configuration table lists every setting, and every relative link leads somewhere.

The walkthrough (the README's one ```bash block) runs with bash, as written, against a real
`suggest-api serve` process on SQLite and on PostgreSQL; only BASE is set, to that server.
Links are checked in README.md, docs/*.md and benchmarks/README.md: each relative target must exist,
and a `#fragment` must name a heading of the target by GitHub's anchor rules.
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

from tests.support.servers import StartServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
OPERATIONS = ROOT / "docs" / "operations.md"
LINKED_DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
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

    rows = [line for line in OPERATIONS.read_text(encoding="utf-8").splitlines() if line.startswith("| `SUGGEST_")]
    documented = {line.split("`")[1] for line in rows}
    names = {f"SUGGEST_{f.name.upper()}" for f in (*fields(Settings), *fields(Limits)) if f.name != "limits"}
    assert names == documented, (sorted(names - documented), sorted(documented - names))


FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (```, ~~~), whose content is code, not Markdown."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # a link counts by its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        heading = HEADING.match(line)
        if heading:
            slug = anchor(heading.group(2))
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


def relative_links(path: Path) -> list[str]:
    """The targets of the file's Markdown links and images that are not URLs (inline code left out)."""
    text = "\n".join(re.sub(r"`[^`]*`", "", line) for line in prose_lines(path.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text) if not SCHEME.match(target)]


def broken_link(path: Path, target: str) -> str | None:
    """Why a relative link from `path` leads nowhere, or None when it leads to a file (and heading)."""
    file_part, _, fragment = target.partition("#")
    linked = (path.parent / file_part).resolve() if file_part else path
    if not linked.exists():
        return f"{target}: no file {linked.relative_to(ROOT) if linked.is_relative_to(ROOT) else linked}"
    if fragment:
        if linked.suffix != ".md":
            return f"{target}: a #fragment into a file that is not Markdown"
        if fragment not in anchors(linked):
            return f"{target}: no heading with the anchor #{fragment} in {linked.relative_to(ROOT)}"
    return None


def test_anchors_follow_githubs_rules() -> None:
    assert anchor("Teams, keys and quotas") == "teams-keys-and-quotas"
    assert anchor("Python: `suggest-client`") == "python-suggest-client"
    assert anchor("An ask's cost as the study grows") == "an-asks-cost-as-the-study-grows"
    assert anchor("Results, 2026-11-22") == "results-2026-11-22"
    assert anchor("ask_cost") == "ask_cost"
    assert anchor("[grid](suggesters.md#grid) and *bayesian*") == "grid-and-bayesian"


def test_the_readme_links_to_every_page_of_docs() -> None:
    pages = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert pages, "docs/*.md should exist"
    linked = {Path(target.partition("#")[0]).name for target in relative_links(README)
              if target.startswith("docs/")}
    assert pages <= linked, f"the README should link to {sorted(pages - linked)}"


@pytest.mark.parametrize("path", LINKED_DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_and_heading_that_exist(path: Path) -> None:
    broken = [reason for target in relative_links(path) if (reason := broken_link(path, target))]
    assert not broken, f"{path.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)
