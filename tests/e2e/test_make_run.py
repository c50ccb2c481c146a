"""`make run`'s command on its own ports: emulator, bootstrap, avatar server, API; Ctrl-C stops
everything; a dead emulator stops it too; a second terminal works with what the README says."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import requests

from devtools import emulator
from tests.e2e.conftest import post_user
from tests.fixtures.emulator import API_DIR, REPO, emulator_env, free_port, wait_until_up


class RunLocal:
    def __init__(self) -> None:
        self.emulator_port, self.api_port, self.avatar_port = free_port(), free_port(), free_port()
        env = emulator_env("unused", PORT=str(self.api_port), METRICS_PORT=str(free_port()),
                           LOG_LEVEL="WARNING")
        del env["AWS_ENDPOINT_URL"]
        self.process = subprocess.Popen(
            [sys.executable, str(API_DIR / "devtools" / "cli.py"), "run-local",
             "--emulator-port", str(self.emulator_port), "--avatar-port", str(self.avatar_port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.base = f"http://127.0.0.1:{self.api_port}"
        wait_until_up(f"{self.base}/healthz", self.process, timeout=90)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=40)


@pytest.fixture
def run_local():
    running = RunLocal()
    yield running
    running.stop()


def test_run_local_serves_the_api_and_the_avatars_and_stops_everything_on_ctrl_c(run_local):
    base = run_local.base
    assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    created = post_user(base)
    assert created.status_code == 201
    avatar_url = created.json()["avatar_url"]
    assert avatar_url.startswith(f"http://127.0.0.1:{run_local.avatar_port}/avatars/")
    assert requests.get(f"{base}/users", timeout=10).json() == [created.json()]
    assert requests.get(f"{base}/swagger", timeout=10).status_code == 200

    # The avatar_url opens: the stored object's bytes, from the dev avatar server.
    served = requests.get(avatar_url, timeout=10)
    assert served.status_code == 200
    assert "max-age=31536000" in served.headers["Cache-Control"]
    s3 = emulator.clients(f"http://127.0.0.1:{run_local.emulator_port}")[1]
    key = avatar_url.split(f":{run_local.avatar_port}/", 1)[1]
    stored = s3.get_object(Bucket="users-api-avatars", Key=key)
    assert served.content == stored["Body"].read()
    assert served.headers["Content-Type"] == stored["ContentType"]

    children = psutil.Process(run_local.process.pid).children(recursive=True)
    assert children
    assert run_local.stop() == 0
    time.sleep(0.5)
    assert not [child for child in children if child.is_running() and
                child.status() != psutil.STATUS_ZOMBIE]


def test_run_local_says_so_and_stops_when_its_emulator_dies(run_local):
    [moto] = [child for child in psutil.Process(run_local.process.pid).children(recursive=True)
              if "moto_server" in " ".join(child.cmdline())]
    api = [child for child in psutil.Process(run_local.process.pid).children(recursive=True)
           if "serve.py" in " ".join(child.cmdline())]
    moto.kill()
    exit_code = run_local.process.wait(timeout=40)
    assert exit_code != 0
    stderr = run_local.process.stderr.read()
    assert "emulator" in stderr and "exited" in stderr, stderr
    time.sleep(0.5)
    assert api and not [p for p in api if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _second_terminal(run_local, command: str) -> subprocess.CompletedProcess:
    """A new shell with none of `make run`'s environment, doing what the README says."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AWS_", "USERS_", "AVATAR")) and key not in ("PORT", "HOST")}
    ports = (f"EMULATOR_PORT={run_local.emulator_port} AVATAR_PORT={run_local.avatar_port}")
    script = f'eval "$(make -s run-env {ports})" && {command}'
    return subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_second_terminal_can_sweep_and_serve_with_what_the_readme_says(run_local):
    swept = _second_terminal(run_local, "make -s sweep-orphans")
    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout)["orphans"] == []

    api_port, metrics_port = free_port(), free_port()
    serve = subprocess.Popen(
        ["bash", "-c", f'eval "$(make -s run-env EMULATOR_PORT={run_local.emulator_port} '
                       f'AVATAR_PORT={run_local.avatar_port})" && '
                       f"PORT={api_port} METRICS_PORT={metrics_port} exec make -s serve"],
        cwd=REPO, env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{api_port}/readyz", serve, timeout=60)
        assert requests.get(f"http://127.0.0.1:{api_port}/readyz", timeout=10).status_code == 200
        assert requests.get(f"http://127.0.0.1:{api_port}/users", timeout=10).status_code == 200
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
