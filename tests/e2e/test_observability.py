"""Metrics across several gunicorn workers, and JSON access logs."""

import json
import subprocess
import time

import requests

from tests.fixtures.emulator import API_DIR, BIN_DIR, free_port, stop, wait_until_up


def sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{"):
            got = line[len(name) + 1:line.index("}")]
            if ",".join(sorted(got.split(","))) == wanted:
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_add_up_across_workers(start_server, aws_env):
    url, _ = start_server({**aws_env, "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "2"})
    # /openapi.json, because start-up probes (which may time out and retry) use /healthz.
    for _ in range(30):
        # A fresh connection each time, so the requests spread over the workers.
        requests.get(f"{url}/openapi.json", timeout=10, headers={"Connection": "close"})
    requests.get(f"{url}/nowhere", timeout=10)
    metrics = requests.get(f"{url}/metrics", timeout=10)
    assert metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.text
    assert sample(text, "users_api_requests_total",
                  route="/openapi.json", method="GET", status="200") == 30
    assert sample(text, "users_api_requests_total",
                  route="unmatched", method="GET", status="404") == 1
    assert sample(text, "users_api_request_duration_seconds_count",
                  route="/openapi.json", method="GET") == 30
    assert "users_api_request_duration_seconds_bucket" in text


def test_access_log_is_json_lines_without_personal_data(aws_env, tmp_path):
    port = free_port()
    env = {**aws_env, "PORT": str(port), "LOG_LEVEL": "INFO",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    log_path = tmp_path / "out.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(BIN_DIR / "gunicorn"), "--config", str(API_DIR / "gunicorn.conf.py")],
            env=env, stdout=log_file, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
            requests.get(f"http://127.0.0.1:{port}/users?cursor=secret-cursor", timeout=10,
                         headers={"X-Request-ID": "req-0000000001"})
            time.sleep(0.5)
        finally:
            stop(process)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    [entry] = [line for line in lines if line.get("request_id") == "req-0000000001"]
    assert entry["method"] == "GET" and entry["route"] == "/users" and entry["status"] == 400
    assert isinstance(entry["duration_ms"], float)
    assert "secret-cursor" not in log_path.read_text()
