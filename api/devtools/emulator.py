"""The embedded AWS emulator (moto server): start it, wait for it, bootstrap it, stop it.

The one place that knows how: `make run`, `make image-run`, the test fixtures and the bench
all come through here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from chalicelib.config import Settings, settings_from_env
from devtools.provisioning import bootstrap as create_table_and_bucket

BIN_DIR = Path(sys.executable).parent
# The embedded emulator listens where LocalStack does, so one AWS_ENDPOINT_URL serves both.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
# The emulator's region when AWS_REGION is unset: the app's own default.
DEFAULT_REGION = Settings.region
# Placeholder credentials for the emulator only: it checks nothing, but the SDK needs some to
# sign requests. Real deployments use the default credential chain.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local-emulator", "AWS_SECRET_ACCESS_KEY": "local-emulator"}
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Return once `url` gives any HTTP answer; fail fast if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - local URL only
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def stop(process: subprocess.Popen, timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def client_env(endpoint: str, region: str | None = None) -> dict[str, str]:
    """The SDK variables that point boto3 (the app's, a test's, a container's) at the emulator."""
    return {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region or os.environ.get("AWS_REGION") or DEFAULT_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def clients(endpoint: str, region: str | None = None):
    """(dynamodb, s3) boto3 clients on the emulator."""
    env = client_env(endpoint, region)
    session = boto3.session.Session(
        region_name=env["AWS_REGION"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return (session.client("dynamodb", endpoint_url=endpoint),
            session.client("s3", endpoint_url=endpoint))


def bootstrap(endpoint: str, env: Mapping[str, str] | None = None) -> Settings:
    """Create the table and bucket the app's settings (from `env`) name; idempotent."""
    settings = settings_from_env({**(os.environ if env is None else env),
                                  **client_env(endpoint, (env or {}).get("AWS_REGION"))})
    create_table_and_bucket(settings, clients(endpoint, settings.region))
    return settings


def reset(endpoint: str) -> None:
    """Empty every table and bucket (moto's own reset); bootstrap() again afterwards."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - local URL only


@dataclass
class Emulator:
    endpoint: str
    process: subprocess.Popen

    def stop(self, timeout: float = 10) -> int:
        return stop(self.process, timeout)


def start(host: str = DEFAULT_HOST, port: int | None = None,
          timeout: float = START_TIMEOUT_SECONDS) -> Emulator:
    """Start a moto server (on a free port unless one is given) and wait until it answers."""
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603 - the venv's own moto_server
        [str(BIN_DIR / "moto_server"), "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://{host}:{port}"
    try:
        wait_for_http(f"{endpoint}/moto-api/", timeout, process)
    except BaseException:
        stop(process)
        raise
    return Emulator(endpoint, process)


@contextmanager
def running(host: str = DEFAULT_HOST, port: int | None = None,
            env: Mapping[str, str] | None = None) -> Iterator[Emulator]:
    """A started and bootstrapped emulator, stopped on exit."""
    emulator = start(host, port)
    try:
        bootstrap(emulator.endpoint, env)
        yield emulator
    finally:
        emulator.stop()
