"""Request IDs, JSON access logs and Prometheus metrics: the cross-cutting parts of every request."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

# Every label has a bounded set of values: route templates or "unmatched", these methods or
# "other", numeric statuses, listing "paged" | "whole_table" on GET /users and "" elsewhere.
METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
REQUESTS = Counter(
    "users_api_requests_total", "HTTP requests by route, method, status and listing.",
    ["route", "method", "status", "listing"],
)
LATENCY = Histogram(
    "users_api_request_duration_seconds", "Time to produce the HTTP response.",
    ["route", "method", "listing"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BACKEND_ERRORS = Counter(
    "users_api_backend_errors_total",
    "Failed calls to DynamoDB or S3, after the SDK's retries, by kind: unavailable, timeout, "
    "misconfigured.",
    ["backend", "operation", "kind"],
)

# Metrics live in the serving process's memory (one process per pod, api/serve.py); "livesum"
# would add up live processes if several ever served one pod in multiprocess mode.
IN_FLIGHT = Gauge(
    "users_api_requests_in_flight", "Requests being handled right now.",
    multiprocess_mode="livesum",
)
WORKER_THREADS = Gauge(
    "users_api_worker_threads", "Request-serving threads (the capacity of the pod).",
    multiprocess_mode="livesum",
)

access_log = logging.getLogger("users_api.access")


def configure_logging(level: str) -> None:
    """JSON lines on stdout for everything the process logs."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK's INFO lines (credential and endpoint discovery) are noise in production.
    sdk_level = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(sdk_level)


def request_id_from(incoming: str | None, gateway_id: str | None = None) -> str:
    """Keep a caller's request id when it is sane, so traces join up; otherwise the id API
    Gateway gave the request (on Lambda: the one in its access log and its own error answers);
    otherwise make one."""
    for candidate in (incoming, gateway_id):
        if candidate and _SANE_REQUEST_ID.match(candidate):
            return candidate
    return uuid.uuid4().hex


def method_label(method: str | None) -> str:
    return method if method in METHODS else "other"


def observe(route: str, method: str, status: int, started: float, request_id: str,
            listing: str = "") -> None:
    duration = time.perf_counter() - started
    method = method_label(method)
    REQUESTS.labels(route=route, method=method, status=str(status), listing=listing).inc()
    LATENCY.labels(route=route, method=method, listing=listing).observe(duration)
    # Route templates, not raw paths or bodies: nothing personal reaches the log.
    access_log.info("request", extra={
        "request_id": request_id, "method": method, "route": route,
        "status": status, "duration_ms": round(duration * 1000, 2),
    })
