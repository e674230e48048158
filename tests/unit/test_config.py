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


@pytest.mark.parametrize("variable", ["SUGGEST_POOL_SIZE=0", "SUGGEST_LOCK_TIMEOUT=nan", "SUGGEST_MAX_MODEL_FITS=-1",
                                      "SUGGEST_MAX_OVERFLOW=-2", "SUGGEST_IDEMPOTENCY_TTL=inf"])
def test_a_setting_out_of_range_names_the_variable(variable: str) -> None:
    name, value = variable.split("=")
    with pytest.raises(SystemExit, match=name):
        Settings.from_env({name: value})


def test_reliability_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"SUGGEST_POOL_SIZE": "2", "SUGGEST_MAX_OVERFLOW": "0", "SUGGEST_LOCK_TIMEOUT": "1.5",
                                  "SUGGEST_MAX_MODEL_FITS": "3"})
    assert (settings.pool_size, settings.max_overflow, settings.lock_timeout, settings.max_model_fits) == (2, 0, 1.5, 3)


def test_the_ready_banner_names_the_dashboard_at_an_address_a_browser_can_open() -> None:
    from suggest_api.server.gunicorn_app import ready_banner

    assert "dashboard http://127.0.0.1:8000/ui" in ready_banner("127.0.0.1", 8000)
    assert "dashboard http://localhost:80/ui" in ready_banner("0.0.0.0", 80)
    assert "API docs http://[::1]:9000/docs" in ready_banner("::1", 9000)
