"""SIGTERM to the serving process while requests are in flight.

Raw sockets hold requests open on purpose: POST /user whose multipart body is only half
sent, and GETs whose headers are not finished. Keep-alive clients keep GETting until the
signal. After SIGTERM the rest of every held request is sent. Every one of them must get
a complete, proper response; no user may be half-written (objects == users); and the
process must exit with code 0 within SERVER_GRACEFUL_TIMEOUT plus a small margin.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import threading
import time

import psutil
import pytest
import requests
from PIL import Image

from tests.fixtures.forms import user_form

GRACE_S = 5
EXIT_MARGIN_S = 5
SLOW_POSTS = 4
USER_KEYS = {"avatar_url", "email", "name"}


def _png(seed: int) -> bytes:
    rng = random.Random(seed)
    out = io.BytesIO()
    Image.frombytes("RGB", (32, 32), rng.randbytes(32 * 32 * 3)).save(out, format="PNG")
    return out.getvalue()


def _multipart(email: str, avatar: bytes) -> tuple[str, bytes]:
    content_type, head, tail = user_form("Slow Poster", email,
                                         f"shutdown{random.getrandbits(64):x}")
    return content_type, head + avatar + tail


class HeldRequest:
    """One request on a raw socket: the first part now, the rest when told."""

    def __init__(self, port: int, first: bytes, rest: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.first, self.rest = first, rest

    def start(self) -> None:
        self.sock.sendall(self.first)

    def finish(self) -> tuple[int, dict[str, str], bytes]:
        self.sock.sendall(self.rest)
        reader = self.sock.makefile("rb")
        status_line = reader.readline().decode("latin-1")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        while (line := reader.readline().decode("latin-1").strip()):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = reader.read(int(headers["content-length"]))
        self.sock.close()
        return status, headers, body


def _held_post(port: int, email: str, avatar: bytes) -> HeldRequest:
    content_type, body = _multipart(email, avatar)
    head = (f"POST /user HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    half = len(body) // 2
    return HeldRequest(port, head + body[:half], body[half:])


def _held_get(port: int, path: str) -> HeldRequest:
    return HeldRequest(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode(),
                       b"Accept: application/json\r\n\r\n")


def _wait_until_accepted(server_pid: int, held: list[HeldRequest], timeout: float = 20) -> None:
    """Until the server holds every held connection: the kernel's backlog is not "accepted"."""
    ports = {request.sock.getsockname()[1] for request in held}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = set()
        server = psutil.Process(server_pid)
        for worker in [server, *server.children()]:
            seen |= {conn.raddr.port for conn in worker.net_connections(kind="tcp")
                     if conn.raddr and conn.status == psutil.CONN_ESTABLISHED}
        if ports <= seen:
            return
        time.sleep(0.05)
    raise AssertionError(f"connections {sorted(ports - seen)} never reached the server")


def _keep_getting(url: str, stop: threading.Event, results: list, errors: list,
                  idle: threading.Event, release: threading.Event) -> None:
    with requests.Session() as session:
        while not stop.is_set():
            try:
                response = session.get(url + "/users?limit=10", timeout=30)
                results.append(response.status_code)
            except requests.RequestException as error:
                errors.append(repr(error))
                break
        # The last answer is in; the kept-alive connection stays open, idle, until released.
        idle.set()
        release.wait(timeout=60)


@pytest.mark.timeout(120)
def test_sigterm_lets_in_flight_requests_finish(clean_backend, aws_env, start_server,
                                                dynamodb, s3):
    env = {**aws_env, "SERVER_THREADS": "8", "SERVER_GRACEFUL_TIMEOUT": str(GRACE_S)}
    url, process = start_server(env)
    port = int(url.rsplit(":", 1)[1])
    avatar = _png(3)

    emails = [f"shutdown{i}@load.example.org" for i in range(SLOW_POSTS)]
    held = [_held_post(port, email, avatar) for email in emails]
    held += [_held_get(port, "/users"), _held_get(port, "/healthz")]
    stop_getting = threading.Event()
    get_statuses: list[int] = []
    get_errors: list[str] = []
    getters_idle = [threading.Event() for _ in range(2)]
    release_getters = threading.Event()
    getters = [threading.Thread(target=_keep_getting,
                                args=(url, stop_getting, get_statuses, get_errors, idle,
                                      release_getters))
               for idle in getters_idle]

    for request in held:
        request.start()
    for getter in getters:
        getter.start()
    _wait_until_accepted(process.pid, held)
    deadline = time.monotonic() + 20
    while len(get_statuses) < 2 * len(getters) and time.monotonic() < deadline:
        time.sleep(0.05)  # the getters are on kept-alive, accepted connections
    assert len(get_statuses) >= 2 * len(getters), "the keep-alive getters got no answers"
    time.sleep(0.5)  # and the held requests are half received

    # Keep-alive clients stop sending (as the load balancer does during the preStop delay) and
    # wait with their connections open and idle; then the server is told to stop while all of
    # the above is still in flight. A request sent at the very instant of SIGTERM on an idle
    # connection can meet a closing socket: that is what preStop exists to avoid.
    stop_getting.set()
    for idle in getters_idle:
        assert idle.wait(timeout=30), "a keep-alive getter never finished its last request"
    signalled = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    time.sleep(1.0)
    answers = [request.finish() for request in held]
    release_getters.set()
    for getter in getters:
        getter.join(timeout=30)

    try:
        exit_code = process.wait(timeout=GRACE_S + EXIT_MARGIN_S)
    except Exception:
        process.kill()
        raise
    exited_after = time.monotonic() - signalled
    assert exit_code == 0
    assert exited_after <= GRACE_S + EXIT_MARGIN_S

    post_answers, (users_answer, health_answer) = answers[:SLOW_POSTS], answers[SLOW_POSTS:]
    for (status, headers, body), email in zip(post_answers, emails, strict=True):
        assert status == 201, body
        user = json.loads(body)
        assert set(user) == USER_KEYS and user["email"] == email
        assert headers.get("x-request-id")
    assert users_answer[0] == 200 and isinstance(json.loads(users_answer[2]), list)
    assert health_answer[0] == 200 and json.loads(health_answer[2]) == {"status": "ok"}
    assert get_errors == []
    assert get_statuses and set(get_statuses) == {200}

    # Nothing half-written: every user has its object, and no object lacks its user.
    items = dynamodb.scan(TableName="users", ConsistentRead=True)["Items"]
    assert sorted(item["email"]["S"] for item in items) == sorted(emails)
    assert all(set(item) == USER_KEYS for item in items)
    referenced = {"avatars/" + item["avatar_url"]["S"].rsplit("/avatars/", 1)[1]
                  for item in items}
    versions = s3.list_object_versions(Bucket="users-api-avatars", Prefix="avatars/")
    assert versions.get("DeleteMarkers", []) == []
    assert {v["Key"] for v in versions.get("Versions", [])} == referenced
    assert len(versions.get("Versions", [])) == len(items)
