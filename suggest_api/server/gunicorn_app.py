"""`suggest-api serve`: gunicorn, configured in code (no config file), with the buffering worker.

gunicorn's own limits on a request's head are set just above the front's (server/framing.py), which
refuses first with a problem+json answer; they stay as a second fence.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from typing import Any

from suggest_api.config import Settings

#: Thread pools of numpy's BLAS and OpenMP: one thread per worker. Requests are served by many worker
#: threads at once; a BLAS pool per process would only fight them for the cores (and busy-wait).
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def serve(settings: Settings) -> int:
    """gunicorn with the buffering worker, configured in code, until it stops."""
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


def ready_banner(host: str, port: int) -> str:
    """What `serve` prints once it listens: where the dashboard and the API documentation are."""
    shown = "localhost" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)
    base = f"http://{shown}:{port}"
    return f"suggest-api is listening on {base}: dashboard {base}/ui, API docs {base}/docs, API {base}/v1"


class _GunicornApp:
    """gunicorn's BaseApplication, configured in code so `serve` needs no config file."""

    def __new__(cls, settings: Settings) -> Any:
        from gunicorn.app.base import BaseApplication

        class App(BaseApplication):  # type: ignore[misc]
            #: Read by the worker (server/worker.py) for its deadlines and limits.
            settings: Settings

            def load_config(self) -> None:
                self.settings = settings
                limits = settings.limits
                options = {
                    "bind": f"{settings.host}:{settings.port}",
                    "workers": settings.workers,
                    "threads": settings.threads,
                    "worker_class": "suggest_api.server.worker.BufferingWorker",
                    "worker_connections": settings.max_connections,
                    "timeout": 60,
                    "graceful_timeout": 30,
                    "keepalive": settings.keepalive_timeout,
                    # a second fence behind the front's own limits (0: gunicorn's "unlimited" above its maximum)
                    "limit_request_line": limits.max_url_bytes + 64 if limits.max_url_bytes + 64 <= 8190 else 0,
                    "limit_request_fields": min(limits.max_headers + 1, 32768),
                    "limit_request_field_size": limits.max_header_bytes,
                    "accesslog": None,  # the app logs each request as JSON, with its request id
                    "control_socket_disable": True,  # one per user by default: servers side by side would clash
                    "errorlog": "-",
                    "loglevel": settings.log_level.lower(),
                    "logconfig_dict": _gunicorn_logging(settings.log_level),
                    "child_exit": _child_exit,
                    "post_worker_init": _post_worker_init,
                    # A JSON line like the rest of the log (gunicorn's own logger): where to point a browser.
                    "when_ready": lambda arbiter: arbiter.log.info(ready_banner(settings.host, settings.port)),
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
