"""`make run`'s command on its own ports: emulator, bootstrap, API; Ctrl-C stops everything."""

import signal
import subprocess
import sys
import time

import psutil
import requests

from tests.e2e.conftest import post_user
from tests.fixtures.emulator import API_DIR, emulator_env, free_port, wait_until_up


def test_run_local_serves_the_api_and_stops_everything_on_ctrl_c():
    emulator_port, api_port = free_port(), free_port()
    env = emulator_env("unused", PORT=str(api_port), LOG_LEVEL="WARNING")
    del env["AWS_ENDPOINT_URL"]
    process = subprocess.Popen(
        [sys.executable, str(API_DIR / "devtools" / "cli.py"), "run-local",
         "--emulator-port", str(emulator_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_until_up(f"{base}/healthz", process, timeout=90)
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
        created = post_user(base)
        assert created.status_code == 201
        assert created.json()["avatar_url"].startswith(
            f"http://127.0.0.1:{emulator_port}/users-api-avatars/avatars/")
        assert requests.get(f"{base}/users", timeout=10).json() == [created.json()]
        assert requests.get(f"{base}/swagger", timeout=10).status_code == 200
        children = psutil.Process(process.pid).children(recursive=True)
        assert children
    finally:
        process.send_signal(signal.SIGINT)
        exit_code = process.wait(timeout=40)
    time.sleep(0.5)
    assert exit_code == 0
    assert not [child for child in children if child.is_running() and
                child.status() != psutil.STATUS_ZOMBIE]
