"""Names that users choose (studies, objectives, clients, teams, key labels): what makes one acceptable."""

from __future__ import annotations

import unicodedata

from suggest_api.config import Limits
from suggest_api.errors import InvalidInput


def check_name(field_name: str, value: str, limits: Limits) -> None:
    """Names appear in URLs, logs and terminals: bounded, printable, no slash."""
    problems = []
    if not value.strip():
        problems.append("must not be empty or only spaces")
    if len(value) > limits.max_name_length:
        problems.append(f"must be at most {limits.max_name_length} characters (got {len(value)})")
    if any(ch in value for ch in "/\\") and field_name == "name":
        problems.append("must not contain '/' or '\\' (it is part of the URL)")
    if any(_is_control(ch) for ch in value):
        problems.append("must not contain control characters")
    if problems:
        raise InvalidInput(f"{field_name} {problems[0]}", errors={field_name: problems})


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"}
