"""Slow clients cannot starve the server.

Sixteen connections dribble a request at one byte per second, its headers or its body, while
/healthz is asked again and again: it must keep answering. The serving command buffers a
request before a worker thread sees it, so a dribbling client holds a buffer, not a thread.
A request that takes longer than SERVER_RECEIVE_TIMEOUT to arrive is answered 408 and its
connection closed; an idle keep-alive connection is a different thing and stays open.

Every loop here is bounded in time and count and talks only to 127.0.0.1. The bounds are
generous (seconds where the server needs milliseconds): a busy machine must not fail them.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

SLOW_CONNECTIONS = 16
DRIBBLE_SECONDS = 8
HEALTHZ_BOUND_S = 5  # generous: /healthz answers in milliseconds when nothing is wrong


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


class Dribblers:
    """Connections that each send one byte per second, from one thread, until stopped."""

    def __init__(self, url: str, head: bytes, drip: bytes, count: int) -> None:
        self.sockets = []
        for _ in range(count):
            sock = socket.create_connection(_address(url), timeout=5)
            sock.sendall(head)
            self.sockets.append(sock)
        self.drip = drip
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for i in range(600):  # bounded: at most ten minutes, stopped long before
            if self.stopped.wait(1.0):
                return
            for sock in self.sockets:
                try:
                    sock.send(self.drip[i % len(self.drip):][:1])
                except OSError:
                    pass

    def __enter__(self) -> Dribblers:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


SLOW_HEADERS = (b"GET /users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ", b"abcdefgh")
SLOW_BODY = (b"POST /user HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 100000\r\n\r\n",
             b"--xyz\r\n")


@pytest.mark.parametrize("what", ["headers", "body"])
def test_healthz_keeps_answering_while_16_clients_dribble(live_server, what):
    head, drip = SLOW_HEADERS if what == "headers" else SLOW_BODY
    answers = []
    with Dribblers(live_server, head, drip, SLOW_CONNECTIONS):
        deadline = time.monotonic() + DRIBBLE_SECONDS
        for _ in range(40):  # bounded in count as well as in time
            if time.monotonic() > deadline:
                break
            started = time.monotonic()
            response = requests.get(f"{live_server}/healthz", timeout=HEALTHZ_BOUND_S)
            answers.append((response.status_code, round(time.monotonic() - started, 2)))
            time.sleep(0.5)
    assert len(answers) >= 5, answers
    assert all(status == 200 for status, _ in answers), answers


def _read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, bool]:
    """Keep dribbling one byte a second; return what the server answered, and whether it
    closed the connection within limit_s."""
    data = b""
    sock.settimeout(1.0)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            sock.send(b"a")
        except OSError:
            pass
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


@pytest.fixture(scope="module")
def strict_server(start_server, aws_env):
    """A server that gives a request three seconds to arrive."""
    url, _ = start_server({**aws_env, "SERVER_RECEIVE_TIMEOUT": "3"})
    return url


def test_a_request_that_arrives_too_slowly_gets_408_and_is_closed(strict_server):
    with socket.create_connection(_address(strict_server), timeout=5) as sock:
        sock.sendall(b"GET /users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
        answer, closed = _read_until_closed(sock, limit_s=30)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"x-request-id:" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and error["request_id"]
    assert closed, "the server kept the connection open for 30 s"


def test_an_idle_keepalive_connection_outlives_the_receive_timeout(strict_server):
    """The receive bound is not the idle timeout: a connection idle between two requests
    for longer than SERVER_RECEIVE_TIMEOUT is still open (SERVER_KEEPALIVE_TIMEOUT is 75 s)."""
    with socket.create_connection(_address(strict_server), timeout=5) as sock:
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        sock.sendall(request)
        assert _one_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(5)
        sock.sendall(request)
        assert _one_response(sock).startswith(b"HTTP/1.1 200")


def _one_response(sock: socket.socket) -> bytes:
    """Exactly one response (headers and its Content-Length of body) from a kept-alive socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body
