"""Settings from the environment (stdlib only), so every worker and every CLI flag agree on one source."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./suggest.db"


#: The one route whose body is a whole study (POST, bounded by Limits.max_import_bytes instead of max_body_bytes).
IMPORT_PATH = "/v1/studies:import"


def body_limit(method: str, path: str, *, max_body_bytes: int, max_import_bytes: int) -> int:
    """The most bytes a request's body may hold: the import route's own limit, or every other route's."""
    if method == "POST" and path == IMPORT_PATH:
        return max(max_import_bytes, max_body_bytes)
    return max_body_bytes


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Bounds on what one request may ask for; each breach is a 4xx naming the limit."""

    max_body_bytes: int = 1024 * 1024
    max_count: int = 100
    max_params: int = 100
    max_choices: int = 1000
    max_name_length: int = 256
    max_import: int = 1000
    #: A whole study imported at once (POST /v1/studies:import, `suggest-api import`): at most this many trials,
    #: and over HTTP a body of at most this many bytes (that one route's limit instead of max_body_bytes).
    max_import_trials: int = 100_000
    max_import_bytes: int = 16 * 1024 * 1024
    #: The most rows (trials, reports, rung entries, queued params) GET /export answers, so that no answer (and
    #: no worker's memory) grows with a study; `suggest-api export` on the service's machine has no such bound.
    max_export_rows: int = 250_000
    #: GET /importance fits its forest to at most this many completed trials (the newest by number), so one
    #: answer costs a bounded time however large the study grows.
    max_importance_trials: int = 5000
    #: Largest grid a grid study may define (points are computed, never stored, so this is generous).
    max_grid_size: int = 10**10
    #: The HTTP front's limits on a request's head (suggest_api/server/framing.py): 414, 431 and 431.
    max_url_bytes: int = 8192
    max_header_bytes: int = 32768
    max_headers: int = 100
    #: Reports one trial may hold (409 past it), and the JSON a study's or trial's metadata may take (422).
    max_reports: int = 10_000
    max_metadata_bytes: int = 256 * 1024
    #: A page of studies or trials stops short of `limit` once its items pass this much JSON (it holds one at least).
    max_page_bytes: int = 8 * 1024 * 1024
    #: Milliseconds each statement of a GET's read may take (PostgreSQL statement_timeout, SQLite interrupt), then 503.
    max_read_ms: int = 5000


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 4
    log_level: str = "INFO"
    default_heartbeat_timeout: float = 300.0
    #: Connections each worker keeps (one per thread serves every request: a request holds at most one).
    #: Sizing: replicas x workers x (pool_size + max_overflow) must stay below PostgreSQL's
    #: max_connections minus its superuser_reserved_connections and whatever else connects.
    pool_size: int = 4
    max_overflow: int = 2
    #: Seconds a request waits for a free connection before answering 503.
    pool_timeout: float = 5.0
    #: PostgreSQL statement_timeout and lock_timeout (SQLite: the busy timeout), in seconds: a query or a
    #: lock wait that takes longer answers 503 instead of tying up a worker thread.
    statement_timeout: float = 30.0
    lock_timeout: float = 10.0
    #: Bayesian model fits one worker runs at once (each in its own low-priority process); more asks
    #: that need one answer 503 with Retry-After, so cheap requests keep their threads and CPU.
    max_model_fits: int = 1
    #: Seconds a model fit may take before it answers with the best it has; far below the request timeout.
    model_fit_budget: float = 5.0
    #: Seconds an Idempotency-Key is remembered; a retry after that is a new request.
    idempotency_ttl: float = 86400.0
    #: "off": every request acts as the team "default" with every right (a local, single-user service);
    #: "required": every request but health, readiness, metrics and the API docs needs a team's API key.
    auth: str = "off"
    #: Quotas of a team that has none of its own (`suggest-api teams set-quota` gives one its own).
    quota_max_studies: int = 10_000
    quota_max_running_trials: int = 10_000
    quota_max_trials_per_ask: int = 100
    #: Requests per key (per client address without one), e.g. "50/second;1000/minute"; empty: no limit.
    #: Needs `rate_limit_storage`, a store every worker and replica shares (redis://host:6379).
    rate_limit: str = ""
    rate_limit_storage: str = ""
    #: Seconds a request's headers may take from its first byte (a new connection that sends nothing is
    #: closed after it), and its body after the headers: a slower request is answered 408 and cut off. The
    #: body deadline also bounds how long a client may take to read its answer.
    request_header_timeout: float = 10.0
    request_body_timeout: float = 30.0
    #: Whole seconds an idle keep-alive connection stays open.
    keepalive_timeout: int = 5
    #: Connections one worker process holds at once (idle, arriving or being served); more wait in the
    #: listen backlog. Complete requests that wait for a thread, per worker, beyond which the front
    #: answers 503 with Retry-After.
    max_connections: int = 1000
    max_queued_requests: int = 64
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
        settings = replace(settings, **plain_overrides)
        _check(settings)
        return settings


#: Settings that must be a positive number (max_overflow may be 0).
_POSITIVE = ("workers", "threads", "pool_size", "pool_timeout", "statement_timeout", "lock_timeout",
             "max_model_fits", "model_fit_budget", "idempotency_ttl", "default_heartbeat_timeout",
             "quota_max_studies", "quota_max_running_trials", "quota_max_trials_per_ask",
             "request_header_timeout", "request_body_timeout", "keepalive_timeout", "max_connections",
             "max_queued_requests")
AUTH_MODES = ("off", "required")


def _check(settings: Settings) -> None:
    for name in _POSITIVE:
        value = getattr(settings, name)
        if not (math.isfinite(value) and value > 0):
            raise SystemExit(f"SUGGEST_{name.upper()}={value!r} must be a positive number")
    if settings.max_overflow < 0:
        raise SystemExit(f"SUGGEST_MAX_OVERFLOW={settings.max_overflow!r} must be 0 or more")
    if settings.max_connections <= settings.threads:
        raise SystemExit(f"SUGGEST_MAX_CONNECTIONS={settings.max_connections!r} must be more than SUGGEST_THREADS="
                         f"{settings.threads!r}: each thread serves one connection, the rest wait or keep alive")
    if settings.auth not in AUTH_MODES:
        raise SystemExit(f"SUGGEST_AUTH={settings.auth!r} must be one of: {', '.join(AUTH_MODES)}")
    if settings.rate_limit and (not settings.rate_limit_storage or settings.rate_limit_storage.startswith("memory")):
        raise SystemExit("SUGGEST_RATE_LIMIT needs SUGGEST_RATE_LIMIT_STORAGE, a store shared by every worker and "
                         "replica (redis://host:6379): counted in each process apart, a limit is not a limit")


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError as exc:
        raise SystemExit(f"SUGGEST_{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
