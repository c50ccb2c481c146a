"""ChaliceWSGIAdapter under the real gunicorn (gthread workers), over real sockets.

A tiny Chalice project is written into a temporary directory: app.py (plain Chalice, no
shim code), .chalice/config.json, and a WSGI entry module that wraps app.py's app with
the adapter. gunicorn serves the entry module; `chalice local` serves the very same
app.py, and a few requests are compared between the two.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

API_DIR = Path(__file__).resolve().parents[2] / "api"
BIN_DIR = Path(sys.executable).parent
LIMIT = 64 * 1024
THREADS = 8
ALL_BYTES = bytes(range(256))
CRLF_NULS = b"first\r\nsecond\r\n\x00\x00middle\x00\r\n\r\n--boundary\x00\r\n"
PNG = b"\x89PNG\r\n\x1a\n" + ALL_BYTES + CRLF_NULS

APP_PY = textwrap.dedent('''
    """Test-only Chalice app: served by gunicorn through the WSGI adapter, and by chalice local."""
    import random
    import time

    from chalice import Chalice, Response

    app = Chalice(app_name="wsgi-adapter-it")
    PNG = bytes.fromhex("%s")


    @app.route("/ping")
    def ping():
        return {"ok": True}


    @app.route("/echo", methods=["POST", "PUT"], content_types=["*/*"])
    def echo():
        request = app.current_request
        return {"hex": (request.raw_body or b"").hex(),
                "content_type": request.headers.get("content-type")}


    @app.route("/png")
    def png():
        return Response(body=PNG, headers={"Content-Type": "image/png"})


    @app.route("/query")
    def query():
        params = app.current_request.query_params
        return {"params": None if params is None else {k: params.getlist(k) for k in params}}


    @app.route("/headers")
    def headers():
        return {"x-rep": app.current_request.headers.get("x-rep")}


    @app.route("/cookies")
    def cookies():
        return Response(body={"ok": True}, headers={
            "Content-Type": "application/json", "Set-Cookie": ["a=1; Path=/", "b=2; Path=/"]})


    @app.route("/status/{code}", methods=["GET", "POST"])
    def status(code):
        code = int(code)
        if code == 204:
            return Response(body="", status_code=204)
        return Response(body={"status": code}, status_code=code,
                        headers={"Content-Type": "application/json"})


    @app.route("/cors", methods=["GET", "POST"], cors=True)
    def cors():
        return {"cors": True}


    @app.route("/items/{name}")
    def item(name):
        return {"name": name}


    @app.route("/whoami/{token}", methods=["POST"], content_types=["*/*"])
    def whoami(token):
        first, context = app.current_request, app.lambda_context
        time.sleep(random.Random(token).uniform(0, 0.004))
        request = app.current_request
        return {"same_request": request is first, "same_context": app.lambda_context is context,
                "path": request.uri_params["token"], "arg": token,
                "header": request.headers.get("x-token"),
                "query": (request.query_params or {}).get("t"),
                "body": (request.raw_body or b"").decode()}
''') % PNG.hex()

ENTRY_PY = textwrap.dedent('''
    """WSGI entry for the test app: gunicorn serves `shim_entry:application`."""
    import json
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

    from app import app  # noqa: E402
    from chalice_wsgi import ChaliceWSGIAdapter  # noqa: E402


    def reject(method, headers, status, message):
        body = json.dumps({"rejected": status, "method": method, "message": message,
                           "request_id": headers.get("x-request-id")}).encode()
        return status, {"Content-Type": "application/json", "X-Rejected-By": "hook"}, body


    application = ChaliceWSGIAdapter(app, max_body_bytes=%d, on_reject=reject)
''') % LIMIT

CHALICE_CONFIG = {"version": "2.0", "app_name": "wsgi-adapter-it",
                  "stages": {"dev": {"api_gateway_stage": "api"}}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}:\n"
                               f"{log.read_text(errors='replace')}")
        try:
            if _request(port, "GET", "/ping").status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"not up on port {port} after {timeout}s:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass(frozen=True)
class Servers:
    gunicorn: int
    chalice_local: int


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    project = tmp_path_factory.mktemp("shim-project")
    (project / "app.py").write_text(APP_PY)
    (project / "shim_entry.py").write_text(ENTRY_PY)
    (project / ".chalice").mkdir()
    (project / ".chalice" / "config.json").write_text(json.dumps(CHALICE_CONFIG))
    env = {**os.environ, "PYTHONPATH": str(API_DIR), "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    gunicorn_port, local_port = _free_port(), _free_port()
    gunicorn_log, local_log = project / "gunicorn.log", project / "chalice-local.log"
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
         "--threads", str(THREADS), "--bind", f"127.0.0.1:{gunicorn_port}",
         "--chdir", str(project), "--no-control-socket", "--worker-tmp-dir", str(project),
         "--graceful-timeout", "2", "--keep-alive", "5", "shim_entry:application"],
        cwd=project, env=env, stdout=gunicorn_log.open("wb"), stderr=subprocess.STDOUT)
    local = subprocess.Popen(
        [str(BIN_DIR / "chalice"), "--project-dir", str(project), "local",
         "--host", "127.0.0.1", "--port", str(local_port), "--no-autoreload"],
        cwd=project, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=local_log.open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait_until_up(gunicorn_port, gunicorn, gunicorn_log)
        _wait_until_up(local_port, local, local_log)
        yield Servers(gunicorn_port, local_port)
    finally:
        _stop(gunicorn)
        _stop(local)


@pytest.fixture(scope="module")
def port(servers) -> int:
    return servers.gunicorn


# --- a small HTTP client that can send exactly what a test needs ------------------------------

@dataclass
class Reply:
    status: int
    reason: str
    headers: Message
    body: bytes

    def json(self):
        return json.loads(self.body)


def _send(conn: http.client.HTTPConnection, method: str, target: str,
          headers: Iterable[tuple[str, str]] = (), body: bytes | None = None,
          chunks: Iterable[bytes] | None = None) -> Reply:
    conn.putrequest(method, target, skip_accept_encoding=True)
    for name, value in headers:  # repeated names are sent repeatedly
        conn.putheader(name, value)
    if chunks is not None:
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for chunk in chunks:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    elif body is not None:
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
    else:
        conn.endheaders()
    response = conn.getresponse()
    return Reply(response.status, response.reason, response.headers, response.read())


def _request(port: int, method: str, target: str, headers: Iterable[tuple[str, str]] = (),
             body: bytes | None = None, chunks: Iterable[bytes] | None = None) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        return _send(conn, method, target, headers, body, chunks)
    finally:
        conn.close()


# --- bodies, headers, query strings ----------------------------------------------------------

@pytest.mark.parametrize("content_type", [
    "application/octet-stream", "image/png", "text/plain", "application/json",
    "multipart/form-data; boundary=--boundary", None])
@pytest.mark.parametrize("body", [ALL_BYTES, CRLF_NULS, ALL_BYTES * 100],
                         ids=["all-256-bytes", "crlf-and-nuls", "25KiB"])
def test_request_body_arrives_byte_exact(port, body, content_type):
    headers = [("Content-Type", content_type)] if content_type else []
    reply = _request(port, "POST", "/echo", headers, body)
    assert reply.status == 200, reply.body
    assert bytes.fromhex(reply.json()["hex"]) == body
    assert reply.json()["content_type"] == content_type


def test_binary_response_is_byte_exact(port):
    reply = _request(port, "GET", "/png", [("Accept", "image/png")])
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.body == PNG


def test_multi_value_query_string(port):
    reply = _request(port, "GET", "/query?a=1&a=2&b=caf%C3%A9&a=x+y")
    assert reply.json()["params"] == {"a": ["1", "2", "x y"], "b": ["café"]}


def test_repeated_request_headers(port):
    reply = _request(port, "GET", "/headers", [("X-Rep", "one"), ("X-Rep", "two")])
    assert [v.strip() for v in reply.json()["x-rep"].split(",")] == ["one", "two"]


def test_multi_value_response_headers(port):
    reply = _request(port, "GET", "/cookies")
    assert reply.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]


@pytest.mark.parametrize(("method", "code", "reason"), [
    ("POST", 201, "Created"), ("GET", 204, "No Content"), ("POST", 409, "Conflict"),
    ("GET", 404, "Not Found"), ("GET", 503, "Service Unavailable")])
def test_status_codes(port, method, code, reason):
    reply = _request(port, method, f"/status/{code}")
    assert (reply.status, reply.reason) == (code, reason)
    assert reply.body == (b"" if code == 204 else json.dumps({"status": code}).encode()
                          .replace(b" ", b""))
    assert "X-Rejected-By" not in reply.headers
    if code == 204:  # the adapter sends Content-Length: 0; gunicorn drops it (RFC 9110 8.6)
        assert "Content-Length" not in reply.headers


def test_cors(port):
    reply = _request(port, "GET", "/cors", [("Origin", "https://o.example")])
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    preflight = _request(port, "OPTIONS", "/cors", [
        ("Origin", "https://o.example"), ("Access-Control-Request-Method", "POST")])
    assert preflight.status == 200 and preflight.body == b""
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert set(preflight.headers["Access-Control-Allow-Methods"].split(",")) == {
        "GET", "POST", "OPTIONS"}


@pytest.mark.parametrize(("target", "expected"), [
    ("/items/a%20b", "a b"), ("/items/caf%C3%A9", "café"), ("/items/%E2%9C%93", "✓"),
    ("/items/100%25", "100%"), ("/items/%7Eu", "~u")])
def test_path_parameters(port, target, expected):
    reply = _request(port, "GET", target)
    assert reply.status == 200, reply.body
    assert reply.json() == {"name": expected}


def test_unknown_route_goes_to_the_hook(port):
    reply = _request(port, "GET", "/nope?x=1", [("X-Request-ID", "rid-7")])
    assert reply.status == 404
    assert reply.headers["X-Rejected-By"] == "hook"
    assert reply.json()["rejected"] == 404
    assert reply.json()["request_id"] == "rid-7"


def test_wrong_method_is_chalices_405(port):
    reply = _request(port, "DELETE", "/items/x")
    assert reply.status == 405
    assert reply.json()["Code"] == "MethodNotAllowedError"
    assert "X-Rejected-By" not in reply.headers


# --- body limits -----------------------------------------------------------------------------

def test_content_length_over_the_limit_is_refused_before_the_body_is_sent(port):
    # Only the headers go out: a 413 can only come back if the server did not wait for the body.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (LIMIT * 100))
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 413
        assert response.getheader("X-Rejected-By") == "hook"
        assert json.loads(response.read())["rejected"] == 413


def _pieces(data: bytes, size: int = 1000) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_chunked_body_over_the_limit_is_413(port):
    reply = _request(port, "POST", "/echo", [("Content-Type", "application/octet-stream"),
                                             ("Connection", "close")],
                     chunks=_pieces(b"x" * (LIMIT + 1)))
    assert reply.status == 413
    assert reply.headers["X-Rejected-By"] == "hook"


@pytest.mark.parametrize("size", [1, 1000, LIMIT])
def test_chunked_body_within_the_limit_is_delivered_byte_exact(port, size):
    body = ((ALL_BYTES + CRLF_NULS) * (size // 256 + 1))[:size]
    reply = _request(port, "POST", "/echo", [("Content-Type", "application/octet-stream")],
                     chunks=_pieces(body, 777))
    assert reply.status == 200, reply.body
    assert bytes.fromhex(reply.json()["hex"]) == body


def test_invalid_content_length_is_400(port):
    # gunicorn's parser already refuses it; either way the client gets a 400.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Length: abc\r\nConnection: close\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 400


# --- thread isolation ------------------------------------------------------------------------

def test_current_request_is_isolated_between_gunicorn_threads(port):
    clients, per_client = 2 * THREADS, 50
    barrier = threading.Barrier(clients, timeout=10)

    def client(n: int) -> list[str]:
        failures = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # kept alive
        try:
            barrier.wait()
            for i in range(per_client):
                token = f"c{n}-{i}-{random.Random(n * 1000 + i).randrange(10**6)}"
                reply = _send(conn, "POST", f"/whoami/{token}?t={token}",
                              [("X-Token", token), ("Content-Type", "text/plain")],
                              token.encode())
                expected = {"same_request": True, "same_context": True, "path": token,
                            "arg": token, "header": token, "query": token, "body": token}
                if reply.status != 200 or reply.json() != expected:
                    failures.append(f"{token}: {reply.status} {reply.body[:200]!r}")
        finally:
            conn.close()
        return failures

    with ThreadPoolExecutor(max_workers=clients) as pool:
        failures = [f for future in [pool.submit(client, n) for n in range(clients)]
                    for f in future.result()]
    assert failures == [], failures[:5]


# --- the same app.py under `chalice local` ---------------------------------------------------

_HOP_OR_SERVER = {"connection", "keep-alive", "transfer-encoding", "date", "server",
                  # Compared by the unit tests: the adapter sends none when the app set none.
                  "content-type"}


def _app_headers(reply: Reply) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in reply.headers.items():
        if name.lower() not in _HOP_OR_SERVER:
            out.setdefault(name.lower(), []).append(value)
    return out


PARITY = [
    ("GET", "/ping", [], None),
    ("GET", "/query?a=1&a=2&b=", [], None),
    ("GET", "/cookies", [], None),
    ("POST", "/status/201", [], None),
    ("POST", "/status/409", [], None),
    ("GET", "/cors", [("Origin", "https://o.example")], None),
    ("OPTIONS", "/cors", [("Origin", "https://o.example"),
                          ("Access-Control-Request-Method", "POST")], None),
    ("DELETE", "/items/x", [], None),
    ("GET", "/items/plain", [], None),
    ("GET", "/png", [("Accept", "image/png")], None),
    ("POST", "/echo", [("Content-Type", "application/octet-stream")], ALL_BYTES + CRLF_NULS),
    ("POST", "/echo", [("Content-Type", "text/plain")], CRLF_NULS),
]


@pytest.mark.parametrize(("method", "target", "headers", "body"), PARITY,
                         ids=[f"{m} {t} {dict(h).get('Content-Type', '')}".strip()
                              for m, t, h, _ in PARITY])
def test_gunicorn_answers_like_chalice_local(servers, method, target, headers, body):
    ours = _request(servers.gunicorn, method, target, headers, body)
    local = _request(servers.chalice_local, method, target, headers, body)
    assert (ours.status, ours.body) == (local.status, local.body)
    assert _app_headers(ours) == _app_headers(local)
    if "Content-Type" in ours.headers:
        assert ours.headers["Content-Type"] == local.headers["Content-Type"]
