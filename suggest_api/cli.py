"""The `suggest-api` command: serve (migrate, then gunicorn), migrate, --version."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from suggest_api import __version__
from suggest_api.config import Limits, Settings

#: Settings with a flag of the same name (README: "Running many workers and replicas").
RELIABILITY_SETTINGS = ("pool_size", "max_overflow", "pool_timeout", "statement_timeout", "lock_timeout",
                        "max_model_fits", "model_fit_budget", "idempotency_ttl")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="suggest-api", description="A service that suggests hyperparameters.")
    parser.add_argument("--version", action="version", version=f"suggest-api {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run migrations, then serve HTTP with gunicorn")
    _database_flag(serve)
    serve.add_argument("--host", help="address to bind (SUGGEST_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (SUGGEST_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="gunicorn worker processes (SUGGEST_WORKERS, default 2)")
    serve.add_argument("--threads", type=int, help="threads per worker (SUGGEST_THREADS, default 4)")
    serve.add_argument("--log-level", help="SUGGEST_LOG_LEVEL, default INFO")
    serve.add_argument("--default-heartbeat-timeout", type=float,
                       help="seconds, for studies that name none (SUGGEST_DEFAULT_HEARTBEAT_TIMEOUT, default 300)")
    for name in RELIABILITY_SETTINGS:
        default = getattr(Settings(), name)
        serve.add_argument("--" + name.replace("_", "-"), type=type(default),
                           help=f"SUGGEST_{name.upper()}, default {default:g}")
    for field in fields(Limits):
        flag = "--" + field.name.replace("_", "-")
        serve.add_argument(flag, type=int, help=f"SUGGEST_{field.name.upper()}, default {field.default}")

    migrate = commands.add_parser("migrate", help="bring the database schema to this version's head")
    _database_flag(migrate)

    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    settings = Settings.from_env(**overrides)
    if args.command == "migrate":
        _migrate(settings)
        print(f"database at {_redacted(settings.database_url)} is at the latest schema")
        return 0
    _migrate(settings)
    return _serve(settings)


def _database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SUGGEST_DATABASE_URL, default sqlite:///./suggest.db")


def _migrate(settings: Settings) -> None:
    from suggest_api.storage.database import make_engine
    from suggest_api.storage.migrate import upgrade

    engine = make_engine(settings.database_url, settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


#: Thread pools of numpy's BLAS and OpenMP: one thread per worker. Requests are served by many worker
#: threads at once; a BLAS pool per process would only fight them for the cores (and busy-wait).
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _serve(settings: Settings) -> int:
    for variable in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")  # before any worker imports numpy (they do after the fork)
    # Must be set before any worker imports prometheus_client (the app factory does, after fork).
    metrics_dir = tempfile.mkdtemp(prefix="suggest-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    master = os.getpid()
    try:
        _GunicornApp(settings).run()
    finally:
        # Workers are forked inside run(): an exiting worker unwinds through this block too.
        if os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


class _GunicornApp:
    """gunicorn's BaseApplication, configured in code so `serve` needs no config file."""

    def __new__(cls, settings: Settings) -> Any:
        from gunicorn.app.base import BaseApplication

        class App(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                options = {
                    "bind": f"{settings.host}:{settings.port}",
                    "workers": settings.workers,
                    "threads": settings.threads,
                    "worker_class": "gthread",
                    "timeout": 60,
                    "graceful_timeout": 30,
                    "keepalive": 5,
                    "accesslog": None,  # the app logs each request as JSON, with its request id
                    "control_socket_disable": True,  # one per user by default: servers side by side would clash
                    "errorlog": "-",
                    "loglevel": settings.log_level.lower(),
                    "logconfig_dict": _gunicorn_logging(settings.log_level),
                    "child_exit": _child_exit,
                    "post_worker_init": _post_worker_init,
                }
                for key, value in options.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                from suggest_api.app import create_app

                return create_app(settings)

        return App()


def _gunicorn_logging(level: str) -> dict[str, Any]:
    """gunicorn's own lines (booting, signals, worker exits) as JSON too, so one log pipeline reads all."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "suggest_api.logs.JsonFormatter"}},
        "handlers": {"error_console": handler, "console": handler},
        "loggers": {"gunicorn.error": {"level": level.upper(), "handlers": ["error_console"], "propagate": False},
                    # the app writes one access line per request, with its request id; gunicorn's would repeat it
                    "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False}},
        "root": {"level": "WARNING", "handlers": ["console"]},
    }


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _post_worker_init(worker: Any) -> None:
    """On SIGTERM, /readyz answers 503 while in-flight requests finish."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        runtime = worker.wsgi.extensions.get("suggest_api")
        if runtime is not None:
            runtime.shutting_down = True
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


if __name__ == "__main__":
    sys.exit(main())
