"""Settings come from SUGGEST_* variables; CLI flags override them."""

from __future__ import annotations

import pytest

from suggest_api.config import Settings


def test_environment_and_overrides() -> None:
    env = {"SUGGEST_DATABASE_URL": "sqlite:///x.db", "SUGGEST_WORKERS": "3", "SUGGEST_MAX_COUNT": "7"}
    settings = Settings.from_env(env, port=9001)
    assert settings.database_url == "sqlite:///x.db" and settings.workers == 3 and settings.port == 9001
    assert settings.limits.max_count == 7 and settings.limits.max_body_bytes == 1024 * 1024
    assert Settings.from_env(env, workers=5, max_count=9).limits.max_count == 9


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(SystemExit, match="SUGGEST_WORKERS"):
        Settings.from_env({"SUGGEST_WORKERS": "many"})
