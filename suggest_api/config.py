"""Settings from the environment (stdlib only), so every worker and every CLI flag agree on one source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./suggest.db"


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Bounds on what one request may ask for; each breach is a 4xx naming the limit."""

    max_body_bytes: int = 1024 * 1024
    max_count: int = 100
    max_params: int = 100
    max_choices: int = 1000
    max_name_length: int = 256
    max_import: int = 1000
    #: Largest grid a grid study may define (points are computed, never stored, so this is generous).
    max_grid_size: int = 10**10


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 4
    log_level: str = "INFO"
    default_heartbeat_timeout: float = 300.0
    limits: Limits = Limits()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `SUGGEST_*` variables; explicit keyword overrides (CLI flags) win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name == "limits":
                continue
            raw = env.get("SUGGEST_" + field.name.upper())
            if raw is not None:
                values[field.name] = _convert(field.name, raw, type(getattr(cls(), field.name)))
        limit_values: dict[str, Any] = {}
        for field in fields(Limits):
            raw = env.get("SUGGEST_" + field.name.upper())
            if raw is not None:
                limit_values[field.name] = _convert(field.name, raw, int)
        settings = cls(**values, limits=Limits(**limit_values))
        limit_overrides = {k: v for k, v in overrides.items() if k in {f.name for f in fields(Limits)}}
        plain_overrides = {k: v for k, v in overrides.items() if k not in limit_overrides and v is not None}
        if limit_overrides:
            settings = replace(settings, limits=replace(settings.limits, **limit_overrides))
        return replace(settings, **plain_overrides)


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError as exc:
        raise SystemExit(f"SUGGEST_{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
