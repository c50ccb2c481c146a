"""The EMF emitter on its own registry: counters and histograms become one EMF document per
changed label set, labels become dimensions (empty ones left out), nothing is sent twice."""

from __future__ import annotations

import io
import json
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chalicelib.emf import EmfEmitter


def registry_with_metrics():
    registry = CollectorRegistry()
    requests = Counter("users_api_requests_total", "r", ["route", "method", "status", "listing"],
                       registry=registry)
    latency = Histogram("users_api_request_duration_seconds", "d", ["route", "method", "listing"],
                        registry=registry)
    errors = Counter("users_api_backend_errors_total", "e", ["backend", "operation", "kind"],
                     registry=registry)
    Gauge("users_api_requests_in_flight", "g", registry=registry).set(3)
    Counter("other_library_total", "not ours", registry=registry).inc()
    return registry, requests, latency, errors


def test_changes_become_documents_once():
    registry, requests, latency, errors = registry_with_metrics()
    out = io.StringIO()
    emitter = EmfEmitter("users-api-dev", registry=registry, stream=out)
    requests.labels("/users", "GET", "200", "paged").inc()
    latency.labels("/users", "GET", "paged").observe(0.25)
    errors.labels("dynamodb", "scan", "timeout").inc(2)
    emitter.flush()
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    by_name = {d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: d for d in documents}
    assert set(by_name) == {"users_api_requests", "users_api_request_duration_seconds",
                            "users_api_backend_errors"}
    count = by_name["users_api_requests"]
    assert count["_aws"]["CloudWatchMetrics"] == [{
        "Namespace": "users-api-dev",
        "Dimensions": [["listing", "method", "route", "status"]],
        "Metrics": [{"Name": "users_api_requests", "Unit": "Count"}]}]
    assert (count["route"], count["method"], count["status"], count["listing"]) == (
        "/users", "GET", "200", "paged")
    assert count["users_api_requests"] == 1.0
    assert by_name["users_api_request_duration_seconds"]["users_api_request_duration_seconds"] == [0.25]
    assert by_name["users_api_backend_errors"]["users_api_backend_errors"] == 2.0
    assert by_name["users_api_backend_errors"]["kind"] == "timeout"
    assert isinstance(count["_aws"]["Timestamp"], int)
    # Nothing changed since: nothing is written again.
    out.truncate(0), out.seek(0)
    emitter.flush()
    assert out.getvalue() == ""


def test_an_empty_label_is_not_a_dimension():
    registry, requests, _, _ = registry_with_metrics()
    out = io.StringIO()
    emitter = EmfEmitter("ns", registry=registry, stream=out)
    requests.labels("/healthz", "GET", "200", "").inc()
    emitter.flush()
    [document] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["method", "route", "status"]]
    assert "listing" not in document


def test_the_filter_never_drops_the_log_line_even_when_writing_fails():
    registry, requests, _, _ = registry_with_metrics()

    class Broken(io.StringIO):
        def write(self, text):
            raise OSError("disk full")

    emitter = EmfEmitter("ns", registry=registry, stream=Broken())
    requests.labels("/users", "GET", "200", "").inc()
    record = logging.LogRecord("users_api.access", logging.INFO, __file__, 1, "request", (), None)
    assert emitter.filter(record) is True
