"""Metrics of every request, on the metrics port, and JSON access logs."""

import json
import time

import requests


def sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{"):
            got = line[len(name) + 1:line.index("}")]
            if ",".join(sorted(got.split(","))) == wanted:
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_every_request(start_server, aws_env):
    url, _ = start_server(aws_env)
    # /openapi.json, because start-up probes (which may time out and retry) use /healthz.
    for _ in range(30):
        # A fresh connection each time, and a kept-alive one: both are counted.
        requests.get(f"{url}/openapi.json", timeout=10, headers={"Connection": "close"})
    requests.get(f"{url}/nowhere", timeout=10)
    metrics = requests.get(start_server.metrics_url(url), timeout=10)
    assert metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.text
    assert sample(text, "users_api_requests_total",
                  route="/openapi.json", method="GET", status="200", listing="") == 30
    assert sample(text, "users_api_requests_total",
                  route="unmatched", method="GET", status="404", listing="") == 1
    assert sample(text, "users_api_request_duration_seconds_count",
                  route="/openapi.json", method="GET", listing="") == 30
    assert "users_api_request_duration_seconds_bucket" in text


def test_access_log_is_json_lines_without_personal_data(aws_env, start_server, tmp_path):
    log_path = tmp_path / "out.log"
    url, _ = start_server({**aws_env, "LOG_LEVEL": "INFO"}, log_path=log_path)
    requests.get(f"{url}/users?cursor=secret-cursor", timeout=10,
                 headers={"X-Request-ID": "req-0000000001"})
    time.sleep(0.5)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    [entry] = [line for line in lines if line.get("request_id") == "req-0000000001"]
    assert entry["method"] == "GET" and entry["route"] == "/users" and entry["status"] == 400
    assert isinstance(entry["duration_ms"], float)
    assert "secret-cursor" not in log_path.read_text()
