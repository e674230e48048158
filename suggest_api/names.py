"""Names that users choose (studies, objectives, clients, teams, key labels), and the metadata they attach:
what makes one acceptable.

The rule is a regular expression (`name_pattern`), so the OpenAPI document states it exactly and a client
can check a name before sending it: no control, format (invisible) or private-use character (Unicode
categories Cc, Cf, Co), and at least one character that is not a space. Unassigned code points are
allowed: listing them would take hundreds of ranges, they are neither controls nor invisible, and
refusing them made a name's validity depend on the server's Unicode version. Lone surrogates (Cs), which
a JSON string can spell but no Unicode string holds, are refused too, outside the documented pattern
(most regex engines cannot even name them).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any

from suggest_api.config import Limits
from suggest_api.errors import InvalidInput

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co"})
SURROGATES = "\\ud800-\\udfff"


def _char(code: int) -> str:
    """One character of a class: escaped in the BMP (`\\uXXXX` reads the same in Python, Rust and ECMA-262),
    itself above it (each engine has its own escape there, all read the character)."""
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


@cache
def refused_class() -> str:
    """The characters a name may not hold, as the body of a regex class."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in REFUSED_CATEGORIES:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(_char(low) if low == high else f"{_char(low)}-{_char(high)}" for low, high in ranges)


@cache
def spaces_class() -> str:
    """What `str.strip` strips and the refused class leaves: a name must hold something else."""
    refused = re.compile(f"[{refused_class()}]")
    return "".join(_char(code) for code in range(sys.maxunicode + 1)
                   if chr(code).isspace() and not refused.match(chr(code)))


@cache
def name_pattern(*, no_slash: bool = False) -> str:
    """A whole name (`no_slash`: a study name, which is part of URLs)."""
    refused = refused_class() + ("/\\\\" if no_slash else "")
    return f"^[^{refused}]*[^{spaces_class()}{refused}][^{refused}]*$"


@cache
def _refused() -> re.Pattern[str]:
    return re.compile(f"[{refused_class()}{SURROGATES}]")


def check_name(field_name: str, value: str, limits: Limits) -> None:
    """Names appear in URLs, logs and terminals: bounded, printable, no slash."""
    problems = []
    if not value.strip():
        problems.append("must not be empty or only spaces")
    if len(value) > limits.max_name_length:
        problems.append(f"must be at most {limits.max_name_length} characters (got {len(value)})")
    if any(ch in value for ch in "/\\") and field_name == "name":
        problems.append("must not contain '/' or '\\' (it is part of the URL)")
    if _refused().search(value):
        problems.append("must not contain control, invisible or private-use characters")
    if problems:
        raise InvalidInput(f"{field_name} {problems[0]}", errors={field_name: problems})


def json_size(value: Any) -> int:
    """Bytes of `value` as the service writes it in answers: compact JSON, non-ASCII escaped."""
    return len(json.dumps(value, separators=(",", ":")))


def check_metadata(field_name: str, value: Mapping[str, Any] | None, limits: Limits) -> None:
    """Metadata is free JSON, stored and answered as given: bounded, so no answer that holds it can grow
    without limit (a tell merges into what the trial has, and the merged object is what is checked)."""
    if value is None:
        return
    size = json_size(value)
    if size > limits.max_metadata_bytes:
        raise InvalidInput(f"{field_name} takes {size:,} bytes as JSON, above the limit of "
                           f"{limits.max_metadata_bytes:,} (SUGGEST_MAX_METADATA_BYTES); store large things "
                           "elsewhere and put a reference in metadata",
                           errors={field_name: [f"must be at most {limits.max_metadata_bytes} bytes as JSON"]})
