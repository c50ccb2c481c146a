"""The real image, built with podman (or docker) and run the way the chart runs it.

Read-only root filesystem, UID/GID 10001, all capabilities dropped, a tmpfs on /tmp, the host's
network, and the moto server of tests/fixtures/emulator.py as the AWS backend.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from pathlib import Path

import pytest
import requests

from container.image import APP_UID
from tests.fixtures.images import image_bytes

# A clean machine builds the debootstrap base and the image first: allow for it under load.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
SERVE_CMD = ["python3", "/app/api/serve.py"]


@pytest.fixture(scope="module")
def app(start_container):
    return start_container()


def _email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


# -- the image itself -----------------------------------------------------------------------
def test_image_metadata(container_engine, users_api_image) -> None:
    config = container_engine.image_config(users_api_image)
    assert config["User"] == f"{APP_UID}:{APP_UID}"
    assert sorted(config["ExposedPorts"]) == ["8000/tcp", "9090/tcp"]
    assert config["Cmd"] == SERVE_CMD
    assert config.get("StopSignal") in (None, "SIGTERM", "15")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HOST"] == "0.0.0.0"  # noqa: S104 - the container must listen on all interfaces
    assert env["PORT"] == "8000"
    assert env["METRICS_PORT"] == "9090"
    assert int(env["SERVER_KEEPALIVE_TIMEOUT"]) > 60, "keep-alive must outlast the ALB idle timeout"
    assert int(env["SERVER_RECEIVE_TIMEOUT"]) > 0
    assert {"SERVER_THREADS", "SERVER_GRACEFUL_TIMEOUT"} <= env.keys()
    assert not {"PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY"} & env.keys()
    labels = config["Labels"]
    for key in ("source", "version", "revision"):
        assert labels.get(f"org.opencontainers.image.{key}"), f"label {key} missing"
    version = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert labels["org.opencontainers.image.version"] == version.group(1)


def test_image_holds_only_the_app_and_the_locked_runtime(container_engine, app) -> None:
    listing = container_engine.exec(app.name, "sh", "-c", "ls -A /app; ls -A /app/api").stdout
    top, *_ = listing.split("\n", 1)
    assert top == "api"
    shipped = set(container_engine.exec(app.name, "ls", "-A", "/app/api").stdout.split())
    # The operator's command ships; the dev-only tools (emulator, run-local) do not.
    assert {"app.py", "wsgi.py", "manage.py", "serve.py", "chalicelib", "chalice_wsgi"} <= shipped
    assert "devtools" not in shipped, shipped
    assert not re.search(r"^(tests?|\.venv|\.git|\.env)$", listing, re.M), listing
    assert container_engine.exec(app.name, "sh", "-c", "command -v gcc cc make",
                                 check=False).returncode != 0, "a compiler reached the image"
    frozen = container_engine.exec(app.name, "pip", "list", "--format=freeze",
                                   "--disable-pip-version-check").stdout
    installed = {line.split("==")[0].lower().replace("_", "-") for line in frozen.split()}
    lock = (REPO / "requirements.lock").read_text()
    locked = {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.M)}
    assert installed == locked


# -- running it ---------------------------------------------------------------------------------
def test_readyz_and_healthz(app) -> None:
    ready = requests.get(f"{app.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert requests.get(f"{app.url}/healthz", timeout=10).json() == {"status": "ok"}


def test_every_process_runs_as_the_non_root_uid(container_engine, users_api_image, app) -> None:
    script = (
        "import os, json\n"
        "out = {}\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    status = open(f'/proc/{pid}/status').read()\n"
        "    ids = {l.split(':')[0]: l.split()[1:] for l in status.splitlines()\n"
        "           if l.startswith(('Uid:', 'Gid:'))}\n"
        "    cmd = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()\n"
        "    out[pid] = {'ids': ids, 'cmd': cmd}\n"
        "print(json.dumps(out))\n"
    )
    procs = json.loads(container_engine.exec(app.name, "python3", "-c", script).stdout)
    # One serving process, PID 1, which handles SIGTERM itself; it started itself again once
    # with MALLOC_ARENA_MAX set, which keeps the PID.
    assert "python3 /app/api/serve.py" in procs["1"]["cmd"], procs["1"]
    servers = [p for p in procs.values() if "serve.py" in p["cmd"]]
    assert len(servers) == 1, procs
    for pid, proc in procs.items():
        for kind in ("Uid", "Gid"):
            assert set(proc["ids"][kind]) == {str(APP_UID)}, (pid, proc)


def test_root_filesystem_is_read_only_and_tmp_is_writable(container_engine, app) -> None:
    denied = container_engine.exec(app.name, "touch", "/app/api/x", check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    container_engine.exec(app.name, "sh", "-c", "touch /tmp/probe && rm /tmp/probe")


def test_post_user_and_list_users_through_the_container_port(app, s3) -> None:
    email = _email("container")
    png = image_bytes("PNG", (16, 16), "green")
    created = requests.post(f"{app.url}/user", data={"name": "Container Test", "email": email},
                            files={"avatar": ("avatar.png", png, "image/png")}, timeout=30)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"name", "email", "avatar_url"}
    assert body["email"] == email and body["name"] == "Container Test"
    key = re.search(r"(avatars/[0-9a-f]{32}\.png)$", body["avatar_url"]).group(1)
    head = s3.head_object(Bucket="users-api-avatars", Key=key)
    assert head["ContentType"] == "image/png"

    listed = requests.get(f"{app.url}/users", timeout=30)
    assert listed.status_code == 200
    assert {"name": "Container Test", "email": email,
            "avatar_url": body["avatar_url"]} in listed.json()

    metrics = requests.get(app.metrics_url, timeout=10)
    assert metrics.status_code == 200 and "users_api_requests_total" in metrics.text


# -- shutdown -----------------------------------------------------------------------------------
def _multipart(fields: dict[str, str], file_field: str, filename: str,
               content: bytes) -> tuple[str, bytes]:
    boundary = f"----users-api-{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode() + content + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def _read_response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a full response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip()
               for k, v in (line.split(":", 1) for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _served(port: int) -> bool:
    """Does a brand-new connection get an HTTP answer? (refused, reset or silence: no)"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.5) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return conn.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def test_sigterm_lets_the_in_flight_request_finish_and_exits_zero(
        container_engine, start_container, dynamodb) -> None:
    """A client is half-way through uploading when SIGTERM arrives: the upload still succeeds,
    new connections are no longer served, and the container exits 0 well within 30 s."""
    victim = start_container()
    email = _email("sigterm")
    content_type, body = _multipart({"name": "Slow Upload", "email": email}, "avatar",
                                    "slow.png", image_bytes("PNG", (64, 64), "blue"))
    head = (f"POST /user HTTP/1.1\r\nHost: 127.0.0.1:{victim.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    half = len(body) // 2
    with socket.create_connection(("127.0.0.1", victim.port), timeout=10) as slow:
        slow.sendall(head + body[:half])
        time.sleep(0.5)  # the server now holds half a request

        signalled = time.monotonic()
        container_engine.kill(victim.name, "TERM")
        time.sleep(1.0)
        assert not _served(victim.port), "a new connection was served after SIGTERM"
        assert container_engine.running(victim.name), "exited before the in-flight request ended"

        slow.sendall(body[half:])
        status, _, payload = _read_response(slow, timeout=20)
    assert status == 201, f"{status} {payload!r}\n{victim.logs()}"
    assert json.loads(payload)["email"] == email

    exit_code = container_engine.wait(victim.name, timeout=40)
    elapsed = time.monotonic() - signalled
    assert exit_code == 0, victim.logs()
    assert elapsed < 20, f"took {elapsed:.1f}s from SIGTERM to exit"
    item = dynamodb.get_item(TableName="users", Key={"email": {"S": email}})
    assert item["Item"]["name"] == {"S": "Slow Upload"}
