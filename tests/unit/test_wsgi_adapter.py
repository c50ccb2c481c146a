"""ChaliceWSGIAdapter, called in-process as a WSGI callable against throwaway Chalice apps.

The environs are built the way a PEP 3333 server builds them: PATH_INFO percent-decoded
and carried as latin-1 text, QUERY_STRING raw, repeated request headers joined with ","
(as gunicorn does), CONTENT_TYPE / CONTENT_LENGTH without the HTTP_ prefix.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest
from chalice import Blueprint, Chalice, CORSConfig, Response
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException
from chalice.test import Client

from chalice_wsgi import ChaliceWSGIAdapter

pytestmark = pytest.mark.timeout(60)

LIMIT = 4096
ALL_BYTES = bytes(range(256))
CRLF_NULS = b"first\r\nsecond\r\n\x00\x00middle\x00\r\n\r\n--boundary\x00\r\n"
PNG = b"\x89PNG\r\n\x1a\n" + ALL_BYTES + CRLF_NULS
CORS_CUSTOM = CORSConfig(allow_origin="https://app.example", allow_headers=["X-Special"],
                         max_age=600, expose_headers=["X-Exposed"], allow_credentials=True)


def make_app() -> Chalice:
    """A fresh test app; a new instance per use, since the adapter re-classes the app."""
    app = Chalice(app_name="wsgi-adapter-unit")
    blueprint = Blueprint(__name__)

    @app.middleware("http")
    def middleware(request, get_response):
        response = get_response(request)
        token = request.headers.get("x-token")
        if token is not None:
            # Read after the view ran (and slept): it must still be this request.
            response.headers["X-Middleware-Saw"] = app.current_request.headers.get("x-token")
        return response

    @app.route("/")
    def root():
        return {"root": True}

    @app.route("/ping")
    def ping():
        return {"ok": True}

    @app.route("/echo", methods=["POST", "PUT"], content_types=["*/*"])
    def echo():
        request = app.current_request
        return {"hex": (request.raw_body or b"").hex(),
                "content_type": request.headers.get("content-type"),
                "content_length": request.headers.get("content-length")}

    @app.route("/echo-binary", methods=["POST"], content_types=["*/*"])
    def echo_binary():
        return Response(body=app.current_request.raw_body or b"",
                        headers={"Content-Type": "application/octet-stream"})

    @app.route("/png")
    def png():
        return Response(body=PNG, headers={"Content-Type": "image/png"})

    @app.route("/text")
    def text():
        return Response(body="héllo ✓", headers={"Content-Type": "text/plain; charset=utf-8"})

    @app.route("/query")
    def query():
        params = app.current_request.query_params
        return {"params": None if params is None else {k: params.getlist(k) for k in params}}

    @app.route("/headers")
    def headers():
        request_headers = app.current_request.headers
        return {"x-rep": request_headers.get("x-rep"), "x-one": request_headers.get("x-one"),
                "names": sorted(request_headers.keys())}

    @app.route("/cookies")
    def cookies():
        return Response(body={"ok": True}, headers={
            "Content-Type": "application/json", "X-Single": "one",
            "Set-Cookie": ["a=1; Path=/", "b=2; Path=/; HttpOnly"]})

    @app.route("/status/{code}", methods=["GET", "POST", "PUT"])
    def status(code):
        code = int(code)
        if code in (204, 304):
            return Response(body="", status_code=code)
        return Response(body={"status": code}, status_code=code,
                        headers={"Content-Type": "application/json"})

    @app.route("/cors", methods=["GET", "POST"], cors=True)
    def cors():
        return {"cors": True}

    @app.route("/cors-custom", methods=["GET", "PUT"], cors=CORS_CUSTOM)
    def cors_custom():
        return {"cors": "custom"}

    @app.route("/items/{name}")
    def item(name):
        return {"name": name}

    @app.route("/users/{user}/posts/{post}")
    def user_post(user, post):
        return {"user": user, "post": post}

    @app.route("/whoami/{token}", methods=["GET", "POST"], content_types=["*/*"])
    def whoami(token):
        first, context = app.current_request, app.lambda_context
        # A few ms, different per request but the same on every run, to let threads interleave.
        time.sleep(random.Random(token).uniform(0, 0.004))
        request = app.current_request
        return {"same_request": request is first, "same_context": app.lambda_context is context,
                "request_id": app.lambda_context.aws_request_id,
                "path": request.uri_params["token"], "arg": token,
                "header": request.headers.get("x-token"),
                "query": (request.query_params or {}).get("t"),
                "body": (request.raw_body or b"").decode()}

    @blueprint.route("/bp/whoami/{token}")
    def blueprint_whoami(token):
        first = blueprint.current_request
        time.sleep(random.Random(token).uniform(0, 0.004))
        request = blueprint.current_request
        return {"same_request": request is first, "path": request.uri_params["token"],
                "arg": token, "header": request.headers.get("x-token"),
                "query": (request.query_params or {}).get("t")}

    app.register_blueprint(blueprint)
    return app


# --- calling the adapter the way a WSGI server does -----------------------------------------

@dataclass
class Result:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def json(self):
        return json.loads(self.body)


class UnreadableInput:
    """A wsgi.input that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the adapter read a body it should not have read")

    readline = readlines = read

    def __iter__(self):
        raise AssertionError("the adapter iterated a body it should not have read")


class EndlessInput:
    """An endless (chunked) body: counts what the adapter pulled out of it."""

    def __init__(self) -> None:
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("unbounded read() of an endless body")
        size = min(size, 1 << 20)
        self.consumed += size
        return b"x" * size


class TrickleInput:
    """A (chunked) body handed over a few bytes per read(), as a slow client would."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data, self._step, self._pos = data, step, 0

    def read(self, size: int = -1) -> bytes:
        n = self._step if size is None or size < 0 else min(size, self._step)
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


def make_environ(method: str = "GET", target: str = "/",
                 headers: Iterable[tuple[str, str]] = (), body: bytes | None = None, *,
                 content_length: str | None | bool = True, stream=None) -> dict:
    """target is what the client puts on the request line (percent-encoded path + query)."""
    environ: dict = {}
    setup_testing_defaults(environ)
    path, _, query = target.partition("?")
    environ["REQUEST_METHOD"] = method
    environ["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1")
    environ["QUERY_STRING"] = query
    given: dict[str, str] = {}
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        given[key] = f"{given[key]},{value}" if key in given else value
    environ.update(given)
    if body is not None:
        environ["wsgi.input"] = io.BytesIO(body)
        if content_length is True:
            environ["CONTENT_LENGTH"] = str(len(body))
    if isinstance(content_length, str):
        environ["CONTENT_LENGTH"] = content_length
    if stream is not None:
        environ["wsgi.input"] = stream
    return environ


def call(application, environ: dict) -> Result:
    calls = []

    def start_response(status, response_headers, exc_info=None):
        calls.append((status, response_headers))
        return lambda data: pytest.fail("the write() callable is not expected")

    iterable = application(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        if hasattr(iterable, "close"):
            iterable.close()
    assert len(calls) == 1, calls
    status_line, response_headers = calls[0]
    code, _, reason = status_line.partition(" ")
    for name, value in response_headers:  # PEP 3333: native, latin-1 strings
        assert type(name) is str and type(value) is str, (name, value)
        value.encode("latin-1")
    result = Result(int(code), reason, list(response_headers), body)
    # No Content-Length where a body is forbidden (RFC 9110: 1xx, 204, 304).
    bodiless = result.status < 200 or result.status in (204, 304)
    assert result.all("Content-Length") == ([] if bodiless else [str(len(body))])
    return result


def request(application, method: str = "GET", target: str = "/",
            headers: Iterable[tuple[str, str]] = (), body: bytes | None = None, **kwargs) -> Result:
    return call(application, make_environ(method, target, headers, body, **kwargs))


class RecordingHook:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], int, str]] = []

    def __call__(self, method, headers, status, message):
        self.calls.append((method, dict(headers), status, message))
        body = json.dumps({"rejected": status, "message": message}).encode()
        return status, {"Content-Type": "application/json", "X-Rejected-By": "hook"}, body


@pytest.fixture
def app() -> Chalice:
    return make_app()


@pytest.fixture
def hook() -> RecordingHook:
    return RecordingHook()


@pytest.fixture
def adapter(app, hook) -> ChaliceWSGIAdapter:
    return ChaliceWSGIAdapter(app, max_body_bytes=LIMIT, on_reject=hook)


# --- bodies -----------------------------------------------------------------------------------

BODIES = {
    "all-256-bytes": ALL_BYTES,
    "crlf-and-nuls": CRLF_NULS,
    "invalid-utf8": b"\xff\xfe\xc3\x28\x80",
    "all-bytes-x8": ALL_BYTES * 8,
}
CONTENT_TYPES = [
    "application/octet-stream",          # in Chalice's binary_types: base64 through the event
    "image/png",                         # ditto
    "text/plain",
    "text/plain; charset=utf-8",
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=--boundary",
    None,                                # no Content-Type at all
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
def test_request_body_arrives_byte_exact_for_any_content_type(adapter, body, content_type):
    headers = [("Content-Type", content_type)] if content_type else []
    result = request(adapter, "POST", "/echo", headers, body)
    assert result.status == 200, result.body
    assert bytes.fromhex(result.json()["hex"]) == body
    assert result.json()["content_type"] == content_type
    assert result.json()["content_length"] == str(len(body))


def test_binary_round_trip_both_ways(adapter):
    result = request(adapter, "POST", "/echo-binary",
                     [("Content-Type", "application/octet-stream"),
                      ("Accept", "application/octet-stream")], ALL_BYTES + CRLF_NULS)
    assert result.status == 200, result.body
    assert result.body == ALL_BYTES + CRLF_NULS
    assert result.header("Content-Type") == "application/octet-stream"


def test_binary_response_is_byte_exact(adapter):
    result = request(adapter, "GET", "/png", [("Accept", "image/png")])
    assert result.status == 200
    assert result.header("Content-Type") == "image/png"
    assert result.body == PNG
    assert result.header("Content-Length") == str(len(PNG))


def test_binary_response_without_matching_accept_is_chalices_400(adapter):
    # Chalice (and API Gateway) refuse a binary response the client did not Accept.
    result = request(adapter, "GET", "/png")
    assert result.status == 400
    assert result.json()["Code"] == "BadRequest"


def test_text_response_is_utf8(adapter):
    result = request(adapter, "GET", "/text")
    assert result.body == "héllo ✓".encode()
    assert result.header("Content-Type") == "text/plain; charset=utf-8"


def test_empty_and_absent_bodies(adapter):
    assert request(adapter, "POST", "/echo", body=b"").json()["hex"] == ""
    # No Content-Length and not chunked: there is no body, and wsgi.input is left alone
    # (reading it could block on a keep-alive connection).
    result = request(adapter, "POST", "/echo", content_length=None, stream=UnreadableInput())
    assert result.status == 200 and result.json()["hex"] == ""
    assert request(adapter, "GET", "/ping", stream=UnreadableInput()).status == 200


# --- query strings and headers ---------------------------------------------------------------

@pytest.mark.parametrize(("query", "expected"), [
    ("a=1&a=2", {"a": ["1", "2"]}),
    ("a=1&b=x&a=2&a=3", {"a": ["1", "2", "3"], "b": ["x"]}),
    ("a=&a=2", {"a": ["", "2"]}),
    ("q=caf%C3%A9&q=x+y&q=1%262%3D3", {"q": ["café", "x y", "1&2=3"]}),
    ("", None),
])
def test_multi_value_query_strings_reach_getlist(adapter, query, expected):
    result = request(adapter, "GET", f"/query?{query}" if query else "/query")
    assert result.status == 200
    assert result.json()["params"] == expected


def test_repeated_request_headers_are_kept(adapter):
    result = request(adapter, "GET", "/headers",
                     [("X-Rep", "one"), ("X-Rep", "two"), ("X-One", "single")])
    assert result.json()["x-rep"] == "one,two"
    assert result.json()["x-one"] == "single"


def test_request_header_names_are_lower_cased_and_include_content_headers(adapter):
    result = request(adapter, "POST", "/echo", [("Content-Type", "text/plain"),
                                                ("X-Mixed-Case", "v")], b"abc")
    assert result.json()["content_type"] == "text/plain"
    names = request(adapter, "GET", "/headers", [("X-Mixed-Case", "v")]).json()["names"]
    assert "x-mixed-case" in names and "host" in names


def test_multi_value_response_headers_all_arrive(adapter):
    result = request(adapter, "GET", "/cookies")
    assert result.status == 200
    assert result.all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
    assert result.all("X-Single") == ["one"]


# --- status codes ----------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "reason"), [
    (200, "OK"), (201, "Created"), (202, "Accepted"), (204, "No Content"),
    (301, "Moved Permanently"), (304, "Not Modified"), (400, "Bad Request"),
    (404, "Not Found"), (409, "Conflict"), (418, "I'm a Teapot"), (429, "Too Many Requests"),
    (500, "Internal Server Error"), (503, "Service Unavailable"),
])
def test_status_codes_are_kept(adapter, hook, code, reason):
    for method in ("GET", "POST"):
        result = request(adapter, method, f"/status/{code}")
        assert (result.status, result.reason) == (code, reason)
        if code in (204, 304):
            assert result.body == b""
        else:
            assert result.json() == {"status": code}
    assert hook.calls == []  # a 404 from a matched route is the view's, not the hook's


def test_status_without_a_standard_phrase_still_has_a_reason(adapter):
    result = request(adapter, "GET", "/status/299")
    assert result.status == 299 and result.reason


# --- CORS ------------------------------------------------------------------------------------

def test_cors_route_gets_allow_origin(adapter):
    result = request(adapter, "GET", "/cors", [("Origin", "https://elsewhere.example")])
    assert result.status == 200
    assert result.header("Access-Control-Allow-Origin") == "*"
    assert "Content-Type" in result.header("Access-Control-Allow-Headers")


def test_cors_preflight_is_answered_like_chalice_local(adapter, hook):
    result = request(adapter, "OPTIONS", "/cors", [
        ("Origin", "https://elsewhere.example"), ("Access-Control-Request-Method", "POST")])
    assert result.status == 200
    assert result.body == b""
    assert result.header("Access-Control-Allow-Origin") == "*"
    assert set(result.header("Access-Control-Allow-Methods").split(",")) == {
        "GET", "POST", "OPTIONS"}
    assert hook.calls == []


def test_custom_cors_config_on_response_and_preflight(adapter):
    result = request(adapter, "PUT", "/cors-custom")
    assert result.header("Access-Control-Allow-Origin") == "https://app.example"
    assert result.header("Access-Control-Allow-Credentials") == "true"
    assert result.header("Access-Control-Expose-Headers") == "X-Exposed"
    preflight = request(adapter, "OPTIONS", "/cors-custom")
    assert preflight.status == 200
    assert preflight.header("Access-Control-Allow-Origin") == "https://app.example"
    assert preflight.header("Access-Control-Max-Age") == "600"
    assert "X-Special" in preflight.header("Access-Control-Allow-Headers")
    assert set(preflight.header("Access-Control-Allow-Methods").split(",")) == {
        "GET", "PUT", "OPTIONS"}


def test_options_on_a_route_without_cors_only_allows_options(adapter):
    result = request(adapter, "OPTIONS", "/ping")
    assert result.status == 200
    assert result.header("Access-Control-Allow-Methods") == "OPTIONS"
    assert result.header("Access-Control-Allow-Origin") is None


# --- routing: path parameters, unknown routes, wrong methods ---------------------------------

@pytest.mark.parametrize(("target", "expected"), [
    ("/items/plain", "plain"),
    ("/items/a%20b", "a b"),
    ("/items/caf%C3%A9", "café"),
    ("/items/%E2%9C%93%F0%9F%98%80", "✓😀"),
    ("/items/%7Euser", "~user"),
    ("/items/a+b", "a+b"),                # '+' is only a space in query strings
    ("/items/100%25", "100%"),
    ("/items/100%2541", "100%41"),        # decoded exactly once
    ("/items/x/", "x"),                   # API Gateway drops a trailing slash
    ("/items/%FF", "\ufffd"),             # not UTF-8: replaced, not a crash
    ("/items/a%3Fb", "a?b"),
    ("/items/a%23b", "a#b"),
    ("/items/a;b", "a;b"),
])
def test_path_parameters_are_decoded_text(adapter, target, expected):
    result = request(adapter, "GET", target)
    assert result.status == 200, result.body
    assert result.json() == {"name": expected}


def test_several_path_parameters(adapter):
    result = request(adapter, "GET", "/users/%C3%BCser%20one/posts/42")
    assert result.json() == {"user": "üser one", "post": "42"}


def test_root_route_and_empty_path_info(adapter):
    assert request(adapter, "GET", "/").json() == {"root": True}
    environ = make_environ("GET", "/")
    environ["PATH_INFO"] = ""
    assert call(adapter, environ).json() == {"root": True}


@pytest.mark.parametrize(("method", "target", "headers"), [
    ("GET", "/nope", []),
    ("GET", "/items/a/b", []),
    ("POST", "/nope/deeper?x=1", [("Content-Type", "text/plain")]),
    ("OPTIONS", "/nope", [("Origin", "https://x.example")]),
    # chalice.local answers 403 "Authorization header requires..." when one is present.
    ("GET", "/nope", [("Authorization", "Bearer abc")]),
    ("GET", "/caf%C3%A9", []),
])
def test_unknown_route_goes_to_the_hook_with_404(adapter, hook, method, target, headers):
    result = request(adapter, method, target, [*headers, ("X-Request-ID", "rid-1")])
    assert result.status == 404
    assert result.header("X-Rejected-By") == "hook"
    assert result.json()["rejected"] == 404
    assert len(hook.calls) == 1
    seen_method, seen_headers, status, message = hook.calls[0]
    assert (seen_method, status) == (method, 404)
    assert seen_headers["x-request-id"] == "rid-1"  # lower-cased names
    assert message


def test_default_hook_answers_unknown_routes_with_chalice_style_json_404():
    result = request(ChaliceWSGIAdapter(make_app()), "GET", "/nope")
    assert result.status == 404
    assert result.header("Content-Type") == "application/json"
    body = result.json()
    assert set(body) == {"Code", "Message"}
    assert body["Code"] == "NotFound"
    assert "/nope" in body["Message"]


@pytest.mark.parametrize("target", ['/no%22pe', "/no%5Cpe"])
def test_default_hook_body_is_valid_json_for_any_path(target):
    result = request(ChaliceWSGIAdapter(make_app()), "GET", target)
    assert result.status == 404
    assert result.json()["Code"] == "NotFound"


def test_wrong_method_on_a_known_route_is_chalices_405(adapter, hook):
    result = request(adapter, "DELETE", "/items/x")
    assert result.status == 405
    assert result.json()["Code"] == "MethodNotAllowedError"
    assert result.header("Allow") == "GET"
    assert hook.calls == []


# --- body limits -----------------------------------------------------------------------------

def test_content_length_over_the_limit_is_413_without_reading(adapter, hook):
    result = request(adapter, "POST", "/echo", [("Content-Type", "application/octet-stream")],
                     content_length=str(LIMIT + 1), stream=UnreadableInput())
    assert result.status == 413
    assert result.header("X-Rejected-By") == "hook"
    assert [(m, s) for m, _, s, _ in hook.calls] == [("POST", 413)]
    huge = request(adapter, "POST", "/nope", content_length=str(10**15), stream=UnreadableInput())
    assert huge.status == 413


def test_content_length_at_the_limit_is_delivered(adapter):
    body = (ALL_BYTES * (LIMIT // 256 + 1))[:LIMIT]
    result = request(adapter, "POST", "/echo", [("Content-Type", "application/octet-stream")],
                     body)
    assert result.status == 200
    assert bytes.fromhex(result.json()["hex"]) == body


def test_default_hook_413_shape():
    small = ChaliceWSGIAdapter(make_app(), max_body_bytes=10)
    result = request(small, "POST", "/echo", content_length="11", stream=UnreadableInput())
    assert result.status == 413
    assert result.json()["Code"] == "RequestEntityTooLarge"


CHUNKED = [("Transfer-Encoding", "chunked"), ("Content-Type", "application/octet-stream")]


def test_chunked_body_over_the_limit_is_413_and_reading_stops(adapter, hook):
    endless = EndlessInput()
    result = request(adapter, "POST", "/echo", CHUNKED, content_length=None, stream=endless)
    assert result.status == 413
    assert [s for _, _, s, _ in hook.calls] == [413]
    assert LIMIT < endless.consumed <= LIMIT + (1 << 20)  # bounded, not the whole stream


@pytest.mark.parametrize("size", [1, 7, LIMIT - 1, LIMIT])
def test_chunked_body_within_the_limit_is_delivered_byte_exact(adapter, size):
    body = (ALL_BYTES + CRLF_NULS) * (size // 256 + 1)
    body = body[:size]
    result = request(adapter, "POST", "/echo", CHUNKED, content_length=None,
                     stream=TrickleInput(body))
    assert result.status == 200, result.body
    assert bytes.fromhex(result.json()["hex"]) == body
    over = request(adapter, "POST", "/echo", CHUNKED, content_length=None,
                   stream=TrickleInput(body + b"!" * (LIMIT + 1 - size)))
    assert over.status == 413


def test_chunked_body_without_a_limit_crosses_read_chunks_intact():
    body = random.Random(7).randbytes(300_000)
    unlimited = ChaliceWSGIAdapter(make_app(), max_body_bytes=None)
    result = request(unlimited, "POST", "/echo", CHUNKED, content_length=None,
                     stream=io.BytesIO(body))
    assert result.status == 200
    assert bytes.fromhex(result.json()["hex"]) == body


@pytest.mark.parametrize("value", ["abc", "-1", "12abc", "1.5", "0x10", "1 2"])
def test_invalid_content_length_is_400_without_reading(adapter, hook, value):
    result = request(adapter, "POST", "/echo", content_length=value, stream=UnreadableInput())
    assert result.status == 400
    assert [s for _, _, s, _ in hook.calls] == [400]


def test_default_hook_400_shape():
    result = request(ChaliceWSGIAdapter(make_app()), "POST", "/echo", content_length="abc",
                     stream=UnreadableInput())
    assert result.status == 400
    assert result.json()["Code"] == "BadRequest"


# --- thread isolation ------------------------------------------------------------------------

def _expected_whoami(token: str) -> dict:
    return {"same_request": True, "same_context": True, "path": token, "arg": token,
            "header": token, "query": token, "body": token}


def test_current_request_is_isolated_between_threads(app, adapter):
    threads, per_thread = 32, 50
    barrier = threading.Barrier(threads, timeout=10)

    def worker(n: int) -> list[str]:
        barrier.wait()
        failures, request_ids = [], set()
        for i in range(per_thread):
            token = f"t{n}-{i}"
            if i % 5 == 4:  # a blueprint route now and then
                result = request(adapter, "GET", f"/bp/whoami/{token}?t={token}",
                                 [("X-Token", token)])
                expected = {"same_request": True, "path": token, "arg": token,
                            "header": token, "query": token}
                got = result.json()
            else:
                result = request(adapter, "POST", f"/whoami/{token}?t={token}",
                                 [("X-Token", token), ("Content-Type", "text/plain")],
                                 token.encode())
                expected, got = _expected_whoami(token), result.json()
                request_ids.add(got.pop("request_id"))
            if result.status != 200 or got != expected \
                    or result.header("X-Middleware-Saw") != token:
                failures.append(f"{token}: {result.status} {got} "
                                f"{result.header('X-Middleware-Saw')}")
        assert len(request_ids) == per_thread - per_thread // 5
        return failures

    with ThreadPoolExecutor(max_workers=threads) as pool:
        failures = [f for future in [pool.submit(worker, n) for n in range(threads)]
                    for f in future.result()]
    assert failures == [], failures[:5]
    assert app.current_request is None  # this thread never served a request


def _interleaving_app() -> tuple[Chalice, threading.Event]:
    app = Chalice(app_name="interleaving")
    a_inside, b_inside = threading.Event(), threading.Event()

    @app.route("/forced/{who}")
    def forced(who):
        if who == "a":
            a_inside.set()
            assert b_inside.wait(5)  # b's request starts (and finishes) meanwhile
        else:
            b_inside.set()
        return {"who": who, "seen": app.current_request.uri_params["who"]}

    return app, a_inside


def _run_interleaved(app, a_inside, handle) -> dict:
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(handle, "/forced/a")
        assert a_inside.wait(5)
        assert handle("/forced/b") == {"who": "b", "seen": "b"}
        return first.result(timeout=5)


def test_forced_interleaving_cannot_leak_the_other_request():
    app, a_inside = _interleaving_app()
    adapter = ChaliceWSGIAdapter(app)
    seen = _run_interleaved(app, a_inside, lambda target: request(adapter, "GET", target).json())
    assert seen == {"who": "a", "seen": "a"}


def test_forced_interleaving_does_leak_without_the_adapter():
    # The control: the same schedule on a bare Chalice app shows the harness detects leaks.
    app, a_inside = _interleaving_app()
    gateway = LocalGateway(app, Config.create(app_name=app.app_name))

    def handle(target):
        return json.loads(gateway.handle_request("GET", target, {}, None)["body"])

    assert _run_interleaved(app, a_inside, handle) == {"who": "a", "seen": "b"}


def test_wrapping_twice_is_harmless(app):
    first = ChaliceWSGIAdapter(app)
    second = ChaliceWSGIAdapter(app)
    assert [c.__name__ for c in type(app).__mro__].count("_PerThreadRequestState") == 1
    assert request(first, "GET", "/items/x").json() == request(second, "GET", "/items/x").json()


# --- same app, chalice local semantics -------------------------------------------------------

def _chalice_local(app, method, target, headers, body) -> tuple[int, dict, bytes]:
    """What `chalice local`'s request handler makes of LocalGateway's answer."""
    gateway = LocalGateway(app, Config.create(app_name=app.app_name))
    headers = {k.lower(): v for k, v in headers}
    if body is not None:
        headers["content-length"] = str(len(body))
    try:
        response = gateway.handle_request(method, target, headers, body or None)
    except LocalGatewayException as error:
        return error.CODE, dict(error.headers), error.body or b""
    merged = {**response["headers"], **response["multiValueHeaders"]}
    payload = response["body"]
    if response.get("isBase64Encoded"):
        payload = base64.b64decode(payload)
    elif isinstance(payload, str):
        payload = payload.encode()
    return response["statusCode"], merged, payload or b""


def _multimap(pairs) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        values = value if isinstance(value, list) else [value]
        out.setdefault(name.lower(), []).extend(str(v) for v in values)
    out.pop("content-length", None)
    # Compared on its own in test_response_without_content_type_defaults_to_json.
    out.pop("content-type", None)
    return out


PARITY_REQUESTS = [
    ("GET", "/ping", [], None),
    ("GET", "/query?a=1&a=2&b=", [], None),
    ("GET", "/headers", [("X-One", "1")], None),
    ("GET", "/cookies", [], None),
    ("GET", "/status/201", [], None),
    ("POST", "/status/409", [], None),
    ("GET", "/status/204", [], None),
    ("GET", "/cors", [("Origin", "https://o.example")], None),
    ("OPTIONS", "/cors", [("Origin", "https://o.example"),
                          ("Access-Control-Request-Method", "POST")], None),
    ("OPTIONS", "/cors-custom", [], None),
    ("OPTIONS", "/ping", [], None),
    ("DELETE", "/items/x", [], None),
    ("GET", "/items/plain", [], None),
    ("GET", "/users/u1/posts/p2", [], None),
    ("GET", "/png", [("Accept", "image/png")], None),
    ("GET", "/png", [], None),
    ("GET", "/text", [], None),
    ("POST", "/echo", [("Content-Type", "application/octet-stream")], ALL_BYTES + CRLF_NULS),
    ("POST", "/echo", [("Content-Type", "text/plain")], CRLF_NULS),
    ("POST", "/echo-binary", [("Content-Type", "application/octet-stream"),
                              ("Accept", "application/octet-stream")], ALL_BYTES),
    ("PUT", "/echo", [("Content-Type", "application/xml")], b"<x/>"),
    ("POST", "/ping", [("Content-Type", "application/json")], b"{}"),
]


@pytest.mark.parametrize(("method", "target", "headers", "body"), PARITY_REQUESTS,
                         ids=[f"{m} {t} {dict(h).get('Content-Type', '')}".strip()
                              for m, t, h, _ in PARITY_REQUESTS])
def test_adapter_answers_like_chalice_local(method, target, headers, body):
    headers = [*headers, ("Host", "localhost")]
    adapter = ChaliceWSGIAdapter(make_app(), max_body_bytes=LIMIT)
    ours = request(adapter, method, target, headers, body)
    status, local_headers, local_body = _chalice_local(make_app(), method, target, headers, body)
    assert ours.status == status
    assert ours.body == local_body
    assert _multimap(ours.headers) == _multimap(local_headers.items())


@pytest.mark.parametrize(("method", "target"), [
    ("GET", "/ping"), ("GET", "/items/x"), ("DELETE", "/items/x"), ("GET", "/png")])
def test_response_without_content_type_defaults_to_json(method, target):
    result = request(ChaliceWSGIAdapter(make_app()), method, target)
    assert result.body
    assert result.header("Content-Type") == "application/json"


def test_chalice_test_client_still_works_on_the_wrapped_app(app, adapter):
    client = Client(app)
    for method, target in [("GET", "/items/plain"), ("GET", "/query?a=1&a=2"),
                           ("POST", "/status/201"), ("DELETE", "/items/x")]:
        expected = client.http.request(method, target)
        ours = request(adapter, method, target)
        assert (ours.status, ours.body) == (expected.status_code, expected.body)


# --- PEP 3333 --------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "target", "headers", "body", "status"), [
    ("GET", "/cookies", [], None, 200),
    ("GET", "/png", [("Accept", "image/png")], None, 200),
    ("POST", "/echo-binary", [("Content-Type", "application/octet-stream"),
                              ("Accept", "application/octet-stream")], ALL_BYTES, 200),
    ("GET", "/nope", [], None, 404),
    ("POST", "/echo", [("Content-Type", "application/octet-stream")], b"x" * (LIMIT + 1), 413),
])
def test_passes_wsgiref_validator(adapter, method, target, headers, body, status):
    environ = make_environ(method, target, headers, body)
    assert call(validator(adapter), environ).status == status
