"""Metrics: each serving instance owns its own, and every label has a bounded set of values.

- Two instances on one machine: neither sees nor wipes the other's counts, and starting a
  third changes neither.
- /metrics is served on METRICS_PORT only, not on the API's PORT.
- An unknown method counts as "other", an unmatched path as route "unmatched": sixty random
  methods and paths add a handful of series, not sixty.
- GET /users is labelled listing="paged" or listing="whole_table".
- users_api_requests_in_flight and users_api_worker_threads are exported.
"""

from __future__ import annotations

import random
import socket
import string
from urllib.parse import urlsplit

import requests


def _metrics(start_server, url: str) -> str:
    response = requests.get(start_server.metrics_url(url), timeout=10)
    assert response.status_code == 200
    return response.text


def _value(text: str, name: str, *labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(label in line for label in labels):
                total += float(line.rsplit(" ", 1)[1])
    return total


def _series(text: str, name: str) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith(name + "{")}


def test_two_instances_keep_their_own_metrics(start_server, aws_env):
    first, _ = start_server(aws_env)
    second, _ = start_server(aws_env)
    for _ in range(3):
        requests.get(f"{first}/healthz", timeout=10)
    for _ in range(5):
        requests.get(f"{second}/healthz", timeout=10)
    healthz = ('route="/healthz"', 'status="200"')
    # Each instance's start-up wait asked /healthz once.
    assert _value(_metrics(start_server, first), "users_api_requests_total", *healthz) == 3 + 1
    assert _value(_metrics(start_server, second), "users_api_requests_total", *healthz) == 5 + 1

    start_server(aws_env)  # a third instance starting must wipe nobody's metrics
    assert _value(_metrics(start_server, first), "users_api_requests_total", *healthz) == 3 + 1
    assert _value(_metrics(start_server, second), "users_api_requests_total", *healthz) == 5 + 1


def test_metrics_are_not_served_on_the_api_port(live_server):
    response = requests.get(f"{live_server}/metrics", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _raw_request(url: str, method: str, path: str) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass


def test_labels_stay_bounded_under_random_methods_and_paths(start_server, aws_env):
    url, _ = start_server(aws_env)
    rng = random.Random(11)
    before = _metrics(start_server, url)
    for _ in range(60):
        method = "".join(rng.choices(string.ascii_uppercase, k=12))
        _raw_request(url, method, "/users")
        _raw_request(url, "GET", "/" + "".join(rng.choices(string.ascii_lowercase, k=12)))
    after = _metrics(start_server, url)
    new = _series(after, "users_api_requests_total") - _series(before, "users_api_requests_total")
    assert len(new) <= 4, sorted(new)
    methods = {line.split('method="', 1)[1].split('"', 1)[0] for line in new}
    routes = {line.split('route="', 1)[1].split('"', 1)[0] for line in new}
    assert methods <= {"other", "GET"}, methods
    assert routes <= {"/users", "unmatched"}, routes
    assert _value(after, "users_api_requests_total", 'method="other"') == 60


def test_listing_label_tells_paged_from_whole_table(api, start_server):
    api.get(f"{api.base_url}/users", timeout=10)
    api.get(f"{api.base_url}/users?limit=5", timeout=10)
    text = _metrics(start_server, api.base_url)
    for listing in ("paged", "whole_table"):
        assert _value(text, "users_api_requests_total", 'route="/users"', f'listing="{listing}"') >= 1
        assert _value(text, "users_api_request_duration_seconds_count", 'route="/users"',
                      f'listing="{listing}"') >= 1
    healthz = [line for line in text.splitlines()
               if line.startswith("users_api_requests_total{") and 'route="/healthz"' in line]
    assert healthz and all('listing=""' in line for line in healthz), healthz


def test_in_flight_and_worker_thread_gauges(live_server, start_server):
    text = _metrics(start_server, live_server)
    assert _value(text, "users_api_worker_threads") == 16  # SERVER_THREADS, the default
    assert "users_api_requests_in_flight" in text
    assert _value(text, "users_api_requests_in_flight") >= 0
