"""A failing backend gives bounded waits and honest answers.

- Hung: a PRIVATE emulator process (never the suite's shared one) is stopped with SIGSTOP, so
  DynamoDB and S3 accept connections and never answer. Every request must get its 503 within
  the per-request deadline (BACKEND_DEADLINE_SECONDS, 8 s by default, at most 10 s), across
  calls and retries, while /healthz keeps answering.
- Misconfigured: a missing table, a missing bucket or missing credentials answer 503
  `backend_misconfigured` without Retry-After; the message names the kind of resource only, and
  the full name is logged at error level once per cause.

The bounds below are generous (the client waits up to 20 s for a 503 the server sends after 8 s).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devtools import emulator
from tests.e2e.conftest import post_user
from tests.fixtures.emulator import emulator_env

CLIENT_BOUND_S = 20  # generous; the server's deadline is 8 s
HEALTHZ_BOUND_S = 5


@pytest.fixture
def private_emulator():
    """A moto server of this test only, so that stopping it hurts no other test."""
    with emulator.running(env=emulator_env("unused")) as emu:
        try:
            yield emu.endpoint, emu.process
        finally:
            os.kill(emu.process.pid, signal.SIGCONT)


def _json_error(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    return response.json()["error"]


def test_hung_backend_gives_503s_within_the_deadline_and_healthz_keeps_answering(
        private_emulator, start_server):
    endpoint, emulator = private_emulator
    url, _ = start_server(emulator_env(endpoint))
    assert post_user(url, email="before@example.com").status_code == 201

    os.kill(emulator.pid, signal.SIGSTOP)
    calls = [
        ("whole listing", lambda: requests.get(f"{url}/users", timeout=CLIENT_BOUND_S)),
        ("one page", lambda: requests.get(f"{url}/users?limit=5", timeout=CLIENT_BOUND_S)),
        ("create", lambda: post_user(url, email=f"hung-{time.time_ns()}@example.com")),
    ] * 4  # a dozen requests in flight at once
    healthz: list[tuple[int, float]] = []
    done = threading.Event()

    def watch_healthz() -> None:
        for _ in range(60):  # bounded in count and in time
            if done.is_set():
                return
            started = time.monotonic()
            status = requests.get(f"{url}/healthz", timeout=HEALTHZ_BOUND_S).status_code
            healthz.append((status, round(time.monotonic() - started, 2)))
            time.sleep(0.5)

    watcher = threading.Thread(target=watch_healthz)
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [(name, pool.submit(call)) for name, call in calls]
        time.sleep(0.5)
        watcher.start()
        results = [(name, future.result()) for name, future in futures]
    done.set()
    watcher.join()

    for name, response in results:
        assert response.status_code == 503, (name, response.status_code, response.text[:200])
        error = _json_error(response)
        assert error["code"] == "service_unavailable", (name, error)
        assert "Retry-After" in response.headers, name
    assert healthz and all(status == 200 for status, _ in healthz), healthz

    readyz = requests.get(f"{url}/readyz", timeout=CLIENT_BOUND_S)
    assert readyz.status_code == 503
    checks = readyz.json()["checks"]
    assert set(checks) == {"dynamodb", "s3"}
    assert all(value in ("timeout", "unavailable") for value in checks.values()), checks

    os.kill(emulator.pid, signal.SIGCONT)
    recovered = requests.get(f"{url}/users", timeout=CLIENT_BOUND_S)
    assert recovered.status_code == 200
    # Nothing half-written: the creates that timed out left no user behind.
    assert [user["email"] for user in recovered.json()] == ["before@example.com"]


def _log_lines(path) -> list[dict]:
    lines = []
    for raw in path.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


@pytest.mark.parametrize(("override", "kind", "secret"), [
    ({"USERS_TABLE": "no-such-table-4f1c"}, "users table", "no-such-table-4f1c"),
    ({"AVATARS_BUCKET": "no-such-bucket-4f1c"}, "avatars bucket", "no-such-bucket-4f1c"),
])
def test_a_missing_table_or_bucket_is_misconfiguration_not_an_outage(
        override, kind, secret, clean_backend, aws_env, start_server, tmp_path):
    log = tmp_path / "server.log"
    url, _ = start_server({**aws_env, **override, "LOG_LEVEL": "INFO"}, log_path=log)
    answers = [post_user(url, email=f"m{i}@example.com") for i in range(3)]
    if "USERS_TABLE" in override:
        answers.append(requests.get(f"{url}/users", timeout=CLIENT_BOUND_S))
    for response in answers:
        assert response.status_code == 503, response.text[:200]
        assert "Retry-After" not in response.headers
        error = _json_error(response)
        assert error["code"] == "backend_misconfigured"
        assert kind in error["message"] and secret not in error["message"], error

    readyz = requests.get(f"{url}/readyz", timeout=CLIENT_BOUND_S)
    assert readyz.status_code == 503
    backend = "dynamodb" if "USERS_TABLE" in override else "s3"
    assert readyz.json()["checks"][backend] == "misconfigured"
    assert "Retry-After" not in readyz.headers

    errors = [line for line in _log_lines(log)
              if line.get("level") == "ERROR" and secret in json.dumps(line)]
    assert len(errors) == 1, errors  # once per cause, not once per request


def test_missing_credentials_are_misconfiguration(clean_backend, aws_env, start_server, tmp_path):
    env = {key: value for key, value in aws_env.items()
           if key not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    # Nothing else in the default chain may answer: no files, no instance metadata.
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                "AWS_EC2_METADATA_DISABLED": "true", "LOG_LEVEL": "INFO"})
    env.pop("AWS_PROFILE", None)
    log = tmp_path / "server.log"
    url, _ = start_server(env, log_path=log)
    for _ in range(3):
        response = requests.get(f"{url}/users", timeout=CLIENT_BOUND_S)
        assert response.status_code == 503
        assert "Retry-After" not in response.headers
        error = _json_error(response)
        assert error["code"] == "backend_misconfigured"
        assert "credentials" in error["message"], error
    errors = [line for line in _log_lines(log)
              if line.get("level") == "ERROR" and "credentials" in json.dumps(line).lower()]
    assert len(errors) == 1, errors
