"""Prometheus metrics. Under gunicorn, `suggest-api serve` sets PROMETHEUS_MULTIPROC_DIR before any
worker imports this module, so every worker writes its samples there and /metrics sums them all."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("suggest_http_requests_total", "HTTP requests by route template, method and status.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("suggest_http_request_duration_seconds", "HTTP request latency by route template.",
                    ["endpoint", "method"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ASKED = Counter("suggest_trials_asked_total", "Trials handed out by ask, by suggester.", ["suggester"])
TOLD = Counter("suggest_trials_told_total", "Trials finished by tell, by suggester and state.",
               ["suggester", "state"])
PRUNE_ANSWERS = Counter("suggest_prune_answers_total", "Reports a pruner answered (retries of a step not counted), "
                        "by pruner and answer.", ["pruner", "prune"])
REFUSED = Counter("suggest_http_refused_total", "Requests the HTTP front answered itself (408, 413, 414, 431, "
                  "400, 503) before the app saw them, by the limit or rule they broke.", ["reason"])


def exposition() -> tuple[bytes, str]:
    """The metrics text of every worker (multiprocess mode) or of this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
