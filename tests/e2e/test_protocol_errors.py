"""Every answer keeps the documented shape, including the server's own refusals.

Requests the server refuses before the application sees them (an oversized request line or
header block, a malformed request line) get the API's JSON error with X-Request-ID. HEAD on a
GET route answers as GET without a body. OPTIONS and CORS preflight carry X-Request-ID and the
security headers and are counted like any other request. Raw sockets, so nothing in a client
library tidies the request up first.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

SECURITY_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, body


def _assert_error_shape(status, headers, body, expected_status):
    assert status == expected_status, (status, body[:200])
    assert headers["content-type"].startswith("application/json")
    assert headers.get("x-request-id")
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["request_id"] == headers["x-request-id"]
    assert len(error["message"]) < 300  # never an echo of the whole request
    return error


@pytest.mark.parametrize(("name", "request_bytes", "expected"), [
    ("9 KB URL", b"GET /" + b"a" * 9 * 1024 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("100 KB header", b"GET /users HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100 * 1024 + b"\r\n\r\n",
     431),
    ("malformed request line", b"GARBAGE\r\n\r\n", 400),
    ("unsupported transfer coding", b"POST /user HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("body over the limit", b"POST /user HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data;"
     b" boundary=x\r\nContent-Length: 999999999\r\n\r\n", 413),
])
def test_refusals_have_the_json_error_shape(live_server, name, request_bytes, expected):
    _assert_error_shape(*_raw(live_server, request_bytes), expected)


def test_head_answers_as_get_without_a_body(api):
    for path in ("/healthz", "/users", "/openapi.json"):
        got = api.get(f"{api.base_url}{path}", timeout=10)
        head = api.head(f"{api.base_url}{path}", timeout=10)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["Content-Type"] == got.headers["Content-Type"], path
        assert head.headers["Content-Length"] == got.headers["Content-Length"], path
        assert head.headers.get("X-Request-ID"), path


def test_options_and_cors_preflight_carry_request_id_and_security_headers(api):
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
    for headers in ({}, preflight):
        response = api.options(f"{api.base_url}/users", headers=headers, timeout=10)
        assert response.status_code < 500, response.text[:200]
        assert response.headers.get("X-Request-ID")
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (headers, name)


def test_options_requests_are_counted(api, start_server):
    before = _count(api, start_server, 'route="/users"', 'method="OPTIONS"')
    api.options(f"{api.base_url}/users", timeout=10)
    assert _count(api, start_server, 'route="/users"', 'method="OPTIONS"') == before + 1


def _count(api, start_server, *labels: str) -> float:
    text = requests.get(start_server.metrics_url(api.base_url), timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("users_api_requests_total{") and all(x in line for x in labels))
